"""A fake sysfs/procfs tree of a lab server pktlab's build machine is not, and a
fake kernel that answers sysfs writes as Linux does.

The tree is laid out as the kernel lays it out (devices under
sys/devices/pci0000:00/<root port>/<function>, relative symlinks from
sys/bus/pci/devices, sys/class/net, driver, physfn/virtfnN, iommu_group), so
the inventory reads it with the same code it reads a real host with.

FakeKernel replaces pktlab.host.sysfs_attr.write_attr: it logs each write
(path relative to the root, value) and does what the kernel would:
driver_override stores the name ("(null)" when cleared), unbind/drivers_probe
move the `driver` links and take a net driver's interface away and back,
sriov_numvfs adds or removes VF functions and refuses one non-zero count
over another (EBUSY). Write-only attributes keep no content, so a tree whose
changes were all undone is byte-for-byte the tree it was.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pktlab.host import sysfs_attr
from pktlab.inventory import sysfs

NET_DRIVERS = {"ixgbe", "igb", "i40e", "ice", "mlx5_core", "virtio-pci"}
IFF_UP_FLAGS, IFF_DOWN_FLAGS = "0x1003", "0x1002"


@dataclass
class FakeNic:
    pci: str
    vendor: str
    device: str
    driver: str | None
    node: int
    ifname: str | None
    mac: str = "00:00:00:00:00:00"
    up: bool = False
    speed: int = 10000
    ifindex: int = 10
    sriov_total: int | None = None
    sriov_num: int = 0
    vf_device: str = "10ed"
    vf_offset: int = 128
    vf_stride: int = 2
    root_port: str = "0000:00:01.0"
    iommu_group: int = 30
    pci_class: str = "0x020000"


@dataclass
class FakeHost:
    nodes: dict[int, list[int]]
    siblings: dict[int, list[int]]  # cpu -> its thread siblings (itself included)
    cmdline: str
    nics: list[FakeNic]
    pools: dict[int, dict[int, tuple[int, int]]]  # node -> size_kb -> (total, free)
    default_route: str | None
    ipv4_routes: list[str] = field(default_factory=list)  # interfaces with a subnet route
    if_inet6: list[tuple[str, str]] = field(default_factory=list)  # (ifname, address hex)
    iommu: bool = True
    loaded_drivers: tuple[str, ...] = ("ixgbe", "igb", "i40e", "vfio-pci", "ahci")
    release: str = "6.1.0-18-amd64"
    modules: tuple[str, ...] = ("kernel/drivers/vfio/pci/vfio-pci.ko", "kernel/drivers/uio/uio_pci_generic.ko")

    def nic(self, pci: str) -> FakeNic:
        return next(n for n in self.nics if n.pci == pci)


def two_node_host(**changes) -> FakeHost:
    """A dual-socket lab server: 16 CPUs (0-3,8-11 on node 0, 4-7,12-15 on node 1,
    hyperthread siblings N and N+8), 2-7,10-15 isolated, IOMMU on, 1 GiB and 2 MiB
    pages on each node. NICs:

      0000:01:00.0  8086:1521 igb    node 0  eno1      up, default route: the management NIC
      0000:02:00.0  8086:1572 i40e   node 0  ens2f0    down, free
      0000:03:00.0  8086:10fb ixgbe  node 1  enp3s0f0  down, free, SR-IOV 0/63 VFs
      0000:03:00.1  8086:10fb ixgbe  node 1  enp3s0f1  up, with an IPv6 address
      0000:00:1f.2  SATA controller (not a NIC)
    """
    host = FakeHost(
        nodes={0: [0, 1, 2, 3, 8, 9, 10, 11], 1: [4, 5, 6, 7, 12, 13, 14, 15]},
        siblings={c: sorted((c % 8, c % 8 + 8)) for c in range(16)},
        cmdline=("BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=/dev/sda1 ro quiet default_hugepagesz=1G hugepagesz=1G "
                 "hugepages=8 hugepagesz=2M hugepages=1536 intel_iommu=on iommu=pt isolcpus=2-7,10-15 "
                 "nohz_full=2-7,10-15 rcu_nocbs=2-7,10-15"),
        nics=[
            FakeNic("0000:01:00.0", "8086", "1521", "igb", 0, "eno1", "3c:ec:ef:00:00:01", up=True, speed=1000,
                    ifindex=2, root_port="0000:00:1c.0", iommu_group=12),
            FakeNic("0000:02:00.0", "8086", "1572", "i40e", 0, "ens2f0", "3c:fd:fe:00:00:01", ifindex=3,
                    root_port="0000:00:02.0", iommu_group=20),
            FakeNic("0000:03:00.0", "8086", "10fb", "ixgbe", 1, "enp3s0f0", "90:e2:ba:00:00:01", ifindex=4,
                    sriov_total=63, root_port="0000:00:03.0", iommu_group=30),
            FakeNic("0000:03:00.1", "8086", "10fb", "ixgbe", 1, "enp3s0f1", "90:e2:ba:00:00:02", up=True, ifindex=5,
                    sriov_total=63, root_port="0000:00:03.0", iommu_group=31),
            FakeNic("0000:00:1f.2", "8086", "a102", "ahci", 0, None, root_port="", iommu_group=5,
                    pci_class="0x010601"),
        ],
        pools={0: {2048: (1024, 1024), 1048576: (4, 4)}, 1: {2048: (512, 512), 1048576: (4, 2)}},
        default_route="eno1",
        ipv4_routes=["eno1"],
        if_inet6=[("enp3s0f1", "fd000000000000000000000000000001")],
    )
    return dataclasses.replace(host, **changes)


def lab_server(**changes) -> FakeHost:
    """two_node_host with a second i40e port, so the generator has a pair on node 0
    and the DUT a pair on node 1 (the lab scenarios' cabling):

      0000:02:00.1  8086:1572 i40e   node 0  ens2f1    down, free

    and the openvswitch module on disk (not loaded).
    """
    host = two_node_host()
    gen1 = FakeNic("0000:02:00.1", "8086", "1572", "i40e", 0, "ens2f1", "3c:fd:fe:00:00:02", ifindex=6,
                   root_port="0000:00:02.0", iommu_group=21)
    host = dataclasses.replace(host, nics=host.nics[:2] + [gen1] + host.nics[2:],
                               modules=host.modules + ("kernel/net/openvswitch/openvswitch.ko",))
    return dataclasses.replace(host, **changes)


# ---------------------------------------------------------------- building the tree

def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(target, path.parent), path)


def device_dir(root: Path, pci: str, root_port: str) -> Path:
    base = Path(root, "sys/devices/pci0000:00")
    return base / root_port / pci if root_port else base / pci


def build(root, host: FakeHost) -> Path:
    root = Path(root)
    sys_ = root / "sys"
    cpus = sorted(c for cs in host.nodes.values() for c in cs)
    _write(sys_ / "devices/system/cpu/online", sysfs.format_cpulist(cpus) + "\n")
    isolated = sysfs.Cmdline.parse(host.cmdline).cpus("isolcpus", len(cpus))[0]
    _write(sys_ / "devices/system/cpu/isolated", sysfs.format_cpulist(isolated) + "\n")
    for c in cpus:
        topo = sys_ / f"devices/system/cpu/cpu{c}/topology"
        node = next(n for n, cs in host.nodes.items() if c in cs)
        _write(topo / "physical_package_id", f"{node}\n")
        _write(topo / "core_id", f"{c % 8}\n")
        _write(topo / "thread_siblings_list", sysfs.format_cpulist(host.siblings[c]) + "\n")
    total_kb = 0
    for node, cs in host.nodes.items():
        nd = sys_ / f"devices/system/node/node{node}"
        _write(nd / "cpulist", sysfs.format_cpulist(cs) + "\n")
        _write(nd / "meminfo", f"Node {node} MemTotal:       65856000 kB\nNode {node} MemFree:        60000000 kB\n")
        total_kb += 65856000
        for size, (total, free) in host.pools[node].items():
            _write(nd / f"hugepages/hugepages-{size}kB/nr_hugepages", f"{total}\n")
            _write(nd / f"hugepages/hugepages-{size}kB/free_hugepages", f"{free}\n")
            _write(nd / f"hugepages/hugepages-{size}kB/surplus_hugepages", "0\n")
    for size in sorted({s for p in host.pools.values() for s in p}):
        total = sum(p[size][0] for p in host.pools.values())
        free = sum(p[size][1] for p in host.pools.values())
        for name, value in (("nr_hugepages", total), ("free_hugepages", free), ("surplus_hugepages", 0),
                            ("resv_hugepages", 0)):
            _write(sys_ / f"kernel/mm/hugepages/hugepages-{size}kB/{name}", f"{value}\n")
    _write(root / "proc/meminfo", f"MemTotal:       {total_kb} kB\nMemFree:        100000000 kB\n"
                                  f"MemAvailable:   110000000 kB\nHugepagesize:    1048576 kB\n")
    _write(root / "proc/cmdline", host.cmdline + "\n")
    _write(root / "proc/sys/kernel/osrelease", host.release + "\n")
    _write(root / "proc/modules", "ixgbe 471040 0 - Live 0x0000000000000000\n")
    mods = root / "lib/modules" / host.release
    _write(mods / "modules.dep", "".join(f"{m}:\n" for m in host.modules))
    _write(mods / "modules.builtin", "kernel/drivers/pci/pci-stub.ko\n")
    if host.iommu:
        (sys_ / "class/iommu/dmar0").mkdir(parents=True)
    (sys_ / "kernel/iommu_groups").mkdir(parents=True, exist_ok=True)
    (sys_ / "class/net").mkdir(parents=True, exist_ok=True)
    for d in host.loaded_drivers:
        for f in ("bind", "unbind", "new_id", "remove_id"):
            _write(sys_ / f"bus/pci/drivers/{d}/{f}", "")
    for f in ("drivers_probe", "rescan"):
        _write(sys_ / f"bus/pci/{f}", "")
    _write(sys_ / "bus/pci/drivers_autoprobe", "1\n")
    lo = sys_ / "devices/virtual/net/lo"
    for name, value in (("ifindex", "1"), ("address", "00:00:00:00:00:00"), ("operstate", "unknown"),
                        ("flags", "0x9"), ("mtu", "65536"), ("carrier", "1")):
        _write(lo / name, value + "\n")
    _link(sys_ / "class/net/lo", lo)
    for nic in host.nics:
        add_function(root, host, nic.pci, nic.vendor, nic.device, nic.pci_class, nic.node, nic.root_port,
                     nic.iommu_group if host.iommu else None)
        if nic.sriov_total is not None:
            d = device_dir(root, nic.pci, nic.root_port)
            _write(d / "sriov_totalvfs", f"{nic.sriov_total}\n")
            _write(d / "sriov_numvfs", f"{nic.sriov_num}\n")
            _write(d / "sriov_offset", f"{nic.vf_offset}\n")
            _write(d / "sriov_stride", f"{nic.vf_stride}\n")
            _write(d / "sriov_vf_device", f"{nic.vf_device}\n")
            _write(d / "sriov_drivers_autoprobe", "0\n")
        if nic.driver:
            bind_links(root, nic.pci, nic.driver)
            if nic.driver in NET_DRIVERS and nic.ifname:
                add_netdev(root, host, nic)
    for nic in host.nics:
        for i in range(nic.sriov_num if nic.sriov_total else 0):
            add_vf(root, host, nic, i)
    routes = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"]
    if host.default_route:
        routes.append(f"{host.default_route}\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0")
    routes += [f"{i}\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0" for i in host.ipv4_routes]
    _write(root / "proc/net/route", "\n".join(routes) + "\n")
    _write(root / "proc/net/ipv6_route", "")
    inet6 = ["00000000000000000000000000000001 01 80 10 80       lo"]
    for ifname, addr in host.if_inet6:
        idx = next(n.ifindex for n in host.nics if n.ifname == ifname)
        inet6.append(f"{addr} {idx:02x} 40 00 80 {ifname:>8}")
    _write(root / "proc/net/if_inet6", "\n".join(inet6) + "\n")
    return root


def add_function(root, host, pci, vendor, device, pci_class, node, root_port, group, physfn=None):
    d = device_dir(root, pci, root_port)
    for name, value in (("vendor", f"0x{vendor}"), ("device", f"0x{device}"), ("class", pci_class),
                        ("subsystem_vendor", f"0x{vendor}"), ("subsystem_device", "0x0001"),
                        ("numa_node", str(node)), ("driver_override", "(null)")):
        _write(d / name, value + "\n")
    _link(Path(root, "sys/bus/pci/devices", pci), d)
    if group is not None:
        g = Path(root, f"sys/kernel/iommu_groups/{group}")
        _link(g / "devices" / pci, d)
        _link(d / "iommu_group", g)
    if physfn:
        _link(d / "physfn", device_dir(root, physfn, root_port))
    return d


def _devdir(root, pci) -> Path:
    return Path(os.path.realpath(Path(root, "sys/bus/pci/devices", pci)))


def bind_links(root, pci, driver):
    d = _devdir(root, pci)
    _link(d / "driver", Path(root, "sys/bus/pci/drivers", driver))
    _link(Path(root, "sys/bus/pci/drivers", driver, pci), d)


def unbind_links(root, pci, driver):
    os.unlink(_devdir(root, pci) / "driver")
    os.unlink(Path(root, "sys/bus/pci/drivers", driver, pci))


def add_netdev(root, host, nic: FakeNic):
    d = _devdir(root, nic.pci) / "net" / nic.ifname
    attrs = {"ifindex": str(nic.ifindex), "address": nic.mac, "operstate": "up" if nic.up else "down",
             "flags": IFF_UP_FLAGS if nic.up else IFF_DOWN_FLAGS, "mtu": "1500"}
    if nic.up:  # the kernel refuses to show carrier and speed of a down link
        attrs.update(carrier="1", speed=str(nic.speed))
    for name, value in attrs.items():
        _write(d / name, value + "\n")
    _link(d / "device", _devdir(root, nic.pci))
    _link(Path(root, "sys/class/net", nic.ifname), d)


def remove_netdevs(root, pci):
    net = _devdir(root, pci) / "net"
    for d in sorted(net.iterdir()) if net.is_dir() else ():
        os.unlink(Path(root, "sys/class/net", d.name))
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    if net.is_dir():
        net.rmdir()


def vf_address(pf: str, offset: int, stride: int, i: int) -> str:
    dom, bus, rest = pf.split(":")
    dev, fn = rest.split(".")
    rid = (int(bus, 16) << 8) + (int(dev, 16) << 3) + int(fn) + offset + i * stride
    return f"{dom}:{rid >> 8:02x}:{(rid >> 3) & 0x1f:02x}.{rid & 7}"


def add_vf(root, host, nic: FakeNic, i: int):
    vf = vf_address(nic.pci, nic.vf_offset, nic.vf_stride, i)
    add_function(root, host, vf, nic.vendor, nic.vf_device, nic.pci_class, nic.node, nic.root_port,
                 100 + i if host.iommu else None, physfn=nic.pci)
    _link(_devdir(root, nic.pci) / f"virtfn{i}", _devdir(root, vf))


def remove_vf(root, host, nic: FakeNic, i: int):
    vf = vf_address(nic.pci, nic.vf_offset, nic.vf_stride, i)
    d = _devdir(root, vf)
    drv = sysfs.link_name(str(root), f"sys/bus/pci/devices/{vf}/driver")
    if drv:
        unbind_links(root, vf, drv)
    os.unlink(_devdir(root, nic.pci) / f"virtfn{i}")
    os.unlink(Path(root, "sys/bus/pci/devices", vf))
    group = Path(root, f"sys/kernel/iommu_groups/{100 + i}")
    if group.is_dir():
        os.unlink(group / "devices" / vf)
        (group / "devices").rmdir()
        group.rmdir()
    for f in d.iterdir():
        f.unlink()
    d.rmdir()


# ---------------------------------------------------------------- the kernel's part

def _oserror(code, path):
    return OSError(code, os.strerror(code), str(path))


class FakeKernel:
    """Stands in for sysfs_attr.write_attr. `writes` lists (path relative to root, value);
    with log_path each write is also appended there (survives the process).
    fail: {relative path: errno} fails the next write there, once."""

    def __init__(self, root, host: FakeHost, log_path=None, fail=None):
        self.root, self.host = Path(root), host
        self.writes: list[tuple[str, str]] = []
        self.log_path = log_path
        self.fail = dict(fail or {})

    def install(self, monkeypatch=None):
        if monkeypatch is not None:
            monkeypatch.setattr(sysfs_attr, "write_attr", self.write)
        else:
            sysfs_attr.write_attr = self.write
        return self

    def write(self, root, rel, value):
        assert Path(root) == self.root, f"write under {root}, not the fake tree {self.root}"
        self.writes.append((rel, value))
        if self.log_path:
            with open(self.log_path, "a") as fh:
                fh.write(json.dumps([rel, value]) + "\n")
        if rel in self.fail:
            raise _oserror(self.fail.pop(rel), rel)
        path = self.root / rel
        if not path.exists():
            raise _oserror(errno.ENOENT, rel)
        parts = rel.split("/")
        if rel == "sys/bus/pci/drivers_probe":
            return self._probe(value.strip())
        if parts[:4] == ["sys", "bus", "pci", "drivers"] and parts[-1] == "unbind":
            return self._unbind(value.strip(), parts[4])
        if parts[:4] == ["sys", "bus", "pci", "devices"] and parts[-1] == "driver_override":
            name = value.strip()
            path.write_text((name or "(null)") + "\n")
            return None
        if parts[:4] == ["sys", "bus", "pci", "devices"] and parts[-1] == "sriov_numvfs":
            return self._numvfs(parts[4], value.strip())
        if parts[-1] == "nr_hugepages":
            return self._hugepages(rel, int(value))
        path.write_text(value if value.endswith("\n") else value + "\n")
        return None

    def _driver(self, pci):
        return sysfs.link_name(str(self.root), f"sys/bus/pci/devices/{pci}/driver")

    def _unbind(self, pci, driver):
        if self._driver(pci) != driver:
            raise _oserror(errno.ENODEV, f"sys/bus/pci/drivers/{driver}/unbind")
        pf = next((n for n in self.host.nics if n.pci == pci), None)
        remove_netdevs(self.root, pci)
        unbind_links(self.root, pci, driver)
        if pf and pf.sriov_total:  # a PF driver going away disables SR-IOV
            for i in reversed(range(int((_devdir(self.root, pci) / "sriov_numvfs").read_text()))):
                remove_vf(self.root, self.host, pf, i)
            (_devdir(self.root, pci) / "sriov_numvfs").write_text("0\n")

    def _probe(self, pci):
        if not Path(self.root, "sys/bus/pci/devices", pci).exists():
            raise _oserror(errno.ENODEV, "sys/bus/pci/drivers_probe")
        if self._driver(pci):
            return None
        override = (_devdir(self.root, pci) / "driver_override").read_text().strip()
        nic = next((n for n in self.host.nics if n.pci == pci), None)
        want = override if override != "(null)" else (nic.driver if nic else None)
        if want and Path(self.root, "sys/bus/pci/drivers", want).is_dir():
            bind_links(self.root, pci, want)
            if nic and want == nic.driver and want in NET_DRIVERS and nic.ifname:
                add_netdev(self.root, self.host, nic)
        return None

    def _hugepages(self, rel, want):
        """A node's pool grows or shrinks by free pages; the system-wide pool is the
        sum of the nodes' (a write there is spread over the nodes, node 0 first)."""
        size = rel.split("/")[-2]
        nodes = sorted(self.root.glob(f"sys/devices/system/node/node*/hugepages/{size}"))
        if rel.startswith("sys/kernel/mm/"):
            delta = want - sum(int((d / "nr_hugepages").read_text()) for d in nodes)
            for d in nodes:
                if delta == 0:
                    break
                step = delta if delta > 0 else -min(-delta, int((d / "free_hugepages").read_text()))
                self._grow(d, step)
                delta -= step
        else:
            d = self.root / rel.rsplit("/", 1)[0]
            now, free = int((d / "nr_hugepages").read_text()), int((d / "free_hugepages").read_text())
            self._grow(d, max(want - now, -free))  # pages in use cannot be taken back
        g = self.root / f"sys/kernel/mm/hugepages/{size}"
        for name in ("nr_hugepages", "free_hugepages"):
            (g / name).write_text(f"{sum(int((d / name).read_text()) for d in nodes)}\n")

    @staticmethod
    def _grow(d, step):
        for name in ("nr_hugepages", "free_hugepages"):
            (d / name).write_text(f"{int((d / name).read_text()) + step}\n")

    def _numvfs(self, pci, value):
        nic = self.host.nic(pci)
        path = _devdir(self.root, pci) / "sriov_numvfs"
        now, want = int(path.read_text()), int(value)
        if not self._driver(pci):
            raise _oserror(errno.ENOENT, path)
        if want > nic.sriov_total:
            raise _oserror(errno.ERANGE, path)
        if now and want and now != want:
            raise _oserror(errno.EBUSY, path)
        for i in range(now, want):
            add_vf(self.root, self.host, nic, i)
        for i in reversed(range(want, now)):
            remove_vf(self.root, self.host, nic, i)
        path.write_text(f"{want}\n")
        return None


def snapshot(root) -> dict[str, tuple]:
    """Every file (bytes), symlink (target) and directory under root."""
    out = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", p.read_bytes())
    return out


# ---------------------------------------------------------------- a PF's netlink

class FakeVfNetlink:
    """Stands in for sriov.VfNetlink: a PF with ifindex 7 and its VFs' settings, applying each set."""

    def __init__(self, vfs, index=7, fail=None):
        self.index, self.vfs, self.calls, self.fail = index, vfs, [], fail

    def read(self, pf_ifname):
        self.calls.append(("read", pf_ifname))
        return self.index, json.loads(json.dumps(self.vfs), object_hook=lambda d: {
            int(k) if k.isdigit() else k: v for k, v in d.items()})

    def set(self, index, request):
        self.calls.append(("set", index, json.loads(json.dumps(request))))
        if self.fail:
            from pyroute2.netlink.exceptions import NetlinkError
            raise NetlinkError(self.fail)
        s = self.vfs[request["vf"]]
        for k, v in request.items():
            if k == "vlan":
                s.update(vlan=v["vlan"], qos=v["qos"])
            elif k in ("spoofchk", "trust"):
                s[k] = bool(v)
            elif k != "vf":
                s[k] = v

    def sets(self):
        return [c for c in self.calls if c[0] == "set"]


def vf_table():
    return {i: {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoofchk": True, "trust": False} for i in range(4)}
