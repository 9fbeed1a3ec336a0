#!/bin/sh
# bench/peers/tokio/build.sh OUTDIR: builds tokiobench offline from Debian's packaged
# crates (/usr/share/cargo/registry, package librust-tokio-dev) with Debian's cargo and
# rustc, into OUTDIR/tokiobench; the source tree stays clean. bench/peers/install.sh
# installs the packages.
set -eu
out=${1:?usage: build.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
for f in /usr/bin/cargo /usr/bin/rustc /usr/share/cargo/registry/tokio-1*; do
    if [ ! -e "$f" ]; then
        echo "tokio: $f is missing (apt-get install cargo rustc librust-tokio-dev)" >&2
        exit 1
    fi
done
mkdir -p "$out/cargo-home" "$out/target"
cat > "$out/cargo-home/config.toml" <<CFG
[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "/usr/share/cargo/registry"
[net]
offline = true
CFG
# A copy of the sources: cargo writes Cargo.lock next to Cargo.toml.
rm -rf "$out/src"
mkdir -p "$out/src/src"
cp "$src/Cargo.toml" "$out/src/"
cp "$src/src/main.rs" "$out/src/src/"
CARGO_HOME="$out/cargo-home" CARGO_TARGET_DIR="$out/target" RUSTC=/usr/bin/rustc \
    /usr/bin/cargo build --release --offline --quiet --manifest-path "$out/src/Cargo.toml"
cp "$out/target/release/tokiobench" "$out/tokiobench"
