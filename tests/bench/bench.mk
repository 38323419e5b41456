# tests/bench: the helper that times one run and reads its peak RSS
# (tests/bench/run.sh, called by `make bench`, uses it).
BENCH_SPAWN := $(BUILD)/bench/spawn
ALL_TARGETS += $(BENCH_SPAWN)

$(BENCH_SPAWN): $(BUILD)/tests/bench/spawn.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^
