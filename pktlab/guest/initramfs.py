"""What goes into the guest's initramfs, byte for byte the same on every build.

A `Cpio` collects entries (directories, files, symlinks, device nodes) and
writes them as a "newc" archive in sorted order with owner 0:0, one fixed mtime
and inode numbers counted from 1, so the same inputs give the same bytes;
`gzip_bytes` compresses without a file name and with a zero timestamp (what
`gzip -n` does). `module_order` loads kernel modules dependencies first, from
the `depends=` each .ko carries. `init_script` writes the guest's /init, which
sets up one forwarder and prints READY or FAILED on the serial console.
"""
from __future__ import annotations

import graphlib
import gzip
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

READY = "PKTLAB-GUEST-READY"
FAILED = "PKTLAB-GUEST-FAILED"

# Per forwarder, the modules /init loads (HOST-NOTES order; dependencies are
# checked against each module's own depends= at build time).
MODULES = {
    "bridge": ("virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
               "failover", "net_failover", "virtio_net", "llc", "stp", "bridge"),
    "tc": ("virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
           "failover", "net_failover", "virtio_net", "sch_ingress", "act_mirred", "cls_matchall"),
    # DPDK drives the NICs itself: no virtio_pci, so nothing claims them before uio_pci_generic
    "testpmd": ("uio", "uio_pci_generic"),
}
FORWARDERS = tuple(MODULES)
GUEST_HUGEPAGES = 128  # 2 MB pages testpmd gets inside the guest (pktlab.hugepages=N overrides)


@dataclass(frozen=True)
class Entry:
    mode: int  # full st_mode: type and permission bits
    data: bytes = b""  # file contents or symlink target
    rdev: tuple[int, int] = (0, 0)


class Cpio:
    """An initramfs under construction; paths are absolute guest paths."""

    def __init__(self):
        self.entries: dict[str, Entry] = {}

    def _put(self, path: str, entry: Entry) -> None:
        p = _norm(path)
        self.dir(str(PurePosixPath(p).parent))
        old = self.entries.get(p)
        if old is not None and old != entry:
            raise ValueError(f"initramfs: {p} added twice with different contents")
        self.entries[p] = entry

    def dir(self, path: str, mode: int = 0o755) -> None:
        p = _norm(path)
        if p == ".":
            return
        old = self.entries.get(p)
        if old is not None:
            if not stat.S_ISDIR(old.mode):
                raise ValueError(f"initramfs: {p} is already a non-directory")
            return
        self.dir(str(PurePosixPath(p).parent))
        self.entries[p] = Entry(stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._put(path, Entry(stat.S_IFREG | mode, bytes(data)))

    def symlink(self, path: str, target: str) -> None:
        self._put(path, Entry(stat.S_IFLNK | 0o777, target.encode()))

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._put(path, Entry(stat.S_IFCHR | mode, rdev=(major, minor)))

    def host_path(self, path: str | os.PathLike, resolve_dirs: bool = True) -> str:
        """Copy a host file to the same guest path, keeping its chain of symlinks
        (shared libraries are found by soname and must stay one file: DPDK would
        load two copies of a library twice). Directory symlinks (merged /usr)
        are resolved, so /lib/x/y lands in /usr/lib/x/y. Returns the guest path."""
        p = Path(path)
        d = Path(os.path.realpath(p.parent)) if resolve_dirs else p.parent
        guest = d / p.name
        if p.is_symlink():
            target = os.readlink(p)
            self.symlink(str(guest), target)
            self.host_path(d / target if not os.path.isabs(target) else target)
        else:
            st = p.stat()
            self.file(str(guest), p.read_bytes(), stat.S_IMODE(st.st_mode) & 0o755)
        return str(guest)

    def to_bytes(self, mtime: int = 0) -> bytes:
        """The newc archive: sorted paths, so parents come before children."""
        out = bytearray()
        root = {".": Entry(stat.S_IFDIR | 0o755)}  # DPDK refuses a world-writable /
        for ino, (path, e) in enumerate([*root.items(), *sorted(self.entries.items())], start=1):
            nlink = 2 if stat.S_ISDIR(e.mode) else 1
            out += _header(ino, e.mode, nlink, mtime, len(e.data), e.rdev, path)
            out += e.data
            out += b"\0" * (-len(out) % 4)
        out += _header(0, 0, 1, 0, 0, (0, 0), "TRAILER!!!")
        out += b"\0" * (-len(out) % 512)
        return bytes(out)


def _norm(path: str) -> str:
    p = PurePosixPath("/" + str(path).lstrip("/"))
    if ".." in p.parts:
        raise ValueError(f"initramfs: {path}: '..' is not allowed")
    rel = str(p.relative_to("/"))
    return rel or "."


def _header(ino, mode, nlink, mtime, size, rdev, name) -> bytes:
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1], len(name) + 1, 0)
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    return head + b"\0" * (-len(head) % 4)


def gzip_bytes(data: bytes, level: int = 9) -> bytes:
    """gzip -n: no file name, zero timestamp; the same input gives the same output."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def read_cpio(data: bytes) -> dict[str, dict]:
    """Parse a newc archive (for tests and `pktlab guest build --list`)."""
    out, off = {}, 0
    while True:
        h = data[off:off + 110]
        if h[:6] != b"070701":
            raise ValueError(f"cpio: bad magic at offset {off}")
        f = [int(h[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        namesize, size = f[11], f[6]
        name = data[off + 110:off + 110 + namesize - 1].decode()
        off += 110 + namesize
        off += -off % 4
        if name == "TRAILER!!!":
            return out
        out[name] = {"ino": f[0], "mode": f[1], "uid": f[2], "gid": f[3], "mtime": f[5],
                     "data": data[off:off + size], "rdev": (f[9], f[10])}
        off += size
        off += -off % 4


# --- kernel modules -------------------------------------------------------------


def module_depends(ko: bytes) -> list[str]:
    """The `depends=` of a .ko, from its .modinfo section (NUL-separated key=value)."""
    import io

    from elftools.elf.elffile import ELFFile

    sec = ELFFile(io.BytesIO(ko)).get_section_by_name(".modinfo")
    if sec is None:
        raise ValueError("not a kernel module: no .modinfo section")
    for item in sec.data().split(b"\0"):
        if item.startswith(b"depends="):
            return [d for d in item[8:].decode().split(",") if d]
    return []


def module_order(wanted, depends: dict[str, list[str]]) -> list[str]:
    """Load order for `wanted` (and what they need): every module after its
    dependencies (graphlib's topological order). Raises ValueError if a dependency
    is unknown or the graph has a cycle."""
    graph = graphlib.TopologicalSorter()
    todo, seen = [(name, "the forwarder") for name in wanted], set()
    while todo:
        name, needed_by = todo.pop(0)
        if name in seen:
            continue
        if name not in depends:
            raise ValueError(f"module {name} (needed by {needed_by}) not found")
        seen.add(name)
        graph.add(name, *depends[name])
        todo += [(dep, name) for dep in depends[name]]
    try:
        return list(graph.static_order())
    except graphlib.CycleError as e:
        raise ValueError(f"module dependency cycle: {' -> '.join(reversed(e.args[1]))}") from None


# --- /init --------------------------------------------------------------------

_COMMON = r"""#!/bin/sh
# pktlab guest /init (forwarder: @FWD@). Sets up the forwarder between the two
# NICs and prints @READY@ or @FAILED@ on the serial console.
# Kernel command line knobs: pktlab.nics=N (NICs expected, default 2),
# pktlab.hugepages=N (testpmd: 2 MB pages, default @HP@), pktlab.wait=S (NIC wait, default 20),
# pktlab.debug=1 (testpmd: its output on the console too).
export PATH=/usr/sbin:/usr/bin:/bin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
mkdir -p /tmp /run /var/run
FWD=@FWD@
NICS=2
HP=@HP@
WAIT=20
DEBUG=0
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        pktlab.nics=*) NICS="${arg#*=}" ;;
        pktlab.hugepages=*) HP="${arg#*=}" ;;
        pktlab.wait=*) WAIT="${arg#*=}" ;;
        pktlab.debug=*) DEBUG="${arg#*=}" ;;
    esac
done
say() { echo "pktlab-guest: $*"; }
fail() {
    echo "@FAILED@ forwarder=$FWD reason=$*"
    sleep 1
    poweroff -f
    while :; do sleep 3600; done
}
hold() { while :; do sleep 3600; done; }
say "up after $(cut -d' ' -f1 /proc/uptime) s, forwarder $FWD, $(nproc) vCPU, $(grep MemTotal /proc/meminfo | tr -s ' ')"
# the guest must not talk on the test links (IPv6 DAD, router solicitations)
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
for m in @MODULES@; do
    insmod /usr/lib/modules/$m.ko || fail "insmod $m failed"
done
say "modules loaded: @MODULES@"
"""

_NETDEV_NICS = r"""
n=0
while :; do
    set -- $(ls /sys/class/net | grep -v '^lo$' | sort)
    [ $# -ge "$NICS" ] && break
    [ $n -ge $((WAIT * 10)) ] && fail "expected $NICS NICs, found $# ($*) after $WAIT s"
    n=$((n + 1)); sleep 0.1
done
[ $# -eq "$NICS" ] || fail "expected $NICS NICs, found $# ($*)"
[ "$NICS" -eq 2 ] || fail "the $FWD forwarder needs exactly 2 NICs, pktlab.nics=$NICS"
A=$1; B=$2
for i in $A $B; do say "nic $i mac=$(cat /sys/class/net/$i/address) pci=$(basename $(readlink -f /sys/class/net/$i/device/..))"; done
"""

_BRIDGE = r"""
ip link add br0 type bridge || fail "ip link add br0 type bridge failed"
echo 0 > /sys/class/net/br0/bridge/multicast_snooping
echo 0 > /sys/class/net/br0/bridge/stp_state
for i in $A $B; do
    ip link set $i master br0 || fail "ip link set $i master br0 failed"
    # a hub: no learning, every frame floods to the other port
    echo 0 > /sys/class/net/$i/brport/learning || fail "cannot turn learning off on $i"
    ip link set $i up || fail "ip link set $i up failed"
done
ip link set br0 up || fail "ip link set br0 up failed"
n=0
while :; do  # ports forward once the bridge is up and the NICs have carrier
    sa=$(cat /sys/class/net/$A/brport/state); sb=$(cat /sys/class/net/$B/brport/state)
    [ "$sa$sb" = 33 ] && break
    [ $n -ge $((WAIT * 10)) ] && fail "bridge ports not forwarding after $WAIT s: $A state $sa carrier $(cat /sys/class/net/$A/carrier), $B state $sb carrier $(cat /sys/class/net/$B/carrier) (3 = forwarding)"
    n=$((n + 1)); sleep 0.1
done
say "bridge br0: $A <-> $B, learning off, ports forwarding"
echo "@READY@ forwarder=$FWD nics=$A,$B"
hold
"""

_TC = r"""
TC=/usr/sbin/tc  # by path: busybox ash runs its own (much smaller) tc applet first
for i in $A $B; do
    ip link set $i up promisc on || fail "ip link set $i up promisc on failed"
done
for pair in "$A $B" "$B $A"; do
    set -- $pair
    $TC qdisc add dev $1 ingress || fail "tc qdisc add dev $1 ingress failed"
    $TC filter add dev $1 ingress matchall action mirred egress redirect dev $2 \
        || fail "tc filter add dev $1 ingress matchall mirred to $2 failed"
    $TC filter show dev $1 ingress | grep -q "mirred (Egress Redirect to device $2)" \
        || fail "tc filter on $1 does not redirect to $2: $($TC filter show dev $1 ingress | tr '\n' ' ')"
done
say "tc: $A <-> $B, ingress matchall + mirred egress redirect"
echo "@READY@ forwarder=$FWD nics=$A,$B"
hold
"""

_TESTPMD = r"""
set --
n=0
while :; do
    set --
    for d in /sys/bus/pci/devices/*; do
        case "$(cat $d/vendor):$(cat $d/device)" in
            0x1af4:0x1000|0x1af4:0x1041) set -- "$@" "${d##*/}" ;;
        esac
    done
    [ $# -ge "$NICS" ] && break
    [ $n -ge $((WAIT * 10)) ] && fail "expected $NICS virtio-net PCI devices, found $# ($*) after $WAIT s"
    n=$((n + 1)); sleep 0.1
done
[ $# -eq "$NICS" ] || fail "expected $NICS virtio-net PCI devices, found $# ($*)"
DEVS="$*"
echo "1af4 1000" > /sys/bus/pci/drivers/uio_pci_generic/new_id
echo "1af4 1041" > /sys/bus/pci/drivers/uio_pci_generic/new_id
for d in $DEVS; do
    drv=$(basename "$(readlink /sys/bus/pci/devices/$d/driver)")
    [ "$drv" = uio_pci_generic ] || fail "$d is bound to '$drv', not uio_pci_generic"
done
say "NICs $DEVS on uio_pci_generic"
echo "$HP" > /proc/sys/vm/nr_hugepages
got=$(cat /proc/sys/vm/nr_hugepages)
[ "$got" = "$HP" ] || fail "asked for $HP hugepages of 2 MB, got $got"
mkdir -p /dev/hugepages
mount -t hugetlbfs nodev /dev/hugepages || fail "mount hugetlbfs failed"
# one vCPU: the main lcore (asleep in read()) and the forwarding lcore share it
if [ "$(nproc)" -ge 2 ]; then LCORES="-l 0-1"; else LCORES="--lcores=0@0,1@0"; fi
ALLOW=""
for d in $DEVS; do ALLOW="$ALLOW -a $d"; done
say "dpdk-testpmd $LCORES -n 1 $ALLOW ... --forward-mode=io"
# Forwarding runs once testpmd's main thread sits in read() on stdin (its "Press
# enter to exit"); its own output to a file is block-buffered, so /init watches
# the thread instead. The FIFO is held open here, so that read() never returns.
mkfifo /run/testpmd.stdin
exec 3<>/run/testpmd.stdin
/usr/bin/dpdk-testpmd $LCORES -n 1 $ALLOW --huge-dir /dev/hugepages --file-prefix pktlab -- \
    --forward-mode=io --auto-start --nb-cores=1 --rxq=1 --txq=1 --rxd=1024 --txd=1024 \
    --burst=32 --total-num-mbufs=16384 --port-topology=paired --no-lsc-interrupt --disable-link-check \
    <&3 > /run/testpmd.log 2>&1 &
PID=$!
[ "$DEBUG" = 1 ] && { sleep 1; tail -f /run/testpmd.log; } &
n=0
while [ "$(cat /proc/$PID/wchan 2>/dev/null)" != pipe_read ]; do
    if ! kill -0 $PID 2>/dev/null; then
        tail -n 25 /run/testpmd.log
        fail "dpdk-testpmd exited before forwarding"
    fi
    [ $n -ge 1200 ] && { tail -n 25 /run/testpmd.log; fail "dpdk-testpmd not forwarding after 120 s"; }
    n=$((n + 1)); sleep 0.1
done
say "testpmd forwarding (io, 1 forwarding lcore, ports 0<->1) after $(cut -d' ' -f1 /proc/uptime) s"
echo "@READY@ forwarder=$FWD nics=$(echo $DEVS | tr ' ' ,)"
while kill -0 $PID 2>/dev/null; do sleep 2; done
tail -n 25 /run/testpmd.log
fail "dpdk-testpmd exited"
"""


def init_script(forwarder: str, modules: list[str], hugepages: int = GUEST_HUGEPAGES) -> str:
    """The /init for one forwarder. Plain text, so its hash is a build input."""
    if forwarder not in MODULES:
        raise ValueError(f"unknown forwarder {forwarder!r}; known: {', '.join(FORWARDERS)}")
    body = {"bridge": _NETDEV_NICS + _BRIDGE, "tc": _NETDEV_NICS + _TC, "testpmd": _TESTPMD}[forwarder]
    text = _COMMON + body
    for key, value in (("@FWD@", forwarder), ("@READY@", READY), ("@FAILED@", FAILED),
                       ("@MODULES@", " ".join(modules)), ("@HP@", str(hugepages))):
        text = text.replace(key, value)
    return text
