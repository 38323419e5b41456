# jailrun: runs agentvm-vmm in the jail (host/jail.c) for tests/e2e/jail_*.t
# and tests/e2e/quota_vmm_*.t.
JAILRUN := $(BUILD)/tests/e2e/jail/jailrun

$(JAILRUN): $(BUILD)/tests/e2e/jail/jailrun.o $(LIBHOST) $(LIBAGENT) $(LIBVMM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

ALL_TARGETS += $(JAILRUN)
