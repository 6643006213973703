#!/bin/sh
# Install the Debian packages azsim needs that are missing: `build` for building and running,
# `test` for the test suites, `bench` for the benchmarks. As root it runs apt-get; otherwise it
# prints the one command to run.
set -eu

build_pkgs="gcc make pkg-config libevent-dev libyajl-dev libjwt-dev libsqlite3-dev libssl-dev"
test_pkgs="libcmocka-dev sqlite3 curl openssl iproute2 python3 python3-requests azure-cli python3-azure clang libclang-rt-14-dev valgrind"
bench_pkgs="wrk nginx-light openssl"
case "${1:-build}" in
    build) want=$build_pkgs ;;
    bench) want=$bench_pkgs
           command -v node >/dev/null 2>&1 || want="$want nodejs"
           command -v npm >/dev/null 2>&1 || want="$want npm" ;;
    test) want=$test_pkgs
          # Node.js 18+ runs the integration suites; take Debian's when none is installed.
          command -v node >/dev/null 2>&1 || want="$want nodejs"
          command -v npm >/dev/null 2>&1 || want="$want npm" ;;
    *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "azsim needs these Debian packages:$missing" >&2
    echo "run:  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
