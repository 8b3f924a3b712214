# Shared by ci/test, ci/demo and ci/bench: installs what they need, idempotently.
# Sourced, not run. Each component lists its Debian packages in ci/packages/*.txt
# and its Python requirements in ci/python/*.txt, so that adding a test tool
# never means editing this file.

ZTPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export ZTPS_ROOT
export ZTPS_CACHE=${ZTPS_CACHE:-/var/cache/ztps-eos}
export ZTPS_VENV=${ZTPS_VENV:-$ZTPS_CACHE/venv}
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Lines of the named list files, without comments and blank lines.
list_lines() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" 2>/dev/null | sort -u; }

install_debian_packages() {
    local files=("$ZTPS_ROOT"/ci/packages/*.txt) wanted=() missing=() pkg
    [ -e "${files[0]}" ] || return 0
    mapfile -t wanted < <(list_lines "${files[@]}")
    for pkg in "${wanted[@]}"; do
        # A line may pin a suite: "qemu-system-x86 bookworm-backports".
        set -- $pkg
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}); run as root so ci/ can install them"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    local plain=() line
    for line in "${missing[@]}"; do
        set -- $line
        if [ $# -ge 2 ]; then
            apt-get install -y -qq -o Dpkg::Use-Pty=0 -t "$2" "$1" >/dev/null
        else
            plain+=("$1")
        fi
    done
    if [ ${#plain[@]} -gt 0 ]; then
        apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${plain[@]}" >/dev/null
    fi
    # Daemons that Debian starts on install would hold port 67 and skew tests.
    local svc
    for svc in isc-dhcp-server kea-dhcp4-server dnsmasq libvirtd; do
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
}

install_python_requirements() {
    local files=("$ZTPS_ROOT"/ci/python/*.txt)
    [ -e "${files[0]}" ] || return 0
    local stamp="$ZTPS_VENV/.requirements.sha256" want
    want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    log "preparing Python venv $ZTPS_VENV"
    mkdir -p "$ZTPS_CACHE"
    [ -x "$ZTPS_VENV/bin/python" ] || python3 -m venv "$ZTPS_VENV"
    local f
    for f in "${files[@]}"; do
        "$ZTPS_VENV/bin/pip" install -q --disable-pip-version-check -r "$f"
    done
    echo "$want" >"$stamp"
}

ensure_rust_tools() {
    command -v cargo >/dev/null || die "cargo is not installed (this project needs Rust stable 1.95)"
}

setup_all() {
    ensure_rust_tools
    # Some packages come from bookworm-backports (qemu, e2fsprogs for mke2fs -d);
    # the script adds that suite from the host's own mirror if it is missing.
    "$ZTPS_ROOT/vm-image/ensure-backports"
    install_debian_packages
    install_python_requirements
}
