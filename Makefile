# Thin wrapper over CMake. Build trees live in build*/.
#
#   make / make build     configure (RelWithDebInfo) into build/ and build
#   make test             build, then run every test with ctest (but the MPI ones)
#   make mpi              build, then run libweft-mpi's tests (label mpi: mpirun -n 4)
#   make demo             the tour (tools/tour): builds the examples, then runs the seed's
#                         examples in C with timings beside the seed's Python ones;
#                         SKIP_SLOW=1 skips the ~70 s of deliberate sleeps
#   make docs             API reference from the header comments (Doxygen) into DOCS_DIR
#   make bench            install the peers (bench/peers/install.sh), then run bench/run
#   make install          build and install into PREFIX (default /usr/local)
#   make asan / tsan      build into build-asan / build-tsan with sanitizers and run ctest
#   make sweep            the bad-input sweep only (tools/sweep, tests/sweep/: every public
#                         function with bad arguments), built into build-asan with ASan+UBSan;
#                         `make asan` runs it too (ctest label sweep)
#   make valgrind         build, then run every example (so every program of the tour)
#                         under valgrind memcheck (tools/valgrind-examples); fails on any
#                         error or definite/indirect leak; SKIP_SLOW=1 skips the sleepers;
#                         VALGRIND=PATH another valgrind (tools/valgrind-fetch: one that
#                         knows pidfd_open, so that the process examples are checked too)
#   make ucontext         build into build-ucontext with the ucontext switch and run ctest
#   make musl             build with musl-gcc into build-musl (kernel headers linked from
#                         the host) and run ctest
#   make cross-aarch64    cross-build into build-aarch64, run the whole suite in qemu-user
#                         (cases needing what qemu-user lacks skip themselves; the count is
#                         printed at the end)
#   make cross-riscv64    the same for riscv64 into build-riscv64
#   make oldkernel        build, then run the whole suite (but the MPI tests) twice under
#                         tools/deny-syscalls: the system calls newer than Linux 5.0 that
#                         weft uses (pidfd_open, pidfd_send_signal, waitid(P_PIDFD),
#                         epoll_pwait2, membarrier, clone3) fail with ENOSYS (an older
#                         kernel), then with EPERM (a seccomp policy)
#   make oldlibc          the oldest libc supported: tools/oldlibc makes a Debian 11 chroot
#                         (glibc 2.31, gcc 10, CMake 3.18) with debootstrap in
#                         build-oldlibc/root, builds there with WEFT_WERROR=ON and runs the
#                         whole suite (needs root and debootstrap)
#   make fuzz             build the HTTP request parser's libFuzzer target (clang) into
#                         build-fuzz/ and run it FUZZ_SECONDS (45) on fuzz/corpus/
#   make format           clang-format -i every C source
#   make clean            remove every build tree
#
# Variables: CMAKE_ARGS (extra configure arguments, e.g. CMAKE_ARGS=-DWEFT_WERROR=ON),
# BUILD_TYPE, PREFIX, JOBS, CTEST_JOBS, CTEST_ARGS (e.g. CTEST_ARGS='-R chan'; it is
# passed to the shell as it is, so quote a regex with shell characters inside it:
# CTEST_ARGS="-R '^(wait|scope)'"), SKIP_SLOW, TOUR_ARGS (e.g. TOUR_ARGS='--only 9,10'), DOCS_DIR.

CMAKE         ?= cmake
CTEST         ?= ctest
BUILD_TYPE    ?= RelWithDebInfo
CMAKE_ARGS    ?=
CTEST_ARGS    ?=
PREFIX        ?= /usr/local
JOBS          ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS    ?= 2
PYTHON        ?= python3
SKIP_SLOW     ?=
TOUR_ARGS     ?=
DOXYGEN       ?= doxygen
DOCS_DIR      ?= build/docs
CLANG_FORMAT  ?= clang-format

MAKEFLAGS += --no-print-directory

# TSan in gcc 12 cannot cope with every address-space layout the kernel picks; running
# without address randomization makes it reliable.
NORANDOM := $(shell setarch $$(uname -m) -R true >/dev/null 2>&1 && echo "setarch $$(uname -m) -R")

configure = $(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=$(2) $(3) $(CMAKE_ARGS)
build     = $(CMAKE) --build $(1) -j $(JOBS)
runtests  = $(CTEST) --test-dir $(1) --output-on-failure -j $(CTEST_JOBS) $(CTEST_ARGS)
# The whole suite under qemu-user; prints how many cases skipped themselves (their probe of a
# feature qemu-user lacks failed) and lists them.
crosstests = $(call runtests,$(1)) -O $(1)/ctest.log; st=$$?; \
	printf '%s: %s tests skipped\n' $(1) "$$(grep -c -- '\*\*\*Skipped' $(1)/ctest.log)"; exit $$st

.PHONY: all build test mpi demo docs bench install asan sweep tsan valgrind ucontext musl cross-aarch64 cross-riscv64 i386 oldkernel oldlibc fuzz format clean

all: build

build:
	$(call configure,build,$(BUILD_TYPE),)
	$(call build,build)

# The MPI tests (label mpi) run in `make mpi`.
test: build
	$(call runtests,build) -LE '^mpi$$'

# libweft-mpi's tests: each runs mpirun --oversubscribe -n 4 (tests/mpi/test_mpi.c);
# needs Open MPI (openmpi-bin, libopenmpi-dev); mpi.netns needs root.
mpi: build
	@test -x build/tests/test_mpi || { echo "make mpi: MPI not found at configure time"; exit 1; }
	$(call runtests,build) -L '^mpi$$'

# The tour configures build/ and builds only the example programs it runs.
demo:
	$(call configure,build,$(BUILD_TYPE),)
	$(PYTHON) tools/tour --build-dir build --build --strict --jobs $(JOBS) \
	    $(if $(filter-out 0,$(SKIP_SLOW)),--skip-slow) $(TOUR_ARGS)

# Warnings are errors (WARN_AS_ERROR in docs/Doxyfile); the header is read through
# docs/doxyfilter.py, which turns its plain comments into Doxygen comments.
docs:
	@mkdir -p $(DOCS_DIR)
	WEFT_VERSION=$$(sed -n 's/^#define WEFT_VERSION_STRING "\(.*\)"/\1/p' include/weft.h) \
	DOXYGEN_OUTPUT=$(DOCS_DIR) $(DOXYGEN) docs/Doxyfile
	@echo "docs: $(DOCS_DIR)/html/index.html"

# The peers come from Debian (bench/peers/install.sh, as root or through sudo); where they
# cannot be installed, bench/run reports each missing one as skipped.
bench:
	-bench/peers/install.sh
	./bench/run

install: build
	$(CMAKE) --install build --prefix $(PREFIX)

asan:
	$(call configure,build-asan,Debug,-DWEFT_ASAN=ON)
	$(call build,build-asan)
	ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    $(call runtests,build-asan)

sweep:
	$(call configure,build-asan,Debug,-DWEFT_ASAN=ON)
	$(CMAKE) --build build-asan -j $(JOBS) --target sweep
	ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    $(CTEST) --test-dir build-asan --output-on-failure -L sweep $(CTEST_ARGS)

tsan:
	$(call configure,build-tsan,RelWithDebInfo,-DWEFT_TSAN=ON)
	$(call build,build-tsan)
	TSAN_OPTIONS=$${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
	    $(NORANDOM) $(call runtests,build-tsan)

# Same build as `make build`: the valgrind client requests are compiled in whenever
# <valgrind/valgrind.h> is found at configure time.
valgrind:
	$(call configure,build,$(BUILD_TYPE),)
	$(call build,build)
	$(if $(VALGRIND),VALGRIND=$(VALGRIND)) tools/valgrind-examples \
	    $(if $(filter-out 0,$(SKIP_SLOW)),--skip-slow) build

ucontext:
	$(call configure,build-ucontext,$(BUILD_TYPE),-DWEFT_UCONTEXT=ON)
	$(call build,build-ucontext)
	$(call runtests,build-ucontext) -LE '^mpi$$'

# musl-gcc (musl-tools) has no kernel headers: build-musl/kinc links the host's linux/,
# asm/ and asm-generic/ directories (nothing is copied). No libcurl for musl: the curl
# examples are skipped; so is libweft-mpi (Debian's Open MPI is built for glibc).
MUSL_KINC = $(CURDIR)/build-musl/kinc
musl:
	@mkdir -p $(MUSL_KINC)
	@ln -sfn /usr/include/linux $(MUSL_KINC)/linux
	@ln -sfn /usr/include/asm-generic $(MUSL_KINC)/asm-generic
	@ln -sfn /usr/include/$$(gcc -print-multiarch)/asm $(MUSL_KINC)/asm
	$(call configure,build-musl,$(BUILD_TYPE),-DCMAKE_C_COMPILER=musl-gcc \
	    -DCMAKE_C_FLAGS=-isystem\ $(MUSL_KINC) -DCMAKE_DISABLE_FIND_PACKAGE_CURL=ON -DWEFT_MPI=OFF)
	$(call build,build-musl)
	$(call runtests,build-musl)

cross-aarch64:
	$(call configure,build-aarch64,$(BUILD_TYPE),-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake)
	$(call build,build-aarch64)
	$(call crosstests,build-aarch64)

cross-riscv64:
	$(call configure,build-riscv64,$(BUILD_TYPE),-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/riscv64-linux-gnu.cmake)
	$(call build,build-riscv64)
	$(call crosstests,build-riscv64)

# 32-bit x86: built with Debian's gcc-i686-linux-gnu, run natively (an x86_64 kernel runs
# i386 programs; the loader comes from libc6-i386). The ucontext switch (no i386 assembly).
i386:
	$(call configure,build-i386,$(BUILD_TYPE),-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/i686-linux-gnu.cmake -DWEFT_MPI=OFF)
	$(call build,build-i386)
	$(call crosstests,build-i386)

# clone3 fails with ENOSYS in both runs: glibc falls back to clone only on ENOSYS, so with
# EPERM no program (ctest, cc, the tests) could start a thread (tools/deny-syscalls.c).
DENY = build/tools/deny-syscalls
oldkernel: build
	@mkdir -p build/tools
	$(CC) -O2 -Wall -Wextra -Werror -Isrc -o $(DENY) tools/deny-syscalls.c
	$(DENY) ENOSYS $(call runtests,build) -LE '^mpi$$'
	$(DENY) EPERM $(call runtests,build) -LE '^mpi$$'

oldlibc:
	tools/oldlibc

# The seed corpus stays untouched: new inputs go to build-fuzz/corpus.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 45
fuzz:
	mkdir -p build-fuzz/corpus
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -Isrc -Iinclude fuzz/http_parse_fuzz.c src/http/parse.c -o build-fuzz/http_parse_fuzz
	cd build-fuzz && ./http_parse_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -dict=../fuzz/http.dict -artifact_prefix=./ corpus ../fuzz/corpus/http_parse

format:
	@files=$$(find src include tests examples bench -name '*.[ch]' 2>/dev/null); \
	if [ -n "$$files" ]; then $(CLANG_FORMAT) -i $$files; fi

clean:
	rm -rf build build-*
