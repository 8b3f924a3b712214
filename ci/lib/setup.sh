# Shared by ci/test, ci/demo and ci/bench: installs what they need, idempotently.
# Sourced, not run. Each component lists its Debian packages in ci/packages/*.txt
# and its Python requirements in ci/python/*.txt, so that adding a test tool
# never means editing this file.

ZTPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export ZTPS_ROOT
export ZTPS_CACHE=${ZTPS_CACHE:-/var/cache/ztps-eos}
export ZTPS_VENV=${ZTPS_VENV:-$ZTPS_CACHE/venv}
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"

# Every step says when it started, in seconds since the outermost script
# began: where a slow run spends its time shows in its log.
export ZTPS_CI_T0=${ZTPS_CI_T0:-$(date +%s)}
log() { printf '\033[1m==> [%4ss] %s\033[0m\n' "$(( $(date +%s) - ZTPS_CI_T0 ))" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Lines of the named list files, without comments and blank lines.
list_lines() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" 2>/dev/null | sort -u; }

# True when the installed version of package $1 is one that suite $2 offers.
# With apt's lists cleaned the suite offers nothing we can see, so the answer is
# "no" and the caller refreshes the lists and installs from the suite.
installed_from_suite() {
    local have
    have=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) || return 1
    [ -n "$have" ] || return 1
    apt-cache madison "$1" 2>/dev/null |
        awk -F'|' -v v="$have" -v s="$2" '{ gsub(/ /, "", $2); if ($2 == v && index($3, s)) f = 1 } END { exit !f }'
}

install_debian_packages() {
    local files=("$ZTPS_ROOT"/ci/packages/*.txt) wanted=() missing=() pkg
    [ -e "${files[0]}" ] || return 0
    mapfile -t wanted < <(list_lines "${files[@]}")
    for pkg in "${wanted[@]}"; do
        # A line may pin a suite: "qemu-system-x86 bookworm-backports". Such a
        # package counts as missing until the installed version comes from that
        # suite: an older one from the base suite (always there for e2fsprogs)
        # is upgraded, not silently kept.
        set -- $pkg
        if [ $# -ge 2 ]; then
            installed_from_suite "$1" "$2" || missing+=("$pkg")
        else
            dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}); run as root so ci/ can install them"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    local plain=() line suite
    local -A by_suite=()
    for line in "${missing[@]}"; do
        set -- $line
        if [ $# -ge 2 ]; then
            # Recheck with fresh lists: the version may already be the suite's.
            installed_from_suite "$1" "$2" || by_suite[$2]+=" $1/$2"
        else
            plain+=("$1")
        fi
    done
    for suite in "${!by_suite[@]}"; do
        # pkg/suite installs or upgrades from that suite; -t lets dependencies
        # that must be newer come from it too.
        # shellcheck disable=SC2086
        apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends \
            -t "$suite" ${by_suite[$suite]} >/dev/null
    done
    if [ ${#plain[@]} -gt 0 ]; then
        apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${plain[@]}" >/dev/null
    fi
    # Daemons that Debian starts on install would hold port 67, or speak LLDP on
    # every host link, and skew tests.
    local svc
    for svc in isc-dhcp-server kea-dhcp4-server dnsmasq libvirtd lldpd; do
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
}

# Tools whose version matters are checked by what they can do, not by name:
# the message says what is missing and how to get it.
check_tool_capabilities() {
    local tmp rc=0
    tmp=$(mktemp -d)
    mkdir -p "$tmp/in" && echo ok >"$tmp/in/probe"
    tar -C "$tmp/in" -cf "$tmp/probe.tar" probe
    if ! mke2fs -q -F -t ext4 -d "$tmp/probe.tar" "$tmp/probe.img" 4M >/dev/null 2>&1; then
        echo "error: $(command -v mke2fs || echo mke2fs) cannot populate a file system from a tar file" \
            "(mke2fs -d FILE.tar needs e2fsprogs 1.47.1 or later; installed: $(dpkg-query -W -f='${Version}' e2fsprogs 2>/dev/null));" \
            "install it with: apt-get install -t bookworm-backports e2fsprogs" >&2
        rc=1
    fi
    if ! qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse "$tmp/probe.img" "$tmp/probe.vmdk" >/dev/null 2>&1; then
        echo "error: qemu-img cannot write a VMDK (installed: $(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null));" \
            "install it with: apt-get install -t bookworm-backports qemu-utils" >&2
        rc=1
    fi
    rm -rf "$tmp"
    return $rc
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

# cargo-fuzz, pinned, from crates.io (ci/checks/fuzz).
CARGO_FUZZ_VERSION=0.13.1
ensure_cargo_fuzz() {
    if cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\b"; then
        return 0
    fi
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install -q --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
}

setup_all() {
    ensure_rust_tools
    # Some packages come from bookworm-backports (qemu, e2fsprogs for mke2fs -d);
    # the script adds that suite from the host's own mirror if it is missing.
    "$ZTPS_ROOT/vm-image/ensure-backports"
    install_debian_packages
    check_tool_capabilities || die "a tool above is too old; ci/packages/image.txt pins the suite it must come from"
    install_python_requirements
}
