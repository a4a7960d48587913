#!/usr/bin/env bash
# Installs the Debian packages the build needs when missing (redis-server, redis-tools,
# the DLPack header, clang-format for `make lint`) and extracts the redismodule.h of the
# same Redis release from Debian's source package into deps/, and the ONNX Runtime C API
# header from Debian's libonnxruntime-dev into deps/onnxruntime/ (never committed).
# DEPS names another folder than deps/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
deps=${DEPS:-$top/deps}
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

updated=0
apt_update() { [ $updated = 1 ] || { sudo_ apt-get update -qq; updated=1; }; }

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null \
        || [ ! -f /usr/include/dlpack/dlpack.h ] || ! command -v clang-format >/dev/null \
        || ! command -v g++ >/dev/null; then
    apt_update
    # g++: the native runners are C++ extensions built against the frameworks' headers.
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        redis-server redis-tools libdlpack-dev clang-format g++ >/dev/null
    # Debian starts a server on 6379 at install; `make run` wants that port for itself.
    sudo_ service redis-server stop >/dev/null 2>&1 || true
fi

# The C API header of an ONNX Runtime release no newer than the one in .venv (the module
# asks the running ORT for the API version of its header, which ORT keeps backward
# compatible): the module registers a counting allocator through it. Bookworm has no
# onnxruntime package, trixie does: apt reads trixie's list into a scratch folder, so the
# machine's own sources stay as they are.
ort_header() {
    local scratch opts
    scratch=$(mktemp -d)
    mkdir -p "$scratch/lists/partial" "$scratch/cache/archives/partial" "$scratch/parts"
    printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: trixie' \
        'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
        >"$scratch/trixie.sources"
    opts=(-qq -o "Dir::Etc::SourceList=$scratch/trixie.sources"
        -o "Dir::Etc::SourceParts=$scratch/parts" -o "Dir::State::Lists=$scratch/lists"
        -o "Dir::Cache=$scratch/cache" -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update
    (cd "$scratch" && apt-get "${opts[@]}" download libonnxruntime-dev)
    dpkg-deb -x "$scratch"/libonnxruntime-dev_*.deb "$scratch/root"
    mkdir -p "$deps/onnxruntime"
    cp "$scratch/root/usr/include/onnxruntime/onnxruntime_c_api.h" "$deps/onnxruntime/"
    echo "deps/onnxruntime/onnxruntime_c_api.h from $(cd "$scratch" && ls libonnxruntime-dev_*.deb)"
    rm -rf "$scratch"
}
[ -f "$deps/onnxruntime/onnxruntime_c_api.h" ] || ort_header

[ -f "$deps/redismodule.h" ] && exit 0

# Debian lists only binary packages by default: add a deb-src twin of its main entry.
src_list=/etc/apt/sources.list.d/cyrai-deb-src.sources
if [ ! -f "$src_list" ]; then
    sed -n '/^Types: deb$/,/^$/p' /etc/apt/sources.list.d/debian.sources \
        | sed 's/^Types: deb$/Types: deb-src/' | sudo_ tee "$src_list" >/dev/null
    updated=0
fi
apt_update
version=$(dpkg-query -W -f='${Version}' redis-server | sed 's/^[0-9]*://; s/-[^-]*$//')
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && apt-get source --download-only -qq "redis=$(dpkg-query -W -f='${Version}' redis-server)" >/dev/null)
mkdir -p "$deps"
tar -xzf "$scratch"/redis_*.orig.tar.gz -C "$scratch" --wildcards '*/src/redismodule.h'
find "$scratch" -name redismodule.h -exec cp {} "$deps/redismodule.h" \;
echo "deps/redismodule.h from redis $version"
