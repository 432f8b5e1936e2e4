#!/bin/sh
# debian-deps.sh - install what cellar builds and tests with, from Debian's
# packages (run as root).  --test adds what only the test suite needs.
set -e
export DEBIAN_FRONTEND=noninteractive
build="build-essential autoconf automake pkg-config libopenblas-dev liblua5.4-dev
       libsqlite3-dev zlib1g-dev libncurses-dev libgraphviz-dev dataset-fashion-mnist"
test="python3 python3-pil valgrind tmux"
pkgs=$build
[ "${1:-}" = --test ] && pkgs="$build $test"
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $pkgs
