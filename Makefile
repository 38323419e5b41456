# agentvm — top-level build.
#
#   make demo        set up a fresh machine, build everything, show it working
#   make test        set up, build, and run every test tier
#   make help        every target
#
# Programs are built from the source folders by convention:
#   common/*.c                        -> libcommon.a
#   vmm/**.c (not main.c)             -> libvmm.a,   vmm/main.c        -> agentvm-vmm
#   guest-agent/**.c (not main.c)     -> libagent.a, guest-agent/main.c -> agentvm-agent (static)
#   host/**.c (not the mains)         -> libhost.a,  host/cli/main.c    -> agentvm
#                                                    host/agentvmd.c    -> agentvmd
#   tests/unit/*.c                    -> one TAP test binary each, linked with every library
#   tests/fuzz/*.c                    -> one libFuzzer target each (clang)
# Fragments named */*.mk and */*/*.mk add what does not fit that convention.

SHELL      := /bin/bash
.DEFAULT_GOAL := all

SANITIZE   ?=
CC         ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
CLANG      ?= clang
ifeq ($(SANITIZE),)
BUILD      ?= build
else
BUILD      ?= build-san
endif
export AGENTVM_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/agentvm
TOP        := $(CURDIR)

WARNINGS   := -Wall -Wextra -Wshadow -Wmissing-prototypes -Werror
CPPFLAGS   += -D_GNU_SOURCE -I. -MMD -MP
CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 $(WARNINGS) -fno-strict-aliasing -pthread
LDFLAGS    += -pthread
ifneq ($(SANITIZE),)
CFLAGS     += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif
LDLIBS_ALL := -ljson-c -lfdt -lseccomp -lsqlite3 -lcrypto -lutil -lm

# --- sources by convention --------------------------------------------------
rwildcard   = $(foreach d,$(wildcard $(1:=/*)),$(call rwildcard,$d,$2) $(filter $(subst *,%,$2),$d))
objs        = $(patsubst %.c,$(BUILD)/%.o,$(1))

COMMON_SRCS := $(wildcard common/*.c)
VMM_SRCS    := $(filter-out vmm/main.c,$(call rwildcard,vmm,*.c))
AGENT_SRCS  := $(filter-out guest-agent/main.c,$(call rwildcard,guest-agent,*.c))
HOST_MAINS  := host/cli/main.c host/agentvmd.c
HOST_SRCS   := $(filter-out $(HOST_MAINS),$(call rwildcard,host,*.c))
UNIT_SRCS   := $(wildcard tests/unit/*.c)
FUZZ_SRCS   := $(wildcard tests/fuzz/*.c)

LIBCOMMON   := $(BUILD)/libcommon.a
LIBVMM      := $(BUILD)/libvmm.a
LIBAGENT    := $(BUILD)/libagent.a
LIBHOST     := $(BUILD)/libhost.a
LIBS        := $(LIBHOST) $(LIBAGENT) $(LIBVMM) $(LIBCOMMON)

BIN_VMM     := $(BUILD)/agentvm-vmm
BIN_AGENT   := $(BUILD)/agentvm-agent
BIN_CLI     := $(BUILD)/agentvm
BIN_DAEMON  := $(BUILD)/agentvmd
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))

BINS        := $(BIN_VMM) $(if $(wildcard guest-agent/main.c),$(BIN_AGENT)) \
               $(if $(wildcard host/cli/main.c),$(BIN_CLI)) \
               $(if $(wildcard host/agentvmd.c),$(BIN_DAEMON))

# Test tiers. Fragments append to these.
TEST_UNIT   := $(UNIT_BINS)
TEST_GUESTS := $(wildcard tests/guests/*.t)
TEST_BOOT   := $(wildcard tests/boot/*.t)
TEST_E2E    := $(wildcard tests/e2e/*.t)
ALL_TARGETS := $(BINS)

include $(sort $(wildcard */*.mk */*/*.mk))

# --- rules --------------------------------------------------------------------
.PHONY: all guests deps demo test test-unit test-guests test-boot test-e2e test-fuzz bench \
        fmt fmt-check clean help kernel

all: $(ALL_TARGETS)

# Synthetic test guests; tests/guests/guests.mk adds to it.
guests::

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(call objs,$(COMMON_SRCS))
$(LIBVMM): $(call objs,$(VMM_SRCS))
$(LIBAGENT): $(call objs,$(AGENT_SRCS))
$(LIBHOST): $(call objs,$(HOST_SRCS))
$(LIBS):
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^ $(if $^,,$(BUILD)/.empty.o)

$(BUILD)/.empty.o:
	@mkdir -p $(@D)
	echo 'extern int agentvm_empty_unit_;' | $(CC) -x c -c -o $@ -

$(LIBS): | $(BUILD)/.empty.o

$(BIN_VMM): $(BUILD)/vmm/main.o $(LIBVMM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# The agent runs as PID 1 of a guest image with no libraries: link it
# statically (sanitizer runtimes cannot be, so those builds stay dynamic).
AGENT_STATIC := $(if $(SANITIZE),,-static)
$(BIN_AGENT): $(BUILD)/guest-agent/main.o $(LIBAGENT) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $(AGENT_STATIC) -o $@ $^ -ljson-c -lutil

$(BIN_CLI): $(BUILD)/host/cli/main.o $(LIBHOST) $(LIBAGENT) $(LIBVMM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BIN_DAEMON): $(BUILD)/host/agentvmd.o $(LIBHOST) $(LIBAGENT) $(LIBVMM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# --- fuzz targets: clang + libFuzzer, every library source rebuilt for it -----
FUZZ_BUILD  := $(BUILD)/fuzz
FUZZ_CFLAGS := -O1 -g -std=gnu11 -fno-strict-aliasing -pthread -D_GNU_SOURCE -DAGENTVM_FUZZ -I. \
               -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_LIBSRC := $(COMMON_SRCS) $(VMM_SRCS) $(AGENT_SRCS) $(HOST_SRCS)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/libfuzzlib.a: $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIBSRC))
	rm -f $@
	$(AR) rcs $@ $^
$(FUZZ_BUILD)/%: $(FUZZ_BUILD)/obj/tests/fuzz/%.o $(FUZZ_BUILD)/libfuzzlib.a
	$(CLANG) -fsanitize=fuzzer,address,undefined -pthread -o $@ $^ $(LDLIBS_ALL)

# --- set-up -----------------------------------------------------------------
deps:
	@scripts/deps.sh

kernel: deps
	@images/kernel/build.sh >/dev/null

# --- tests --------------------------------------------------------------------
PROVE := prove --nocolor
export BUILD_DIR := $(abspath $(BUILD))

# The build runs in parallel; the test tiers one after another.
NPROC := $(shell nproc 2>/dev/null || echo 2)
test: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all $(UNIT_BINS) $(FUZZ_BINS) guests
	@$(MAKE) --no-print-directory -k test-unit test-guests test-e2e test-fuzz test-boot

test-unit: $(UNIT_BINS)
	$(PROVE) $(TEST_UNIT)

test-guests: all guests
	$(if $(TEST_GUESTS),$(PROVE) $(TEST_GUESTS),@echo "no guest tests")

test-boot: all guests kernel
	$(if $(TEST_BOOT),$(PROVE) -v -j2 $(TEST_BOOT),@echo "no boot tests")

test-e2e: all
	$(if $(TEST_E2E),$(PROVE) $(TEST_E2E),@echo "no e2e tests")

FUZZ_SECONDS ?= 10
test-fuzz: $(FUZZ_BINS)
	$(if $(FUZZ_BINS),FUZZ_SECONDS=$(FUZZ_SECONDS) $(PROVE) tests/fuzz/run.t,@echo "no fuzz targets")

# Every benchmark script prints `bench: <name> ours=<n> peer=<n> unit=<u>` lines.
BENCH_SCRIPTS = tests/bench/run.sh $(filter-out tests/bench/run.sh,$(wildcard tests/bench/*_bench.sh))
bench: deps all guests kernel
	@rc=0; for s in $(BENCH_SCRIPTS); do $$s || rc=1; done; exit $$rc

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all guests
	@$(MAKE) --no-print-directory kernel
	@scripts/demo.sh

# --- style --------------------------------------------------------------------
FMT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(FMT_SRCS)

fmt-check:
	clang-format --dry-run -Werror $(FMT_SRCS)

clean:
	rm -rf build build-san

help:
	@echo "make demo        install what is missing, build, and show agentvm working"
	@echo "make test        install what is missing, build, and run every test tier"
	@echo "make deps        install the Debian packages the project needs (apt-get)"
	@echo "make all         build the programs into $(BUILD)/"
	@echo "make kernel      build (or fetch from cache) the guest kernel"
	@echo "make test-unit   unit tests (TAP, under prove)"
	@echo "make test-guests synthetic test guests in agentvm-vmm"
	@echo "make test-boot   the real guest kernel booting in agentvm-vmm (slow here)"
	@echo "make test-e2e    end-to-end tests"
	@echo "make test-fuzz   every fuzz target for FUZZ_SECONDS (default $(FUZZ_SECONDS)) each"
	@echo "make bench       benchmarks, ours beside the peer's"
	@echo "make fmt | fmt-check   clang-format the sources | check them"
	@echo "SANITIZE=address,undefined builds into build-san/ with sanitizers"

# Keep objects made through pattern-rule chains (the test binaries' own);
# a plain .SECONDARY would also let a missing library object count as up to date.
.PRECIOUS: $(BUILD)/%.o $(FUZZ_BUILD)/obj/%.o

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
