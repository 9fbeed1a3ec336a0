#!/bin/sh
# Installs every peer bench/run compares weft with, and the chart tool, from
# Debian's packages (bookworm). Peers that are missing are reported as
# `skipped` by bench/run, so this is optional.
set -eu
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
    golang-go python3 python3-gevent python3-greenlet python3-requests wrk gnuplot-nox \
    libpth-dev libboost-context-dev libboost-fiber-dev libuv1-dev nginx libcurl4-openssl-dev \
    cargo rustc librust-tokio-dev
