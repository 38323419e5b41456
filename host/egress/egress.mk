# host/egress: the egress proxy is part of libhost.a (by convention). This
# adds its stand-alone driver for tests and benchmarks,
# tests/e2e/egress/egress_proxyd.c -> $(BUILD)/tests/e2e/egress/egress-proxyd
EGRESS_PROXYD := $(BUILD)/tests/e2e/egress/egress-proxyd
ALL_TARGETS += $(EGRESS_PROXYD)

$(EGRESS_PROXYD): $(BUILD)/tests/e2e/egress/egress_proxyd.o $(LIBHOST) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
