# Sourced by the *-deps.sh scripts.
# debian_package COMMAND [PACKAGE]: install the Debian PACKAGE (default: COMMAND) unless COMMAND is
# on PATH or in /usr/sbin, then stop the system service the package may start (the tests start
# their own). Needs root for apt-get; says so and exits 2 otherwise.
debian_package() {
    local command="$1" name="${2:-$1}"
    if command -v "$command" >/dev/null 2>&1 || [[ -x "/usr/sbin/$command" ]]; then
        return
    fi
    if [[ "$(id -u)" != 0 ]]; then
        echo "$(basename "$0"): $command is missing; run as root or: apt-get install $name" >&2
        exit 2
    fi
    echo "$(basename "$0"): installing Debian $name (for $command)"
    export DEBIAN_FRONTEND=noninteractive
    # Another install step may hold the dpkg lock; wait for it rather than fail.
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$name"
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$name" 2>/dev/null; then
        systemctl stop "$name" || true
    fi
}
