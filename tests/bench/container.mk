# tests/bench/exec_rtt: exec round trips in one container sandbox
# (tests/bench/container_bench.sh, called by `make bench`).
BENCH_EXEC_RTT := $(BUILD)/bench/exec_rtt
ALL_TARGETS += $(BENCH_EXEC_RTT)

$(BENCH_EXEC_RTT): $(BUILD)/tests/bench/exec_rtt.o $(LIBHOST) $(LIBAGENT) $(LIBVMM) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
