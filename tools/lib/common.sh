# Shared by tools/demo.sh and tools/test.sh: package installation and quiet builds.
# Sourced, not run. Every function fails loudly: on error it prints the log it kept.

RP_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The Debian packages ringprobe builds and tests with. Keep in sync with docs/ARCHITECTURE.md.
RP_BUILD_PACKAGES=(g++ meson ninja-build pkg-config python3
    liburing-dev libwolfssl-dev libsimdjson-dev libjemalloc-dev
    libgtest-dev libgmock-dev libbenchmark-dev libc-ares-dev libcli11-dev libsystemd-dev)
RP_TEST_PACKAGES=(clang libclang-rt-14-dev haproxy procps iproute2 dnsmasq-base prometheus chromium
    systemd man-db clang-format openssl
    python3-matplotlib
    prometheus-blackbox-exporter
    nginx)
# deploy/kubernetes' manifests are parsed by tests/deploy/kubernetes_test.py.
RP_TEST_PACKAGES+=(python3-yaml)
# What tools/package.sh needs beyond the build packages to make and check the .deb.
RP_PACKAGE_PACKAGES=(debhelper dpkg-dev lintian)

rp_log() { printf '%s\n' "$*" >&2; }

# rp_missing_packages PKG...: prints the ones not installed.
rp_missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

# rp_ensure_packages PKG...: installs what is missing; apt-get update only when something is.
rp_ensure_packages() {
    local missing
    missing=$(rp_missing_packages "$@" | tr '\n' ' ')
    [ -z "${missing// /}" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        rp_log "ringprobe: missing packages: $missing"
        rp_log "ringprobe: run as root, or install them: apt-get install $missing"
        return 1
    fi
    rp_log "ringprobe: installing $missing"
    local log
    log=$(mktemp)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; } \
           >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        rp_log "ringprobe: apt-get failed for: $missing"
        return 1
    fi
    rm -f "$log"
}

# rp_quiet LOGNAME CMD...: runs CMD with its output in a log; prints the log only on failure.
rp_quiet() {
    local name=$1
    shift
    local log="$RP_TOP/build/logs/$name.log"
    mkdir -p "$RP_TOP/build/logs"
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rp_log "ringprobe: failed: $* (log: $log)"
        return 1
    fi
}

# rp_build DIR [meson options...]: configures once (or when options change), then builds.
rp_build() {
    local dir=$1
    shift
    local stamp="$dir/.rp-options"
    local want="$*"
    if [ ! -f "$dir/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        rm -rf "$dir"
        rp_quiet "setup-$(basename "$dir")" meson setup "$dir" "$RP_TOP" "$@" || return 1
        echo "$want" >"$stamp"
    fi
    rp_quiet "build-$(basename "$dir")" ninja -C "$dir" || return 1
}
