# shoal - build, test, demo, bench.
#
#   make            release build: build/shoal, build/shoal-agent (and ./shoal links)
#   make test       install missing packages, build with ASan+UBSan, run every test
#   make demo       lab of 3 hosts + a Redis cluster on it, then its status
#   make bench      benchmarks against peer tools, ratios printed
#   make fuzz       run each fuzz target (FUZZ_SECONDS each, default 60)
#   make lint       cppcheck + clang-tidy (tests/lint.sh; configs .clang-tidy, tests/lint/)
#   make install    PREFIX=/usr/local
#
# Sources are found by folder, so a new module needs no Makefile change:
#   deployer/common/*.c  both binaries      deployer/lib/*/*.c  operator library
#   deployer/cli/*.c     the shoal CLI      deployer/agent/*.c  shoal-agent (main.c = its main)
#   tests/unit/test_*.c  one cmocka binary each, linked with all of the above

PREFIX  ?= /usr/local
CC      ?= cc
PKG_CONFIG ?= pkg-config

PKGS       := libconfig jansson libssh2 libevent libarchive libcurl libcrypto nettle libseccomp libcap hiredis
AGENT_PKGS := jansson libarchive nettle libseccomp libcap

# pkg-config is only asked when building, so `make deps` works on a bare machine.
pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
pkg_libs   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread
# The agent must run on hosts without shoal's build libraries: everything but
# glibc is linked statically.
agent_static_libs = -Wl,-Bstatic $(shell $(PKG_CONFIG) --static --libs $(AGENT_PKGS) 2>/dev/null | sed 's/-lxml2//;s/-lssl//') -Wl,-Bdynamic -lpthread -ldl

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wvla
# deployer/lib is arranged by concern (spec/ plan/ image/ transport/ db/
# converge/); every folder is on the include path, so a new file or folder
# needs no Makefile change and includes stay bare ("spec.h").
LIB_DIRS := $(sort $(shell find deployer/lib -type d))
INCS    := -Ideployer/common $(addprefix -I,$(LIB_DIRS)) -Ideployer/agent -Ideployer/cli
BASE_CFLAGS := -std=gnu11 -g -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) $(INCS)

REL_CFLAGS  := $(BASE_CFLAGS) -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -ffunction-sections -fdata-sections
ASAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_CFLAGS := $(BASE_CFLAGS) -O1 $(ASAN_FLAGS)

COMMON_SRC := $(sort $(wildcard deployer/common/*.c))
LIB_SRC    := $(sort $(shell find deployer/lib -name '*.c'))
CLI_SRC    := $(sort $(wildcard deployer/cli/*.c))
AGENT_MAIN := deployer/agent/main.c
AGENT_SRC  := $(filter-out $(AGENT_MAIN),$(sort $(wildcard deployer/agent/*.c)))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))

R := build
A := build/asan

obj = $(patsubst %.c,$(1)/obj/%.o,$(2))

.PHONY: all deps test unit scenarios demo demo-down bench fuzz install clean asan lint
all: $(R)/shoal $(R)/shoal-agent shoal shoal-agent $(R)/shoal.1

# Shell completion and the man page, generated from the command table
# (`shoal completion bash|zsh|man`); docs/shoal.1 is the checked-in copy
# (tests/scenarios/cli_completion.bats checks it for drift).
$(R)/shoal.1: $(R)/shoal
	$(R)/shoal completion bash >$(R)/shoal.bash
	$(R)/shoal completion zsh >$(R)/_shoal
	$(R)/shoal completion man >$@

shoal shoal-agent: %: $(R)/%
	@ln -sf $(R)/$@ $@

deps:
	@sh deps/install.sh deps/debian.txt

# ---- objects, per variant ---------------------------------------------------
$(R)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) $(pkg_cflags) -MMD -MP -c $< -o $@

$(A)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(pkg_cflags) -MMD -MP -c $< -o $@

define variant
$(1)/libcommon.a: $(call obj,$(1),$(COMMON_SRC))
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/libshoal.a: $(call obj,$(1),$(LIB_SRC))
	@rm -f $$@
	ar rcs $$@ $$^ $(if $(LIB_SRC),,/dev/null)
$(1)/libagent.a: $(call obj,$(1),$(AGENT_SRC))
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/shoal: $(call obj,$(1),$(CLI_SRC)) $(1)/libshoal.a $(1)/libcommon.a
	$$(CC) $(2) -o $$@ $(call obj,$(1),$(CLI_SRC)) $(1)/libshoal.a $(1)/libcommon.a $$(pkg_libs)
endef
$(eval $(call variant,$(R),))
$(eval $(call variant,$(A),$(ASAN_FLAGS)))

# The agent is shipped to every host, so it goes stripped; its debug info
# stays beside it (shoal-agent.debug, found by gdb through the debuglink).
$(R)/shoal-agent: $(call obj,$(R),$(AGENT_MAIN)) $(R)/libagent.a $(R)/libcommon.a
	$(CC) -Wl,--gc-sections -o $@ $^ $(agent_static_libs)
	objcopy --only-keep-debug $@ $@.debug
	objcopy --strip-all --add-gnu-debuglink=$@.debug $@

$(A)/shoal-agent: $(call obj,$(A),$(AGENT_MAIN)) $(A)/libagent.a $(A)/libcommon.a
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs $(AGENT_PKGS) 2>/dev/null) -lpthread

$(A)/test/%: tests/unit/%.c $(A)/libagent.a $(A)/libshoal.a $(A)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(pkg_cflags) -o $@ $< $(A)/libagent.a $(A)/libshoal.a $(A)/libcommon.a $(pkg_libs) -lcmocka

UNIT_BINS := $(patsubst tests/unit/%.c,$(A)/test/%,$(UNIT_SRC))

# Fuzz targets also build as plain programs that replay a corpus, so every
# `make test` runs them over tests/fuzz/corpus/<target>/.
$(A)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(A)/libagent.a $(A)/libshoal.a $(A)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(pkg_cflags) -o $@ $< tests/fuzz/replay.c $(A)/libagent.a $(A)/libshoal.a $(A)/libcommon.a $(pkg_libs)
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(A)/fuzz/%,$(FUZZ_SRC))

# Bench drivers (bench/*.c) link the libraries as the CLI does; bench scripts
# build the release ones, scenario tests use the ASan ones.
BENCH_SRC := $(sort $(wildcard bench/*.c))
$(R)/bench/%: bench/%.c $(R)/libshoal.a $(R)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) $(pkg_cflags) -o $@ $< $(R)/libshoal.a $(R)/libcommon.a $(pkg_libs) -lm
$(A)/bench/%: bench/%.c $(A)/libshoal.a $(A)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(pkg_cflags) -o $@ $< $(A)/libshoal.a $(A)/libcommon.a $(pkg_libs) -lm
BENCH_ASAN := $(patsubst bench/%.c,$(A)/bench/%,$(BENCH_SRC))

asan: $(A)/shoal $(A)/shoal-agent $(UNIT_BINS) $(FUZZ_REPLAY) $(BENCH_ASAN)

# ---- tests ----------------------------------------------------------------
# Unit tests and fuzz replays run under ASan+UBSan; scenario tests drive the
# real binaries (ASan builds) on the lab.  tests/run.sh prints the final
# "N passed, N failed" line and fails when anything failed.
# The build uses every core unless make was given -j itself (a plain
# `make test` built one file at a time).
JOBS_FLAG = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
test: deps
	$(MAKE) $(JOBS_FLAG) all asan
	SHOAL_BUILD=$(CURDIR)/$(A) SHOAL_RELEASE=$(CURDIR)/$(R) sh tests/run.sh

unit:
	$(MAKE) $(JOBS_FLAG) asan
	SHOAL_BUILD=$(CURDIR)/$(A) SHOAL_RELEASE=$(CURDIR)/$(R) sh tests/run.sh --unit

scenarios:
	$(MAKE) $(JOBS_FLAG) all asan
	SHOAL_BUILD=$(CURDIR)/$(A) SHOAL_RELEASE=$(CURDIR)/$(R) sh tests/run.sh --scenarios $(T)

# cppcheck + clang-tidy with the checked-in configurations (tests/lint.sh).
lint:
	tests/lint.sh

# ---- demo, bench, fuzz ------------------------------------------------------
demo: deps all
	sh tests/lab/demo.sh

demo-down:
	sh tests/lab/demo.sh down

bench: deps all
	sh bench/run.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	$(MAKE) CC=clang R=build/fuzz-rel A=build/fuzz ASAN_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" build/fuzz/libagent.a build/fuzz/libshoal.a build/fuzz/libcommon.a
	@set -e; for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); \
		clang $(BASE_CFLAGS) $(pkg_cflags) -O1 -fsanitize=fuzzer,address,undefined -o build/fuzz/$$n-libfuzzer $$f build/fuzz/libagent.a build/fuzz/libshoal.a build/fuzz/libcommon.a $(pkg_libs); \
		mkdir -p build/fuzz/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		build/fuzz/$$n-libfuzzer -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/$$n tests/fuzz/corpus/$$n; \
	done

# ---- install, clean ---------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/shoal
	install -m 0755 $(R)/shoal $(R)/shoal-agent $(DESTDIR)$(PREFIX)/bin/
	cp -R templates node-images $(DESTDIR)$(PREFIX)/share/shoal/
	install -D -m 0644 $(R)/shoal.1 $(DESTDIR)$(PREFIX)/share/man/man1/shoal.1
	install -D -m 0644 $(R)/shoal.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/shoal
	install -D -m 0644 $(R)/_shoal $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_shoal

clean:
	rm -rf build shoal shoal-agent

-include $(shell find build -name '*.d' 2>/dev/null)
