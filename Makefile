# azsim — one non-recursive Makefile: build, run, test, asan, format.
#
#   make run     install missing Debian packages, build, start azsim (data in ./.azsim)
#   make test    the same set-up plus test-only dependencies, then every test suite
#   make asan    unit, integration and cli tests against an AddressSanitizer + UBSan build
#   make bench   azsim beside Azurite, oauth2-mock-server and nginx (bench/bench.mjs)
#   make soak    a minute of mixed load: no failure, flat memory (bench/soak.mjs)
#   make fuzz    the libFuzzer harnesses of tests/fuzz, FUZZ_SECONDS each

VERSION   := 0.1.0
PKGS      := libevent libevent_openssl libevent_pthreads yajl sqlite3 openssl
BUILD     ?= build

CC        ?= cc
WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wpointer-arith -Wvla -Wno-unused-parameter \
             -Wno-missing-field-initializers  # route tables leave trailing fields zero
CFLAGS    ?= -O2 -g
CPPFLAGS  += -I. -D_GNU_SOURCE -DAZSIM_VERSION='"$(VERSION)"' -MMD -MP
LDLIBS    += -lpthread

# pkg-config runs only when compiling, so `make deps` works before the -dev packages exist.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

MODULES   := arm aad imds keyvault storage
LIB_SRC   := $(filter-out common/main.c,$(wildcard common/*.c)) \
             $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
DATA_SRC  := data/builtin_roles.S data/demo.S
UNIT_SRC  := $(wildcard tests/unit/test_*.c)

LIB_OBJ    = $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(DATA_SRC:%.S=$(BUILD)/obj/%.o)
MAIN_OBJ   = $(BUILD)/obj/common/main.o
UNIT_BINS  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test unit integration cli e2e asan deps test-deps bench bench-smoke bench-deps format clean
.DEFAULT_GOAL := all

all: $(BUILD)/azsim

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARNINGS) -std=c11 -c $< -o $@

# Data compiled into the binary (.incbin); rebuilt when the data changes.
$(BUILD)/obj/data/builtin_roles.o: data/builtin_roles.S data/builtin-roles.json
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/data/demo.o: data/demo.S demo/demo.py
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libazsim.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/azsim: $(MAIN_OBJ) $(BUILD)/libazsim.a
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libazsim.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka $(LDLIBS)

# ---- set-up ----------------------------------------------------------------------------------

deps:
	@mk/deps.sh build

test-deps: deps bench-deps
	@mk/deps.sh test
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	cd docker/app && npm ci --no-audit --no-fund --loglevel=error

# What the benchmarks compare azsim with: wrk and nginx (Debian), Azurite and
# oauth2-mock-server (npm, in bench/node_modules).
bench-deps: deps
	@mk/deps.sh bench
	cd bench && npm ci --no-audit --no-fund --loglevel=error

# ---- run and test ----------------------------------------------------------------------------

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/azsim

test: test-deps
	@$(MAKE) --no-print-directory all unit valgrind integration cli e2e bench-smoke soak-smoke \
		fuzz-smoke

# Every workload against azsim and its peer, alternating, three times: the table in the README's
# Performance section, and bench/results/<time>.json. Not part of `make test`; bench-smoke is (a
# second of each, so the harness cannot rot).
bench: bench-deps $(BUILD)/azsim
	AZSIM_BIN=$(abspath $(BUILD)/azsim) node bench/bench.mjs

bench-smoke: $(BUILD)/azsim
	AZSIM_BIN=$(abspath $(BUILD)/azsim) node bench/bench.mjs --smoke

# Load without loss (bench/soak.mjs): IMDS and Entra ID tokens, Key Vault secrets, blobs and ARM
# resources at once, 64 connections for 60 s against one file-backed azsim. Fails on any non-2xx
# answer or socket error, or when resident memory at the end is more than 10% above its level
# after the first 10 s. soak-smoke is the same for 15 s, its memory baseline taken at 5 s.
.PHONY: soak soak-smoke valgrind
soak: bench-deps $(BUILD)/azsim
	AZSIM_BIN=$(abspath $(BUILD)/azsim) node bench/soak.mjs --seconds 60 --baseline 10

soak-smoke: $(BUILD)/azsim
	AZSIM_BIN=$(abspath $(BUILD)/azsim) node bench/soak.mjs --seconds 15 --baseline 5

# The C unit tests under Valgrind's memcheck: a memory error, or a block definitely or indirectly
# lost, fails the run (cmocka does not fork, so each binary is one process to check).
VALGRIND := valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=1
valgrind: $(UNIT_BINS)
	@command -v valgrind >/dev/null || mk/deps.sh test
	@set -e; for t in $(UNIT_BINS); do echo "== valgrind $$t"; $(VALGRIND) $$t; done

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BUILD)/azsim
	cd tests && AZSIM_BIN=$(abspath $(BUILD)/azsim) node --test --test-concurrency=1 integration/

# Real clients: Debian's Python Azure SDK and Azure CLI. /usr/bin/python3 is Debian's interpreter,
# the one python3-azure is installed for. walkthrough.py is the README's az session, command by
# command.
cli: $(BUILD)/azsim
	AZSIM_BIN=$(abspath $(BUILD)/azsim) PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 -m unittest discover -s tests/cli -v
	cd tests/cli && AZSIM_BIN=$(abspath $(BUILD)/azsim) PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 walkthrough.py

# The docker-compose environment without Docker: network namespaces for azsim and two "VMs"
# running docker/app with docker/seed.json (needs root).
e2e: $(BUILD)/azsim
	AZSIM_BIN=$(abspath $(BUILD)/azsim) tests/e2e/netns.sh

# The sanitizer build lives in its own folder; UBSan aborts on the first report so no report
# can scroll by unnoticed.
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan: test-deps
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" \
		all unit integration cli e2e

# Fuzzing with libFuzzer (tests/fuzz/README.md): the harnesses and the library built with clang,
# ASan and UBSan in their own folder. `make fuzz` runs each harness for FUZZ_SECONDS, one after
# the other, growing its committed corpus tests/fuzz/corpus/<harness>; `make fuzz-smoke` replays
# every corpus and regression input, then mutates for FUZZ_SMOKE_SECONDS each, into a scratch
# folder. A crash leaves build/fuzz/crashes/<harness>/crash-*; reproduce it with
# `build/fuzz/<harness> FILE`, and commit it to tests/fuzz/regressions/<harness>/ with the fix.
FUZZ_SRC           := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES         := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_FLAGS         := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                      -fno-sanitize-recover=all -fsanitize=fuzzer-no-link
# clang's -Wformat=2 also flags the va_list formatters (mem.c) that gcc accepts.
FUZZ_WARNINGS      := $(WARNINGS) -Wno-format-nonliteral
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_RUN = mkdir -p build/fuzz/crashes/$$h && \
	build/fuzz/$$h -artifact_prefix=build/fuzz/crashes/$$h/ -print_final_stats=1 \
		-timeout=10 -rss_limit_mb=2048

.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build:
	@mk/deps.sh test
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang CFLAGS="$(FUZZ_FLAGS)" \
		WARNINGS="$(FUZZ_WARNINGS)" $(FUZZ_NAMES:%=build/fuzz/%)

fuzz: fuzz-build
	@set -e; for h in $(FUZZ_NAMES); do echo "== $$h ($(FUZZ_SECONDS) s)"; \
		mkdir -p tests/fuzz/corpus/$$h tests/fuzz/regressions/$$h; $(FUZZ_RUN) \
		-max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/$$h tests/fuzz/regressions/$$h; done

fuzz-smoke: fuzz-build
	@set -e; for h in $(FUZZ_NAMES); do echo "== $$h"; \
		rm -rf build/fuzz/scratch/$$h; mkdir -p build/fuzz/scratch/$$h; $(FUZZ_RUN) \
		-max_total_time=$(FUZZ_SMOKE_SECONDS) build/fuzz/scratch/$$h tests/fuzz/corpus/$$h \
		$$(test -d tests/fuzz/regressions/$$h && echo tests/fuzz/regressions/$$h); done

# A harness: its object and the library, linked with libFuzzer's main.
$(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/libazsim.a
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
.SECONDARY: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/obj/tests/fuzz/%.o)

-include $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/obj/tests/fuzz/%.d)

format:
	clang-format -i common/*.[ch] $(foreach m,$(MODULES),$(m)/*.[ch]) tests/unit/*.[ch] \
		tests/fuzz/*.c

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_SRC:tests/unit/%.c=$(BUILD)/obj/tests/unit/%.d)
