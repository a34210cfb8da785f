"""SR-IOV: how many VFs a PF has (sysfs), and one VF's MAC, VLAN, spoof check
and trust (netlink, on the PF), each as a plan step with its undo.

CreateVfs writes sriov_numvfs. The kernel refuses to go from one non-zero
count to another (EBUSY), so a different count is reached through 0; undo
puts the count back the same way.

ConfigureVf is `ip link set <pf> vf <n> mac .. vlan .. spoofchk .. trust ..`
through pyroute2: IPRoute.link("set", index=<pf>, vf={...}). It reads the VF's
settings first (RTM_GETLINK with RTEXT_FILTER_VF) and undo sets them back.
The two netlink calls live in one object, `netlink` (VfNetlink), that a test
replaces: a VF needs an SR-IOV NIC, which a build machine has not, so the
request and its undo are checked against a stand-in; tests/functional checks
that the kernel accepts the request's encoding (a veth answers EOPNOTSUPP,
not EINVAL).
"""
from __future__ import annotations

import copy
import errno as _errno
import os
import re
import time
from dataclasses import dataclass

from .. import wait
from ..errors import StepError
from ..inventory import sysfs as _sysfs
from ..plan import Step
from .sysfs_attr import write as write_attr

WAIT_S = 5.0
POLL_S = 0.01
RTEXT_FILTER_VF = 1
_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


# ---------------------------------------------------------------- VF count (sysfs)

def _numvfs(pci: str, root: str) -> int | None:
    v = _sysfs.read_attr(root, f"sys/bus/pci/devices/{pci}/sriov_numvfs")
    return int(v) if v is not None and v.isdigit() else None


def vfs_refusal(pf: str, count: int, root: str = "/", allow_in_use: bool = False) -> str | None:
    """Why CreateVfs(pf, count) must not run on this host, or None (reads only)."""
    pci = _sysfs.pci_of(pf, root)
    if pci is None:
        return f"{pf!r} is neither a PCI address nor a PCI network interface under {root}"
    nic = _sysfs.read_nic(pci, root)
    if nic.sriov_totalvfs is None:
        return f"{pci} is not SR-IOV capable (no sriov_totalvfs)" + (f"; it is a VF of {nic.physfn}"
                                                                     if nic.physfn else "")
    if not 0 <= count <= nic.sriov_totalvfs:
        return f"{pci} takes 0 to {nic.sriov_totalvfs} VFs (sriov_totalvfs), not {count}"
    if nic.sriov_numvfs == count:
        return None
    if nic.driver is None:
        return f"{pci} has no driver; its PF driver creates the VFs (bind it to its kernel driver first)"
    if not allow_in_use:
        if nic.management:
            return (f"{pci} is the management NIC; some PF drivers (ixgbe) reset the port when the VF "
                    "count changes, taking the default route down (allow_in_use=True to do it anyway)")
        for vf in nic.vfs:
            vnic = _sysfs.read_nic(vf, root)
            used = vnic.in_use() if vnic else []
            if used:
                return f"VF {vf} of {pci} is in use ({'; '.join(used)}); changing the VF count removes it"
    return None


def vf_addresses(pf: str, count: int, root: str = "/") -> list[str]:
    """The PCI addresses VFs 0..count-1 of PF `pf` will have, before they exist:
    routing ID = PF's + sriov_offset + i * sriov_stride (PCIe SR-IOV, 3.3.9-10)."""
    dev = f"sys/bus/pci/devices/{pf}"
    offset, stride = (_sysfs.read_attr(root, f"{dev}/{a}") for a in ("sriov_offset", "sriov_stride"))
    if offset is None or stride is None or not offset.isdigit() or not stride.isdigit():
        raise ValueError(f"{pf} does not say where its VFs go (no sriov_offset/sriov_stride)")
    domain, bus, rest = pf.split(":")
    slot, fn = rest.split(".")
    rid = (int(bus, 16) << 8) | (int(slot, 16) << 3) | int(fn)
    out = []
    for i in range(count):
        r = rid + int(offset) + i * int(stride)
        out.append(f"{domain}:{r >> 8:02x}:{(r >> 3) & 0x1f:02x}.{r & 7}")
    return out


def _set_numvfs(pci: str, count: int, root: str, what: str) -> None:
    """Reach `count` VFs: through 0 when another non-zero count is set."""
    rel = f"sys/bus/pci/devices/{pci}/sriov_numvfs"
    now = _numvfs(pci, root)
    if now == count:
        return
    if now:
        write_attr(root, rel, "0", what)
    if count:
        write_attr(root, rel, str(count), what)
    got = _numvfs(pci, root)
    if got != count:
        raise StepError(f"{what}: sriov_numvfs of {pci} reads {got} after writing {count}")


@dataclass
class CreateVfs(Step):
    """Give PF `pf` (PCI address or interface name) `count` VFs; undo restores the count it had.

    state: pci, numvfs_before, vfs (their PCI addresses).
    """

    kind = "sriov-numvfs"
    pf: str
    count: int
    root: str = "/"
    allow_in_use: bool = False

    def describe(self):
        return f"set {self.pf} to {self.count} SR-IOV VFs (sriov_numvfs; through 0 if another count is set)"

    def describe_undo(self):
        before = self.state.get("numvfs_before")
        return f"restore the VF count of {self.pf} to {before if before is not None else 'what it was'}"

    def apply(self, ctx):
        why = vfs_refusal(self.pf, self.count, self.root, self.allow_in_use)
        if why:
            raise StepError(f"create {self.count} VFs on {self.pf}: {why}")
        pci = _sysfs.pci_of(self.pf, self.root)
        self.state.update(pci=pci, numvfs_before=_numvfs(pci, self.root))
        ctx.journal_state()
        _set_numvfs(pci, self.count, self.root, f"create {self.count} VFs on {pci}")
        self.state["vfs"] = list(_sysfs.read_nic(pci, self.root).vfs)
        ctx.journal_state()

    def undo(self, ctx):
        before, pci = self.state.get("numvfs_before"), self.state.get("pci")
        if before is None or pci is None:
            return
        if _numvfs(pci, self.root) is None:
            return  # the PF is gone
        _set_numvfs(pci, before, self.root, f"restore {before} VFs on {pci}")


# ---------------------------------------------------------------- one VF's settings (netlink)

def parse_vfinfo(msg) -> dict[int, dict]:
    """{vf: {mac, vlan, qos, spoofchk, trust}} from an RTM_NEWLINK message read with
    RTEXT_FILTER_VF; a setting the driver does not report is left out."""
    out: dict[int, dict] = {}
    vflist = msg.get("IFLA_VFINFO_LIST") if msg is not None else None
    for info in vflist.get_attrs("IFLA_VF_INFO") if vflist is not None else ():
        mac, vlan = info.get("IFLA_VF_MAC"), info.get("IFLA_VF_VLAN")
        ref = mac or vlan
        if ref is None:
            continue
        s = out.setdefault(ref["vf"], {})
        if mac is not None:
            s["mac"] = mac["mac"]
        if vlan is not None:
            s.update(vlan=vlan["vlan"], qos=vlan["qos"])
        for key in ("spoofchk", "trust"):
            a = info.get(f"IFLA_VF_{key.upper()}")
            if a is not None and a[key] != 0xFFFFFFFF:  # -1: the driver cannot say
                s[key] = bool(a[key])
        stats = info.get("IFLA_VF_STATS")
        if stats is not None:
            s["stats"] = {k: int(stats.get(f"IFLA_VF_STATS_{k.upper()}") or 0) for k in VF_STATS}
    return out


VF_STATS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped", "multicast")


class VfCounters:
    """The PF driver's own per-VF counters (IFLA_VF_STATS, as `ip -s link show <pf>`),
    the independent count for the SR-IOV path: what each VF sent and received
    through the embedded switch. Drivers refresh them from a periodic task
    (ixgbe every 2 s), so settled() waits until two reads 2.5 s apart agree."""

    source = "netlink:IFLA_VF_STATS"
    REFRESH_S = 2.5
    # PF drivers without ndo_get_vf_stats: rtnetlink still sends IFLA_VF_STATS, all zero,
    # which would read as "the NIC switched nothing". Their VFs have no independent count.
    NO_VF_STATS = {"igb": "Linux's igb keeps no per-VF counters (no ndo_get_vf_stats: IFLA_VF_STATS reads 0)"}

    def __init__(self, pf_ifname: str, vfs, driver: str | None = None):
        self.pf_ifname, self.vfs = pf_ifname, tuple(vfs)
        self.unavailable = self.NO_VF_STATS.get(driver or "")

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Per driven VF its counters; none at all where the PF's driver keeps none."""
        if self.unavailable:
            return {}
        _, info = netlink.read(self.pf_ifname)
        missing = [vf for vf in self.vfs if "stats" not in info.get(vf, {})]
        if missing:
            raise StepError(f"{self.pf_ifname}: the driver reports no counters for VF {missing[0]}")
        return {f"vf{vf}": dict(info[vf]["stats"]) for vf in self.vfs}

    def settled(self, poll_s: float = 0.0) -> dict[str, dict[str, int]]:
        last = self.snapshot()
        if not last:
            return last
        for _ in range(4):
            time.sleep(self.REFRESH_S)
            now = self.snapshot()
            if now == last:
                break
            last = now
        return last


class VfNetlink:
    """The netlink calls ConfigureVf makes (one socket per call), in pktlab's own
    namespace or, for tests, in `netns`."""

    def __init__(self, netns: str | None = None):
        self.netns = netns

    def _ipr(self):
        from pyroute2 import IPRoute

        return IPRoute() if self.netns is None else IPRoute(netns=self.netns, flags=0)

    def read(self, pf_ifname: str) -> tuple[int, dict[int, dict]]:
        """(PF ifindex, parse_vfinfo of the PF)."""
        from pyroute2.netlink.exceptions import NetlinkError

        with self._ipr() as ipr:
            found = ipr.link_lookup(ifname=pf_ifname)
            if not found:
                raise StepError(f"no interface {pf_ifname} in {self.netns or 'the root namespace'}")
            try:
                [msg] = ipr.link("get", index=found[0], ext_mask=RTEXT_FILTER_VF)
            except NetlinkError as e:
                raise StepError(f"read VFs of {pf_ifname}: {os.strerror(e.code)}") from None
            return found[0], parse_vfinfo(msg)

    def set(self, index: int, request: dict) -> None:
        """IPRoute.link("set", index=index, vf=request); request is pyroute2's vf spec."""
        with self._ipr() as ipr:
            ipr.link("set", index=index, vf=copy.deepcopy(request))  # pyroute2 pops keys off the spec


netlink = VfNetlink()  # the seam: tests put a recording stand-in here


def _onoff(v: bool) -> str:
    return "on" if v else "off"


@dataclass
class ConfigureVf(Step):
    """Set VF `vf` of PF interface `pf_ifname`: any of mac, vlan (0 = none, with qos),
    spoofchk, trust; None leaves a setting alone. Undo sets back what it read before.

    state: index (PF ifindex), before ({setting: value} for the settings changed).
    """

    kind = "sriov-vf"
    pf_ifname: str
    vf: int
    mac: str | None = None
    vlan: int | None = None
    qos: int = 0
    spoofchk: bool | None = None
    trust: bool | None = None

    def _settings(self) -> list[str]:
        out = [f"mac {self.mac}"] if self.mac is not None else []
        out += [f"vlan {self.vlan}" + (f" qos {self.qos}" if self.qos else "")] if self.vlan is not None else []
        out += [f"spoofchk {_onoff(self.spoofchk)}"] if self.spoofchk is not None else []
        out += [f"trust {_onoff(self.trust)}"] if self.trust is not None else []
        return out

    def describe(self):
        return f"set VF {self.vf} of {self.pf_ifname}: {', '.join(self._settings()) or 'nothing'} (netlink)"

    def describe_undo(self):
        before = self.state.get("before")
        if not before:
            return f"restore VF {self.vf} of {self.pf_ifname} to its settings before"
        return f"restore VF {self.vf} of {self.pf_ifname}: " + ", ".join(
            f"{k} {_onoff(v) if isinstance(v, bool) else v}" for k, v in before.items())

    def request(self) -> dict:
        """The pyroute2 vf spec apply() sends."""
        req: dict = {"vf": self.vf}
        if self.mac is not None:
            req["mac"] = self.mac.lower()
        if self.vlan is not None:
            req["vlan"] = {"vlan": self.vlan, "qos": self.qos}
        if self.spoofchk is not None:
            req["spoofchk"] = int(self.spoofchk)
        if self.trust is not None:
            req["trust"] = int(self.trust)
        return req

    def undo_request(self) -> dict | None:
        """The pyroute2 vf spec undo() sends (None when there is nothing to restore)."""
        before = self.state.get("before")
        if not before:
            return None
        req: dict = {"vf": self.vf}
        if "mac" in before:
            req["mac"] = before["mac"]
        if "vlan" in before:
            req["vlan"] = {"vlan": before["vlan"], "qos": before.get("qos", 0)}
        for key in ("spoofchk", "trust"):
            if key in before:
                req[key] = int(before[key])
        return req

    def _check(self):
        if self.mac is not None and not _MAC.match(self.mac.lower()):
            return f"mac {self.mac!r} is not a MAC address"
        if self.mac is not None and int(self.mac.split(":")[0], 16) & 1:
            return f"mac {self.mac} is a multicast address"
        if self.vlan is not None and not 0 <= self.vlan <= 4094:
            return f"vlan {self.vlan} is outside 0-4094"
        if not 0 <= self.qos <= 7:
            return f"qos {self.qos} is outside 0-7"
        if self.vf < 0:
            return "a VF number is >= 0"
        return None

    def apply(self, ctx):
        what = f"set VF {self.vf} of {self.pf_ifname}"
        why = self._check()
        if why:
            raise StepError(f"{what}: {why}")
        index, vfs = netlink.read(self.pf_ifname)
        if self.vf not in vfs:
            raise StepError(f"{what}: {self.pf_ifname} has {len(vfs)} VF(s) (0-{len(vfs) - 1}), no VF {self.vf}"
                            if vfs else f"{what}: {self.pf_ifname} has no VFs (create them first)")
        now = vfs[self.vf]
        keys = [k for k, v in (("mac", self.mac), ("vlan", self.vlan), ("spoofchk", self.spoofchk),
                               ("trust", self.trust)) if v is not None]
        missing = [k for k in keys if k not in now]
        if missing:
            raise StepError(f"{what}: the driver does not report {', '.join(missing)}, so it could not be undone")
        before = {k: now[k] for k in keys}
        if "vlan" in before:
            before["qos"] = now.get("qos", 0)
        self.state.update(index=index, before=before)
        ctx.journal_state()
        self._send(index, self.request(), what)
        want = {k: v for k, v in self.request().items() if k != "vf"}
        self._wait(want, what)

    def undo(self, ctx):
        req = self.undo_request()
        if req is None or self.state.get("index") is None:
            return
        what = f"restore VF {self.vf} of {self.pf_ifname}"
        index, vfs = netlink.read(self.pf_ifname)
        if self.vf not in vfs:
            return  # the VF is gone, and its settings with it
        if index != self.state["index"]:
            raise StepError(f"{what}: {self.pf_ifname} is now ifindex {index}, not {self.state['index']}; "
                            "not touching another interface")
        now = vfs[self.vf]
        if all(now.get(k) == v for k, v in _flat({k: v for k, v in req.items() if k != "vf"}).items()):
            return  # already as it was (undone before, or apply never got to send)
        self._send(index, req, what)

    def _send(self, index, req, what):
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            netlink.set(index, req)
        except NetlinkError as e:
            raise StepError(f"{what}: {os.strerror(e.code)} ({_errno.errorcode.get(e.code, e.code)})") from None

    def _wait(self, want: dict, what: str):
        """Until the PF reports the VF as asked (some drivers apply it from a work queue)."""
        def differs() -> dict:
            got = netlink.read(self.pf_ifname)[1].get(self.vf, {})
            return {k: got.get(k) for k, v in _flat(want).items() if got.get(k) != v}

        wait.until(lambda: not differs(), WAIT_S, POLL_S, lambda _: StepError(
            f"{what}: the PF still reports {', '.join(f'{k} {v}' for k, v in differs().items())}"))


def _flat(req: dict) -> dict:
    out = {}
    for k, v in req.items():
        if k == "vlan":
            out.update(vlan=v["vlan"], qos=v["qos"])
        elif k in ("spoofchk", "trust"):
            out[k] = bool(v)
        else:
            out[k] = v
    return out
