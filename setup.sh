#!/usr/bin/env bash
# Installs everything pktlab needs on Debian bookworm, as root: the Debian
# packages (DPDK, Open vSwitch with DPDK, compilers), then a venv in .venv with
# pktlab and its C generator compiled against `pkg-config libdpdk`.
# QEMU comes from bookworm-backports (10.x): the virtual lab server needs its
# `igb` NIC (SR-IOV), which QEMU 7.2 does not have.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# Several checkouts may set up at once (and a fresh machine may be running apt on its own):
# one setup at a time installs, and apt waits for dpkg's lock instead of failing on it.
exec 9>/run/lock/pktlab-setup.lock
flock 9
APT=(apt-get -o DPkg::Lock::Timeout=600)

# openssh-server: the remote tests run their own sshd (the system service is not enabled).
# tshark: a second, independent parser of the tagged and tunnelled frames in the tests.
# python3-pyelftools: Debian's dpdk-pmdinfo.py runs on /usr/bin/python3 and needs it
# (dpdk only recommends it, and recommends are not installed here).
PKGS=(dpdk dpdk-dev libdpdk-dev openvswitch-switch-dpdk python3-pyelftools pkg-config gcc python3-dev python3-venv netsniff-ng libxdp-dev libbpf-dev busybox-static iproute2 openssh-server openssh-client tshark)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${APT[@]}" update -qq
    "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bookworm-backports: a deb822 entry for the same Debian archive as the existing
# bookworm entry (same URIs and Signed-By), so apt fetches its lists too.
BPO=/etc/apt/sources.list.d/pktlab-bookworm-backports.sources
QEMU_MIN=1:8.0  # -device igb
if [ ! -e "$BPO" ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    entry=$(awk -v RS= '/Suites:[^\n]*bookworm( |\n|$)/ && !/security/ {print; exit}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    uris=$(sed -n 's/^URIs:[[:space:]]*//p' <<<"$entry" | head -1)
    signed=$(sed -n 's/^Signed-By:[[:space:]]*//p' <<<"$entry" | head -1)
    if [ -z "$uris" ]; then
        echo "setup: no deb822 bookworm entry in /etc/apt/sources.list.d to copy for bookworm-backports" >&2
        exit 1
    fi
    echo "setup: adding bookworm-backports ($uris) in $BPO"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\n%s' "$uris" \
        "${signed:+Signed-By: $signed
}" >"$BPO"
    "${APT[@]}" update -qq
fi
qemu_version=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
if [ -z "$qemu_version" ] || ! dpkg --compare-versions "$qemu_version" ge "$QEMU_MIN"; then
    echo "setup: installing qemu-system-x86 from bookworm-backports (have: ${qemu_version:-none})"
    export DEBIAN_FRONTEND=noninteractive
    apt-cache policy qemu-system-x86 | grep -q bookworm-backports || "${APT[@]}" update -qq
    "${APT[@]}" install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi

flock -u 9
[ -x .venv/bin/python ] || python3 -m venv .venv
# Editable, so tests and the CLI use this checkout; the cffi extension is built here.
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
.venv/bin/python -c "import pktlab._pktgen" || { echo "setup: the C generator did not build" >&2; exit 1; }
echo "setup: done; pktlab is .venv/bin/pktlab"
