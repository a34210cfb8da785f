"""What scenario tables share: the error a check() raises, names and addresses a
scenario may use, frame-size limits. No table here; see tables.py and the data paths."""
from __future__ import annotations

import re

MIN_FRAME, MAX_FRAME = 64, 9018
# Simple IMIX: 7:4:1 of 64, 570 and 1518-byte frames; its mean size names it in results.
IMIX = ((64, 7), (570, 4), (1518, 1))
IMIX_MEAN = round(sum(size * n for size, n in IMIX) / sum(n for _, n in IMIX))
HUGEPAGE_SIZES_KB = (2048, 1048576)
MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}")
# Largest frame (FCS included) an afxdp port takes: XDP on a veth needs the frame in one
# 4 KiB page with its headroom. The generator's own kernel backend then uses AF_PACKET.
AFXDP_MAX_FRAME = 3498
PCI_ADDR = re.compile(r"^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")




class Invalid(Exception):
    """Raised by check(): (key relative to the table, reason)."""

    def __init__(self, key: str, reason: str):
        super().__init__(key, reason)
        self.key, self.reason = key, reason


def check_bridge(name: str):
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", name):
        raise Invalid("bridge", "1-15 characters of letters, digits, '_', '.' or '-'")


def check_guest(opt):
    """The PVP guest's options: forwarder, guest_mem [MiB], accel."""
    if opt.forwarder not in ("bridge", "tc", "testpmd"):
        raise Invalid("forwarder", f"must be bridge, tc or testpmd, not {opt.forwarder!r}")
    if opt.guest_mem < 128 or opt.guest_mem % 2:
        raise Invalid("guest_mem", "an even number of MiB, at least 128")
    if opt.forwarder == "testpmd" and opt.guest_mem < 512:
        raise Invalid("guest_mem", "testpmd in the guest needs at least 512 MiB")
    if opt.accel not in ("auto", "kvm", "tcg"):
        raise Invalid("accel", "must be auto, kvm or tcg")


def check_prefix(prefix: str, suffixes=("a0", "a1", "b0", "b1", "br")):
    """Interface names are prefix + suffix; each must be a name the kernel takes."""
    from ..host.names import check_ifname

    for suffix in suffixes:
        why = check_ifname(prefix + suffix)
        if why:
            raise Invalid("ifname_prefix", f"{prefix + suffix!r} (prefix + {suffix!r}): {why}")


def check_nic_names(key: str, names, count: int | None = 2):
    """NICs are named by PCI address or kernel interface name."""
    from ..host.names import check_ifname

    if count is not None and len(names) != count:
        raise Invalid(key, f"needs {count} NICs (PCI address or interface name), got {len(names)}")
    for n in names:
        if not PCI_ADDR.match(n) and check_ifname(n):
            raise Invalid(key, f"{n!r} is neither a PCI address (0000:03:00.0) nor an interface name "
                                f"({check_ifname(n)})")
    if len(set(names)) != len(names):
        raise Invalid(key, "names a NIC twice")
