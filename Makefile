# Thin wrapper over CMake. Build trees live in build*/.
#
#   make / make build     configure (RelWithDebInfo) into build/ and build
#   make test             build, then run every test with ctest
#   make demo             build, then run the programs in DEMO_PROGRAMS from build/examples/
#   make bench            run bench/run
#   make install          build and install into PREFIX (default /usr/local)
#   make asan / tsan      build into build-asan / build-tsan with sanitizers and run ctest
#   make ucontext         build into build-ucontext with the ucontext switch and run ctest
#   make cross-aarch64    cross-build into build-aarch64, run the coro/chan/io tests in qemu
#   make format           clang-format -i every C source
#   make clean            remove every build tree
#
# Variables: CMAKE_ARGS (extra configure arguments, e.g. CMAKE_ARGS=-DWEFT_WERROR=ON),
# BUILD_TYPE, PREFIX, JOBS, CTEST_JOBS, CTEST_ARGS (e.g. CTEST_ARGS='-R chan'),
# DEMO_PROGRAMS, DEMO_TIMEOUT.

CMAKE         ?= cmake
CTEST         ?= ctest
BUILD_TYPE    ?= RelWithDebInfo
CMAKE_ARGS    ?=
CTEST_ARGS    ?=
PREFIX        ?= /usr/local
JOBS          ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS    ?= 2
DEMO_PROGRAMS ?= seed06_threads seed07_lock seed08_subclass seed09_sleepers seed11_gevent_sleep seed12_greenlet_switch echo_server cpu_scaling
DEMO_TIMEOUT  ?= 60
CLANG_FORMAT  ?= clang-format
CROSS_LABELS  ?= coro|chan|io

MAKEFLAGS += --no-print-directory

# TSan in gcc 12 cannot cope with every address-space layout the kernel picks; running
# without address randomization makes it reliable.
NORANDOM := $(shell setarch $$(uname -m) -R true >/dev/null 2>&1 && echo "setarch $$(uname -m) -R")

configure = $(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=$(2) $(3) $(CMAKE_ARGS)
build     = $(CMAKE) --build $(1) -j $(JOBS)
runtests  = $(CTEST) --test-dir $(1) --output-on-failure -j $(CTEST_JOBS) $(CTEST_ARGS)

.PHONY: all build test demo bench install asan tsan ucontext cross-aarch64 format clean

all: build

build:
	$(call configure,build,$(BUILD_TYPE),)
	$(call build,build)

test: build
	$(call runtests,build)

demo: build
	@set -e; ran=0; \
	for p in $(DEMO_PROGRAMS); do \
	    if [ -x build/examples/$$p ]; then \
	        printf '\n==================== %s ====================\n' "$$p"; \
	        timeout $(DEMO_TIMEOUT) build/examples/$$p || { \
	            echo "demo: $$p failed (exit status $$?)" >&2; exit 1; }; \
	        ran=$$((ran + 1)); \
	    else \
	        printf '\n(demo: build/examples/%s not built yet, skipped)\n' "$$p"; \
	    fi; \
	done; \
	printf '\ndemo: %d program(s) ran\n' $$ran

bench:
	./bench/run

install: build
	$(CMAKE) --install build --prefix $(PREFIX)

asan:
	$(call configure,build-asan,Debug,-DWEFT_ASAN=ON)
	$(call build,build-asan)
	ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    $(call runtests,build-asan)

tsan:
	$(call configure,build-tsan,RelWithDebInfo,-DWEFT_TSAN=ON)
	$(call build,build-tsan)
	TSAN_OPTIONS=$${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
	    $(NORANDOM) $(call runtests,build-tsan)

ucontext:
	$(call configure,build-ucontext,$(BUILD_TYPE),-DWEFT_UCONTEXT=ON)
	$(call build,build-ucontext)
	$(call runtests,build-ucontext)

cross-aarch64:
	$(call configure,build-aarch64,$(BUILD_TYPE),-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake)
	$(call build,build-aarch64)
	$(call runtests,build-aarch64) -L '$(CROSS_LABELS)'

format:
	@files=$$(find src include tests examples bench -name '*.[ch]' 2>/dev/null); \
	if [ -n "$$files" ]; then $(CLANG_FORMAT) -i $$files; fi

clean:
	rm -rf build build-*
