"""What the generator runs: its backend, ports, streams and EAL arguments.

Frozen and validated at construction; a bad value raises ValueError naming the
field. Template contents (Ethernet/IPv4/UDP layout) are checked again by the C
side when the worker creates the generator.

One engine, three I/O backends (the C side's PG_BACKEND_*), picked by
backend and kernel_mode: "dpdk" (ports are DPDK devices, EAL in the worker),
and on the "kernel" backend "afxdp" or "afpacket" (ports are interfaces the
kernel owns, "IFNAME" or "IFNAME@NETNS"; no EAL). What differs between them
is data in IO_BACKENDS, not code paths.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ..host.names import check_ifname, check_netns_name
from .template import FCS_LEN, MAX_FRAME_SIZE, MIN_FRAME_SIZE

MAX_PORTS = 8  # PG_MAX_PORTS
MAX_STREAMS = 16  # PG_MAX_STREAMS
MAX_BURST = 64  # PG_BURST_MAX
MAX_FLOWS = 1 << 24  # PG_MAX_FLOWS
MAX_FIELDS = 8  # PG_MAX_FIELDS
MAX_LCORES = 8  # PG_MAX_LCORES
# PG_FIELD_*: header words that step with the flow (addresses and ports of the frame that
# carries the stamp, VLAN IDs and the VNI of the outer one)
FIELDS = {"src_ip": 1, "dst_ip": 2, "src_port": 3, "dst_port": 4, "vlan": 5, "outer_vlan": 6, "vni": 7}
ORDERS = {"sequential": 0, "random": 1}  # PG_ORDER_*
# the old one-knob spelling: which source fields step with the flow
VARY = {"src_ip": ("src_ip",), "src_port": ("src_port",), "both": ("src_ip", "src_port")}

BACKENDS = ("dpdk", "kernel")
KERNEL_MODES = ("afpacket", "afxdp")
# AF_XDP is the faster kernel path on a veth here (bench/kernel_vs_trafgen.py,
# one core, 64 B): 1.10 vs 0.69 Mpps TX only, 0.77 vs 0.53 Mpps TX+RX in one
# loop. afpacket remains for frames over 3498 B and for interfaces that take
# no XDP program.
DEFAULT_KERNEL_MODE = "afxdp"
XSK_MAX_FRAME = 3494  # [B] template, room left for a tag; PG_XSK_MAX_FRAME - 4



@dataclass(frozen=True)
class IoBackend:
    """What one of the C engine's backends needs of a config."""

    c_id: int  # PG_BACKEND_*
    eal: bool  # DPDK's EAL runs in the worker: eal_args, -l, devices on its command line
    ports: str  # what GenConfig.ports hold, for messages
    ring_pow2: bool = False  # ring_size must be a power of two
    max_template: int = MAX_FRAME_SIZE - FCS_LEN  # [B]
    too_big: str = ""  # what to do about a template over max_template


_PCI = re.compile(r"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])$")
_LCORE_OPTS = ("-l", "-c", "--lcores")


@dataclass(frozen=True)
class StreamSpec:
    """One stream: frames of one template sent on tx_port, expected on rx_port.

    tx_port / rx_port index GenConfig.ports; rx_port None sends only (nothing is
    received or counted lost). The template is flow 0; flow g has the template's
    value + g % count in each field of fields ((name, count) pairs, names from
    FIELDS), one flow per frame, in order ("sequential" or "random": a fixed
    permutation, every flow once per `flows` frames). Without fields, flows
    step the source fields vary names, each over `flows` values."""

    tx_port: int
    rx_port: int | None
    template: bytes  # frame without FCS, see template.build_frame [B]
    flows: int = 1
    vary: str = "src_ip"  # src_ip, src_port or both; used when fields is empty
    weight: int = 1  # share of the frames among the streams: IMIX 7:4:1 is three streams
    # > 0: a latency stream, paced on its own at this rate [pps] beside the load (outside the
    # weights and the trial's rate); its latency is reported apart from the load's
    fixed_pps: float = 0.0
    fields: tuple[tuple[str, int], ...] = ()  # (field, count) that step with the flow
    order: str = "sequential"  # or "random"

    def __post_init__(self):
        if (not isinstance(self.fixed_pps, (int, float)) or isinstance(self.fixed_pps, bool)
                or not 0 <= self.fixed_pps < 1e9):
            raise ValueError(f"StreamSpec.fixed_pps: {self.fixed_pps!r} is not a rate in 0..1e9 pps")
        if not isinstance(self.weight, int) or not 1 <= self.weight <= 16:
            raise ValueError(f"StreamSpec.weight: {self.weight!r} is not 1..16")
        if not isinstance(self.tx_port, int) or self.tx_port < 0:
            raise ValueError(f"StreamSpec.tx_port: {self.tx_port!r} is not a port index")
        if self.rx_port is not None and (not isinstance(self.rx_port, int) or self.rx_port < 0):
            raise ValueError(f"StreamSpec.rx_port: {self.rx_port!r} is not a port index or None")
        if not isinstance(self.template, (bytes, bytearray)):
            raise ValueError(f"StreamSpec.template: need bytes, got {type(self.template).__name__}")
        lo, hi = MIN_FRAME_SIZE - FCS_LEN, MAX_FRAME_SIZE - FCS_LEN
        if not lo <= len(self.template) <= hi:
            raise ValueError(f"StreamSpec.template: {len(self.template)} B, need {lo}..{hi} "
                             f"(frame size {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE} without the FCS)")
        if not isinstance(self.flows, int) or not 1 <= self.flows <= MAX_FLOWS:
            raise ValueError(f"StreamSpec.flows: {self.flows!r} not in 1..{MAX_FLOWS}")
        if self.vary not in VARY:
            raise ValueError(f"StreamSpec.vary: {self.vary!r} not one of {', '.join(VARY)}")
        if self.order not in ORDERS:
            raise ValueError(f"StreamSpec.order: {self.order!r} not one of {', '.join(ORDERS)}")
        fields = tuple(tuple(f) for f in self.fields)
        object.__setattr__(self, "fields", fields)
        if len(fields) > MAX_FIELDS:
            raise ValueError(f"StreamSpec.fields: {len(fields)} fields, at most {MAX_FIELDS}")
        for name, count in fields:
            if name not in FIELDS:
                raise ValueError(f"StreamSpec.fields: {name!r} not one of {', '.join(FIELDS)}")
            if not isinstance(count, int) or not 1 <= count <= MAX_FLOWS:
                raise ValueError(f"StreamSpec.fields: {name} count {count!r} not in 1..{MAX_FLOWS}")
        if len({n for n, _ in fields}) != len(fields):
            raise ValueError(f"StreamSpec.fields: a field twice in {[n for n, _ in fields]}")

    @property
    def flow_fields(self) -> tuple[tuple[str, int], ...]:
        """(field, count) the C side steps: fields, or vary's over `flows` values; none for 1 flow."""
        if self.fields:
            return self.fields
        return () if self.flows == 1 else tuple((name, self.flows) for name in VARY[self.vary])

    @property
    def frame_size(self) -> int:
        """[B] on the wire."""
        return len(self.template) + FCS_LEN


@dataclass(frozen=True)
class GenConfig:
    """A generator process: backend, ports, streams, the cores it polls on.

    backend "dpdk": ports are DPDK device strings: vdev devargs
    ("net_virtio_user0,path=...", passed as --vdev) or PCI addresses
    ("0000:03:00.0", passed as -a). eal_args are the rest (memory, --in-memory,
    --file-prefix...); the worker adds -l <lcores> unless eal_args already say
    exactly that.

    lcores: the cores of the poll loops, one loop each, lcores[0] == core (the
    worker's own thread; DPDK: the main lcore); empty means (core,). Each loop
    sends rate / len(lcores) of the trial, taking every stream's flows f with
    f % len(lcores) == its index, so every stream needs flows >= len(lcores),
    and receives on queues of its own: DPDK a RX/TX queue pair per loop on
    every port (RSS where the device has it; pools are per loop, memory grows
    with the loops, see nb_mbufs); afpacket a TX ring per stream and loop and
    an RX ring per port and loop, in a fanout group that spreads flows by hash;
    afxdp a socket per device queue, so a port a loop sends on needs as many
    queues as loops (a veth has one unless made with numtxqueues/numrxqueues).

    backend "kernel": ports are kernel interfaces, "IFNAME" in the worker's
    namespace or "IFNAME@NETNS" (a namespace under /var/run/netns; the name
    ends at the first "@"); eal_args must be empty; the C side pins the
    worker to core. kernel_mode "afxdp" (default: faster) or "afpacket" (any
    frame size, any interface). ring_size is frames per ring (afxdp: a power
    of two); nb_mbufs is not used."""

    eal_args: tuple[str, ...]
    ports: tuple[str, ...]
    streams: tuple[StreamSpec, ...]
    core: int
    burst: int = 32  # [frames]
    nb_mbufs: int = 8191  # per pool [mbufs]; a pool per port and per stream, each times the loops
    ring_size: int = 1024  # RX and TX descriptors per queue
    backend: str = "dpdk"  # dpdk or kernel
    kernel_mode: str = DEFAULT_KERNEL_MODE  # kernel backend only: afxdp or afpacket
    lcores: tuple[int, ...] = ()  # cores of the poll loops, lcores[0] == core; () means (core,)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"GenConfig.backend: {self.backend!r} not one of {', '.join(BACKENDS)}")
        if self.kernel_mode not in KERNEL_MODES:
            raise ValueError(f"GenConfig.kernel_mode: {self.kernel_mode!r} not one of {', '.join(KERNEL_MODES)}")
        io = self.io
        if isinstance(self.eal_args, str) or not all(isinstance(a, str) for a in self.eal_args):
            raise ValueError(f"GenConfig.eal_args: need a tuple of strings, got {self.eal_args!r}")
        if not isinstance(self.core, int) or self.core < 0:
            raise ValueError(f"GenConfig.core: {self.core!r} is not a CPU number")
        if not io.eal and self.eal_args:
            raise ValueError(f"GenConfig.eal_args: {' '.join(self.eal_args)!r} given, but the {self.backend} backend "
                             "runs no EAL; leave them empty")
        self._check_lcores()
        given, want = lcore_option(self.eal_args), ",".join(map(str, self.loop_cores))
        if given is not None and given != ("-l", want):
            what = f"core={self.core}" if not self.lcores else f"lcores={self.lcores}"
            raise ValueError(f"GenConfig.eal_args: {' '.join(given)} conflicts with {what}; "
                             f"leave the lcore option out, the worker adds -l {want}")
        if isinstance(self.ports, str) or not 1 <= len(self.ports) <= MAX_PORTS:
            raise ValueError(f"GenConfig.ports: need 1..{MAX_PORTS} {io.ports}, got {self.ports!r}")
        names = self.port_names
        if len(set(names)) != len(names):
            raise ValueError(f"GenConfig.ports: the same port twice in {list(names)}")
        if not 1 <= len(self.streams) <= MAX_STREAMS:
            raise ValueError(f"GenConfig.streams: need 1..{MAX_STREAMS} streams, got {len(self.streams)}")
        if all(isinstance(s, StreamSpec) and s.fixed_pps > 0 for s in self.streams):
            raise ValueError("GenConfig.streams: every stream has a fixed_pps; latency streams go beside a load")
        for i, s in enumerate(self.streams):
            if not isinstance(s, StreamSpec):
                raise ValueError(f"GenConfig.streams[{i}]: not a StreamSpec")
            for field in ("tx_port", "rx_port"):
                p = getattr(s, field)
                if p is not None and p >= len(self.ports):
                    raise ValueError(f"GenConfig.streams[{i}].{field}: {p} but only "
                                     f"{len(self.ports)} ports")
            if s.flows < len(self.loop_cores):
                raise ValueError(f"GenConfig.streams[{i}].flows: {s.flows} for {len(self.loop_cores)} lcores; "
                                 "each flow is sent by one loop, so every loop needs one")
            if len(s.template) > io.max_template:
                raise ValueError(f"GenConfig.streams[{i}].template: {s.frame_size}-byte frames {io.too_big}")
        if not isinstance(self.burst, int) or not 1 <= self.burst <= MAX_BURST:
            raise ValueError(f"GenConfig.burst: {self.burst!r} not in 1..{MAX_BURST}")
        if not isinstance(self.ring_size, int) or not 64 <= self.ring_size <= 32768:
            raise ValueError(f"GenConfig.ring_size: {self.ring_size!r} not in 64..32768")
        if io.ring_pow2 and self.ring_size & (self.ring_size - 1):
            raise ValueError(f"GenConfig.ring_size: {self.ring_size} is not a power of two, "
                             f"which {self.io_name} rings need")
        need = self.ring_size + 2 * 256 + MAX_BURST  # see pg_dpdk_check
        if not isinstance(self.nb_mbufs, int) or self.nb_mbufs < need:
            raise ValueError(f"GenConfig.nb_mbufs: {self.nb_mbufs!r} < {need} (ring_size + caches)")

    @property
    def io_name(self) -> str:
        """The C engine's backend: dpdk, afpacket or afxdp."""
        return "dpdk" if self.backend == "dpdk" else self.kernel_mode

    @property
    def io(self) -> IoBackend:
        return IO_BACKENDS[self.io_name]

    def _check_lcores(self) -> None:
        lc = self.lcores
        if isinstance(lc, list):  # as TOML and JSON give it
            lc = tuple(lc)
            object.__setattr__(self, "lcores", lc)
        if not isinstance(lc, tuple) or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in lc):
            raise ValueError(f"GenConfig.lcores: need a tuple of CPU numbers, got {lc!r}")
        if not lc:
            return
        if lc[0] != self.core:
            raise ValueError(f"GenConfig.lcores: lcores[0] is {lc[0]}, but core is {self.core}; "
                             "the first loop runs on core (the EAL main lcore)")
        if len(set(lc)) != len(lc):
            raise ValueError(f"GenConfig.lcores: {lc} names a core twice")
        if len(lc) > MAX_LCORES:
            raise ValueError(f"GenConfig.lcores: {len(lc)} cores, at most {MAX_LCORES}")

    @property
    def loop_cores(self) -> tuple[int, ...]:
        """The cores the poll loops run on, the first one core."""
        return self.lcores or (self.core,)

    def to_dict(self) -> dict:
        """JSON-able form (templates in base64), as the worker receives it."""
        return {
            "eal_args": list(self.eal_args), "ports": list(self.ports), "core": self.core,
            "lcores": list(self.lcores),
            "burst": self.burst, "nb_mbufs": self.nb_mbufs, "ring_size": self.ring_size,
            "backend": self.backend, "kernel_mode": self.kernel_mode,
            "streams": [{"tx_port": s.tx_port, "rx_port": s.rx_port, "flows": s.flows, "vary": s.vary,
                         "weight": s.weight, "fixed_pps": s.fixed_pps,
                         "fields": [list(f) for f in s.fields], "order": s.order,
                         "template": base64.b64encode(s.template).decode()} for s in self.streams],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "GenConfig":
        streams = tuple(StreamSpec(tx_port=s["tx_port"], rx_port=s["rx_port"], flows=s["flows"],
                                   vary=s["vary"], template=base64.b64decode(s["template"]),
                                   weight=s.get("weight", 1), fixed_pps=s.get("fixed_pps", 0.0),
                                   fields=tuple(map(tuple, s.get("fields", ()))),
                                   order=s.get("order", "sequential"))
                        for s in d["streams"])
        return cls(eal_args=tuple(d["eal_args"]), ports=tuple(d["ports"]), streams=streams,
                   core=d["core"], burst=d["burst"], nb_mbufs=d["nb_mbufs"], ring_size=d["ring_size"],
                   backend=d.get("backend", "dpdk"), kernel_mode=d.get("kernel_mode", DEFAULT_KERNEL_MODE),
                   lcores=tuple(d.get("lcores", ())))

    @property
    def port_names(self) -> tuple[str, ...]:
        """Names the C side opens the ports by: ethdev names for rte_eth_dev_get_port_by_name,
        or for the kernel backend the ports as given ("IFNAME" or "IFNAME@NETNS");
        ValueError naming a port the backend would refuse."""
        return tuple(_PORT_NAME[self.backend](p) for p in self.ports)

    @property
    def kernel_ports(self) -> tuple[tuple[str, str | None], ...]:
        """(ifname, netns or None) of each port; kernel backend only."""
        if self.backend != "kernel":
            raise ValueError("GenConfig.kernel_ports: the ports are DPDK devices (backend 'dpdk')")
        return tuple(kernel_port(p) for p in self.ports)

    def eal_argv(self, prog: str = "pktlab-gen") -> list[str]:
        """The full EAL command line: program, lcores, caller's arguments, devices."""
        argv = [prog]
        cores = self.loop_cores
        if lcore_option(self.eal_args) is None:
            argv += ["-l", ",".join(map(str, cores))]
        if cores[0] != min(cores) and not any(a.startswith("--main-lcore") for a in self.eal_args):
            # EAL's main lcore is the lowest in -l by default; loop 0 runs on it
            argv += ["--main-lcore", str(cores[0])]
        argv += list(self.eal_args)
        for p in self.ports:
            argv += device_args(p)
        return argv


def kernel_port(port: str) -> tuple[str, str | None]:
    """("veth0", "ns") for "veth0@ns", ("veth0", None) for "veth0"; ValueError naming
    the port if either name is one the kernel (or /var/run/netns) would refuse."""
    if not isinstance(port, str):
        raise ValueError(f"GenConfig.ports: {port!r} is not a string")
    ifname, at, netns = port.partition("@")
    reason = check_ifname(ifname)
    if reason is None and at:
        reason = check_netns_name(netns)
    if reason:
        raise ValueError(f"GenConfig.ports: {port!r}: {reason} (a kernel port is IFNAME or IFNAME@NETNS)")
    return ifname, (netns if at else None)


def is_pci(port: str) -> bool:
    return _PCI.match(port.split(",", 1)[0]) is not None


def ethdev_name(port: str) -> str:
    """ethdev name of a device string: the vdev name, or the PCI address with its domain."""
    dev = port.split(",", 1)[0]
    m = _PCI.match(dev)
    if m:
        return f"{(m.group(1) or '0000').lower()}:{m.group(2).lower()}"
    return dev


def device_args(port: str) -> list[str]:
    return ["-a", port] if is_pci(port) else [f"--vdev={port}"]


def _kernel_port_name(port: str) -> str:
    kernel_port(port)
    return port


_PORT_NAME = {"dpdk": ethdev_name, "kernel": _kernel_port_name}

IO_BACKENDS = {
    "dpdk": IoBackend(c_id=0, eal=True, ports="device strings"),
    "afpacket": IoBackend(c_id=1, eal=False, ports="interface names"),
    "afxdp": IoBackend(c_id=2, eal=False, ports="interface names", ring_pow2=True, max_template=XSK_MAX_FRAME,
                       too_big=f"do not fit an AF_XDP buffer; use kernel_mode='afpacket' for frames over "
                               f"{XSK_MAX_FRAME + FCS_LEN} B"),
}


def lcore_option(eal_args) -> tuple[str, ...] | None:
    """The lcore option in eal_args, normalised to ("-l", value) etc., or None."""
    args = list(eal_args)
    for i, a in enumerate(args):
        for opt in _LCORE_OPTS:
            if a == opt:
                return (opt, args[i + 1] if i + 1 < len(args) else "")
            if opt.startswith("--") and a.startswith(opt + "="):
                return (opt, a.split("=", 1)[1])
            if not opt.startswith("--") and a.startswith(opt) and len(a) > len(opt):
                return (opt, a[len(opt):])
    return None
