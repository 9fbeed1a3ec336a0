#!/bin/sh
# bench/peers/tokio/build.sh OUTDIR: builds tokiobench offline from Debian's packaged
# crates (/usr/share/cargo/registry) with Debian's /usr/bin/cargo and /usr/bin/rustc
# (not rustup's), into OUTDIR/tokiobench. CARGO_HOME, the target directory, a copy of
# the sources (cargo writes Cargo.lock next to Cargo.toml) and the build log all live
# under OUTDIR, so the source tree stays clean. Missing Debian packages are installed
# when run as root (apt-get update only then); otherwise it says which and exits 1.
set -eu
fail() {
    echo "tokio: $*" >&2
    exit 1
}
if [ $# -ne 1 ] || [ -z "$1" ]; then
    fail "usage: bench/peers/tokio/build.sh OUTDIR"
fi
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1" 2>/dev/null || fail "cannot create $1"
out=$(cd "$1" && pwd)

# Debian (bookworm): librust-tokio-dev 1.24.2 carries tokio's sources and depends on the
# crates it needs; its features are packages of their own (virtual ones in bookworm,
# provided by librust-tokio-dev).
PKGS="cargo rustc librust-tokio-dev librust-tokio+rt-multi-thread-dev librust-tokio+sync-dev"

# installed: a package, or a virtual package an installed package provides.
installed() {
    dpkg-query -W -f='${db:Status-Abbrev}\n' "$1" 2>/dev/null | grep -q '^ii' && return 0
    dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
        sed -n 's/^ii *|//p' | tr ',' '\n' | sed 's/(.*//; s/ //g' | grep -qxF "$1"
}

command -v dpkg-query >/dev/null 2>&1 || fail "not a Debian system (no dpkg-query); needs Debian's packages $PKGS"
missing=""
for p in $PKGS; do
    installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        fail "missing Debian packages:$missing (not root, so not installing them: run as root or apt-get install -y --no-install-recommends$missing)"
    fi
    echo "tokio: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || fail "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >&2 ||
        fail "apt-get install$missing failed"
fi
for f in /usr/bin/cargo /usr/bin/rustc; do
    [ -x "$f" ] || fail "$f is missing after installing cargo and rustc"
done
ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1 ||
    fail "no tokio 1.x under /usr/share/cargo/registry (librust-tokio-dev)"

# Cargo's own configuration: crates.io replaced by Debian's directory source, offline.
mkdir -p "$out/cargo-home" "$out/target" || fail "cannot write to $out"
cat > "$out/cargo-home/config.toml" <<CFG
[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "/usr/share/cargo/registry"
[net]
offline = true
CFG
rm -rf "$out/src"
mkdir -p "$out/src/src"
cp "$src/Cargo.toml" "$out/src/"
cp "$src/src/main.rs" "$out/src/src/"

# cd: cargo reads .cargo/config.toml from the working directory upwards too.
log="$out/build.log"
if ! (cd "$out/src" &&
    env -u RUSTC_WRAPPER -u CARGO_BUILD_RUSTC_WRAPPER -u RUSTFLAGS -u CARGO_BUILD_TARGET \
        PATH="/usr/bin:/bin:$PATH" CARGO_HOME="$out/cargo-home" CARGO_TARGET_DIR="$out/target" \
        RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
        /usr/bin/cargo build --release --offline --manifest-path "$out/src/Cargo.toml") \
    > "$log" 2>&1; then
    why=$(grep -m1 '^error' "$log" || tail -n 1 "$log")
    fail "cargo build failed: $why (log: $log)"
fi
cp "$out/target/release/tokiobench" "$out/tokiobench" || fail "cannot copy tokiobench to $out"
