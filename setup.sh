#!/usr/bin/env bash
# Installs everything pktlab needs on Debian bookworm, as root: the Debian
# packages (DPDK, Open vSwitch with DPDK, compilers), then a venv in .venv with
# pktlab and its C generator compiled against `pkg-config libdpdk`.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# python3-pyelftools: Debian's dpdk-pmdinfo.py runs on /usr/bin/python3 and needs it
# (dpdk only recommends it, and recommends are not installed here).
PKGS=(dpdk dpdk-dev libdpdk-dev openvswitch-switch-dpdk python3-pyelftools pkg-config gcc python3-dev python3-venv netsniff-ng libxdp-dev libbpf-dev qemu-system-x86 busybox-static iproute2)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# Editable, so tests and the CLI use this checkout; the cffi extension is built here.
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
.venv/bin/python -c "import pktlab._pktgen" || { echo "setup: the C generator did not build" >&2; exit 1; }
echo "setup: done; pktlab is .venv/bin/pktlab"
