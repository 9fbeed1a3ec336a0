#!/bin/sh
# Install round trip, run by ctest as install.pkgconfig_and_cmake:
#   run.sh <weft build dir>
# Installs the build into a temporary prefix, then builds tests/install/hello.c against it
# with pkg-config and with find_package(weft), and runs the results.
# Environment: CC and CMAKE (set by ctest), WEFT_INSTALL_CFLAGS (sanitizer flags of the
# build under test, so that sanitized libraries can be linked).
set -eu

builddir=${1:?usage: run.sh <builddir>}
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-cc}
CMAKE=${CMAKE:-cmake}
XCFLAGS=${WEFT_INSTALL_CFLAGS:-}

fail() { echo "install test: FAIL: $*" >&2; exit 1; }

if ! command -v pkg-config >/dev/null 2>&1; then
    fail "pkg-config is not installed (apt-get install pkg-config)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

echo "== cmake --install $builddir --prefix $prefix"
"$CMAKE" --install "$builddir" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
[ -f "$prefix/include/weft.h" ] || fail "weft.h was not installed"

pc=$(find "$prefix" -name weft.pc | head -n 1)
[ -n "$pc" ] || fail "weft.pc was not installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
ls "$libdir"/libweft.so.0 >/dev/null 2>&1 || fail "libweft.so.0 missing in $libdir"
ls "$libdir"/libweft.a >/dev/null 2>&1 || fail "libweft.a missing in $libdir"

echo "== pkg-config"
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs weft) ||
    fail "pkg-config --cflags --libs weft failed"
echo "   pkg-config --cflags --libs weft: $flags"
modver=$(PKG_CONFIG_PATH="$pcdir" pkg-config --modversion weft)
[ -n "$modver" ] || fail "pkg-config --modversion weft is empty"
# shellcheck disable=SC2086
"$CC" $XCFLAGS -o "$tmp/hello_pc" "$here/hello.c" $flags || fail "build with pkg-config failed"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/hello_pc" ||
    fail "hello built with pkg-config failed"
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$tmp/hello_pc" | grep -q 'libweft\.so\.0' ||
        fail "hello built with pkg-config does not use libweft.so.0"
fi

# gdb's auto-load: the extension installed next to the library's path under
# share/gdb/auto-load loads by itself for a program linked with libweft.so (the path
# follows the install prefix). Not under a sanitizer (its runtime and gdb's start
# disagree about the address space).
if command -v gdb >/dev/null 2>&1 && [ -z "$XCFLAGS" ]; then
    echo "== gdb auto-load"
    real=$(readlink -f "$libdir/libweft.so.0")
    script="$prefix/share/gdb/auto-load$real-gdb.py"
    [ -f "$script" ] || fail "the gdb extension is not installed as $script"
    out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 60 gdb -batch -nx \
        -iex "set auto-load safe-path /" \
        -iex "set auto-load scripts-directory $prefix/share/gdb/auto-load" \
        -ex 'break weft_now' -ex run -ex 'info weft-threads' -ex 'help info weft-coroutines' \
        "$tmp/hello_pc" 2>&1) || true
    case $out in
    *"every coroutine of every scheduler"*) echo "   info weft-coroutines is defined" ;;
    *) echo "$out" >&2; fail "gdb did not auto-load the weft extension" ;;
    esac
fi

# The hook library's pkg-config file links it so that its interposition is live. (Not
# under a sanitizer: its runtime interposes the same calls first.)
hookpc="$pcdir/weft-hook.pc"
if [ -f "$hookpc" ] && [ -z "$XCFLAGS" ]; then
    echo "== pkg-config weft-hook"
    hflags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs weft-hook) ||
        fail "pkg-config --cflags --libs weft-hook failed"
    echo "   pkg-config --cflags --libs weft-hook: $hflags"
    # shellcheck disable=SC2086
    "$CC" -o "$tmp/hook_pc" "$here/hook_check.c" $hflags || fail "build with weft-hook.pc failed"
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/hook_pc" ||
        fail "hooks built with weft-hook.pc are not live"
fi

# libweft-mpi (when it was built): its pkg-config file builds examples/mpi_pool.c, which
# then runs without mpirun (the local pool).
mpipc="$pcdir/weft-mpi.pc"
if [ -f "$mpipc" ]; then
    echo "== pkg-config weft-mpi"
    mflags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs weft-mpi) ||
        fail "pkg-config --cflags --libs weft-mpi failed"
    echo "   pkg-config --cflags --libs weft-mpi: $mflags"
    # shellcheck disable=SC2086
    "$CC" -o "$tmp/mpi_pc" "$here/../../examples/mpi_pool.c" $mflags ||
        fail "build with weft-mpi.pc failed"
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/mpi_pc" >/dev/null ||
        fail "mpi_pool built with weft-mpi.pc failed"
fi

echo "== find_package(weft)"
checkmpi=OFF
[ -f "$mpipc" ] && checkmpi=ON
"$CMAKE" -S "$here" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DWEFT_CHECK_MPI=$checkmpi -DWEFT_EXAMPLES_DIR="$here/../../examples" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$XCFLAGS" \
    -DCMAKE_EXE_LINKER_FLAGS="$XCFLAGS" >"$tmp/consumer.log" 2>&1 ||
    { cat "$tmp/consumer.log" >&2; fail "configuring the find_package(weft) project failed"; }
"$CMAKE" --build "$tmp/consumer" >"$tmp/consumer-build.log" 2>&1 ||
    { cat "$tmp/consumer-build.log" >&2; fail "building the find_package(weft) project failed"; }
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer/hello" ||
    fail "hello (weft::weft) failed"
"$tmp/consumer/hello_static" || fail "hello_static (weft::weft_static) failed"
if [ "$checkmpi" = ON ]; then
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer/mpi_pool" >/dev/null ||
        fail "mpi_pool (find_package(weft COMPONENTS mpi), weft::weft_mpi) failed"
    echo "   find_package(weft COMPONENTS mpi): weft::weft_mpi builds and runs"
fi

echo "install test: ok"
