"""The scenario's own tables: hugepages, cores, traffic and method. Each data path
kind's table (its options) lives next to its data path in pktlab/datapaths."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..units import DEFAULT_LINK_SPEED, parse_link_speed
from .checks import IMIX, MAC, MAX_FRAME, MIN_FRAME, Invalid
from .flowspec import MAX_FLOWS, FieldRange, check_flows, parse_fields

ENCAPS = ("none", "vlan", "qinq", "vxlan")
# bytes around the UDP payload (FCS included), by encapsulation and IP version: the
# smallest frame_size that leaves the 18-byte stamp its room is this + 18
_HEADERS = {"none": 14, "vlan": 18, "qinq": 22, "vxlan": 14 + 20 + 8 + 8 + 14}


@dataclass(frozen=True)
class Hugepages:
    """Hugepages reserved for the run and returned afterwards."""

    count: int  # pages
    size: str = "2M"  # "2M" or "1G"

    @property
    def size_kb(self) -> int:
        return 2048 if self.size == "2M" else 1048576

    @property
    def total_mb(self) -> int:
        return self.count * self.size_kb // 1024

    def check(self):
        if self.size not in ("2M", "1G"):
            raise Invalid("size", f"must be \"2M\" or \"1G\", not {self.size!r}")
        if self.count < 1:
            raise Invalid("count", "must be at least 1")


@dataclass(frozen=True)
class Cpu:
    """Core placement. On two cores the OVS PMD and the generator each need one
    of their own: two busy pollers on one core starve each other. Loopback paths
    need `generator`; lab paths (physical NICs) place what is not given here on
    the NICs' NUMA nodes."""

    generator: int | None = None  # core the generator's poll loop runs on
    ovs_pmd: tuple[int, ...] = ()  # cores for OVS-DPDK PMD threads (pmd-cpu-mask)
    ovs_lcore: int | None = None  # core for OVS's non-PMD threads (dpdk-lcore-mask)

    def check(self):
        for key, cores in (("generator", [] if self.generator is None else [self.generator]),
                           ("ovs_pmd", self.ovs_pmd),
                           ("ovs_lcore", [] if self.ovs_lcore is None else [self.ovs_lcore])):
            if any(c < 0 for c in cores):
                raise Invalid(key, "core numbers are >= 0")
        if len(set(self.ovs_pmd)) != len(self.ovs_pmd):
            raise Invalid("ovs_pmd", "lists a core twice")
        if self.generator is not None and self.generator in self.ovs_pmd:
            raise Invalid("generator", f"core {self.generator} is also an OVS PMD core; "
                           "two busy pollers on one core starve each other")


@dataclass(frozen=True)
class Traffic:
    """What the generator sends. frame_size is on the wire, FCS included (the whole
    frame: tags and a VXLAN underlay count), and L1/L2 rates in results use it.

    encap: "none"; "vlan" (an 802.1Q tag, VLAN ID `vlan`); "qinq" (802.1ad S-tag
    `outer_vlan`, then C-tag `vlan`); "vxlan" (Ethernet/IPv4/UDP 4789/VXLAN `vni`
    from the VTEP addresses, carrying the frame the other keys describe; `vlan`
    then tags the underlay). ip_version 6 sends UDP over IPv6 (src_ip6/dst_ip6).
    Flows: `flow_fields` varies several fields at once (see scenario/flowspec.py),
    in `flow_order`; without it `vary` steps the source address and/or port."""

    frame_size: int = 64  # [B]
    frame_sizes: tuple[int | str, ...] = ()  # a sweep, one run per size; "imix" for IMIX 7:4:1
    imix: bool = False  # send IMIX 7:4:1 (64/570/1518 B); results name it by its mean size
    flows: int = 1  # 1..16777216
    vary: str | None = None  # without flow_fields: src_ip (unset), src_port or both, over `flows` values
    flow_fields: dict = field(default_factory=dict)  # field -> range, see scenario/flowspec.py
    flow_order: str = "sequential"  # or "random": a fixed permutation, every flow once per `flows` frames
    encap: str = "none"  # none, vlan, qinq or vxlan
    vlan: int | None = None  # 802.1Q VLAN ID (qinq: the C-tag; vxlan: a tag on the underlay)
    outer_vlan: int | None = None  # qinq: the 802.1ad S-tag's VLAN ID
    vni: int | None = None  # vxlan: VXLAN network identifier, 24 bits
    vtep_src_ip: str = "192.0.2.1"  # vxlan underlay (outer IPv4) addresses, RFC 5737 TEST-NET-1
    vtep_dst_ip: str = "192.0.2.2"
    vtep_src_mac: str = "02:00:00:00:01:01"  # vxlan underlay (outer Ethernet) addresses
    vtep_dst_mac: str = "02:00:00:00:01:02"
    ip_version: int = 4  # 4 or 6: the (inner) IP header
    src_ip6: str = "2001:2::1"  # ip_version 6: RFC 5180 benchmarking prefix 2001:2::/48
    dst_ip6: str = "2001:2:0:1::1"
    direction: str = "bidirectional"  # or unidirectional (port 0 -> port 1 only)
    # one port's link speed, "10G" (1G, 10G, 25G, 40G, 50G, 100G, 200G or 400G): the line-rate
    # reference of loopback paths (unset: 10G); lab paths read their NICs' speed, and use this
    # only where a NIC does not show one (its link is down), refusing it where it disagrees
    link_speed: str | None = None
    src_mac: str = "02:00:00:00:00:01"
    dst_mac: str = "02:00:00:00:00:02"
    src_ip: str = "198.18.0.1"  # RFC 2544 benchmarking range
    dst_ip: str = "198.19.0.1"
    src_port: int = 1024
    # Not 4789 (VXLAN's IANA port): a DUT or capture tool that parses tunnels would take
    # the test frames for VXLAN. 1024 -> 1024 as CSIT's TRex profiles send.
    dst_port: int = 1024

    def check(self):
        if not MIN_FRAME <= self.frame_size <= MAX_FRAME:
            raise Invalid("frame_size", f"{self.frame_size} is outside {MIN_FRAME}-{MAX_FRAME} bytes")
        for size in self.frame_sizes:
            if size == "imix":
                continue
            if isinstance(size, str) or not MIN_FRAME <= size <= MAX_FRAME:
                raise Invalid("frame_sizes", f"{size!r} is neither \"imix\" nor a size in "
                                              f"{MIN_FRAME}-{MAX_FRAME} bytes")
        if len(set(self.frame_sizes)) != len(self.frame_sizes):
            raise Invalid("frame_sizes", "lists a size twice")

        if not 1 <= self.flows <= MAX_FLOWS:
            raise Invalid("flows", f"must be between 1 and {MAX_FLOWS}")
        if self.vary is not None and self.vary not in ("src_ip", "src_port", "both"):
            raise Invalid("vary", f"must be src_ip, src_port or both, not {self.vary!r}")
        self._check_frame()
        if self.direction not in ("bidirectional", "unidirectional"):
            raise Invalid("direction", f"must be bidirectional or unidirectional, not {self.direction!r}")
        if self.link_speed is not None:
            try:
                parse_link_speed(self.link_speed)
            except ValueError as e:
                raise Invalid("link_speed", str(e)) from None
        for key in ("src_mac", "dst_mac"):
            if not MAC.match(getattr(self, key)):
                raise Invalid(key, f"{getattr(self, key)!r} is not a MAC address")
        for key in ("src_ip", "dst_ip"):
            try:
                ipaddress.IPv4Address(getattr(self, key))
            except ValueError:
                raise Invalid(key, f"{getattr(self, key)!r} is not an IPv4 address") from None
        for key in ("src_port", "dst_port"):
            if not 1 <= getattr(self, key) <= 65535:
                raise Invalid(key, "must be a UDP port 1-65535")
        self._check_flows()

    def _check_frame(self):
        if self.encap not in ENCAPS:
            raise Invalid("encap", f"must be one of {', '.join(ENCAPS)}, not {self.encap!r}")
        if self.ip_version not in (4, 6):
            raise Invalid("ip_version", f"must be 4 or 6, not {self.ip_version!r}")
        tagged = self.encap in ("vlan", "qinq") or self.encap == "vxlan" and self.vlan is not None
        for key, need, given in (("vlan", self.encap in ("vlan", "qinq"), self.vlan),
                                 ("outer_vlan", self.encap == "qinq", self.outer_vlan),
                                 ("vni", self.encap == "vxlan", self.vni)):
            if need and given is None:
                raise Invalid(key, f"missing: encap {self.encap!r} needs it")
            if given is not None and not need and not (key == "vlan" and tagged):
                raise Invalid(key, f"given, but encap is {self.encap!r}: the frames have no "
                                   f"{'VXLAN header' if key == 'vni' else 'such tag'}")
        for key in ("vlan", "outer_vlan"):
            v = getattr(self, key)
            if v is not None and not 1 <= v <= 4094:
                raise Invalid(key, f"VLAN ID {v} out of range: 1-4094 (0 and 4095 are reserved)")
        if self.vni is not None and not 0 <= self.vni < 1 << 24:
            raise Invalid("vni", f"VNI {self.vni} is over 24 bits: 0-16777215")
        for key in ("vtep_src_mac", "vtep_dst_mac"):
            if not MAC.match(getattr(self, key)):
                raise Invalid(key, f"{getattr(self, key)!r} is not a MAC address")
        for key, version in (("vtep_src_ip", 4), ("vtep_dst_ip", 4), ("src_ip6", 6), ("dst_ip6", 6)):
            try:
                ipaddress.ip_address(getattr(self, key))
                assert ipaddress.ip_address(getattr(self, key)).version == version
            except (ValueError, AssertionError):
                raise Invalid(key, f"{getattr(self, key)!r} is not an IPv{version} address") from None
        need = self.min_frame_size
        for size in self.sizes:
            small = min(s for s, _ in IMIX) if size == "imix" else size
            if small < need:
                raise Invalid("frame_sizes" if self.frame_sizes else "frame_size",
                              f"{small}-byte frames leave no room for the 18-byte stamp in "
                              f"{self.shape_name} frames: they need frame_size >= {need}")

    def _check_flows(self):
        if self.flow_fields:
            if self.vary is not None:
                raise Invalid("vary", "give either vary or flow_fields, not both")
            if self.flows == 1:
                raise Invalid("flows", "flow_fields given, but flows is 1: set how many flows")
        if self.flow_order not in ("sequential", "random"):
            raise Invalid("flow_order", f"must be sequential or random, not {self.flow_order!r}")
        ranges = self.flow_ranges
        check_flows(self.flows, ranges)
        base = {"src_ip": self.src_ip if self.ip_version == 4 else self.src_ip6, "src_port": self.src_port}
        for r in ranges if not self.flow_fields else ():  # vary: from the fixed source fields
            top = int(ipaddress.ip_address(base[r.field])) + self.flows - 1
            if r.field == "src_port" and top > 65535 or top >> 32 != int(ipaddress.ip_address(base[r.field])) >> 32:
                raise Invalid("flows", f"{r.field} {base[r.field]} + {self.flows} flows runs past "
                                       f"{'65535' if r.field == 'src_port' else 'its last 32 bits'}")

    @property
    def flow_ranges(self) -> tuple[FieldRange, ...]:
        """The varied fields: flow_fields, or vary's source fields over `flows` values."""
        if self.flow_fields:
            why = {"vlan": None if self.encap in ("vlan", "qinq") or self.vlan is not None else
                   f"the frames have no VLAN tag (encap is {self.encap!r})",
                   "outer_vlan": None if self.encap == "qinq" else
                   f"the frames have no outer (802.1ad) tag (encap is {self.encap!r}, QinQ has one)",
                   "vni": None if self.encap == "vxlan" else
                   f"the frames have no VXLAN header (encap is {self.encap!r})"}
            return parse_fields(self.flow_fields, self.ip_version, why)
        if self.flows == 1:
            return ()
        src = self.src_ip if self.ip_version == 4 else self.src_ip6
        first = {"src_ip": src, "src_port": self.src_port}
        names = {"src_ip": ("src_ip",), "src_port": ("src_port",), "both": ("src_ip", "src_port")}
        return tuple(FieldRange(n, first[n], self.flows) for n in names[self.vary or "src_ip"])

    @property
    def shape_name(self) -> str:
        """The frames' shape for messages and results: "IPv4/UDP", "802.1Q/IPv6/UDP", "VXLAN/IPv4/UDP"."""
        outer = {"none": "", "vlan": "802.1Q/", "qinq": "QinQ/", "vxlan": "VXLAN/"}[self.encap]
        return f"{outer}IPv{self.ip_version}/UDP"

    @property
    def min_frame_size(self) -> int:
        """Smallest frame_size [B] with room for the stamp in these frames."""
        head = _HEADERS[self.encap] + (4 if self.encap == "vxlan" and self.vlan is not None else 0)
        return head + (20 if self.ip_version == 4 else 40) + 8 + 18 + 4

    @property
    def link_bps(self) -> float:
        """One port's link speed [bit/s]: link_speed, 10G when unset."""
        return parse_link_speed(self.link_speed or DEFAULT_LINK_SPEED)

    @property
    def sizes(self) -> tuple[int | str, ...]:
        """The frame sizes to run, in order ("imix" for the mix)."""
        return self.frame_sizes or (("imix",) if self.imix else (self.frame_size,))

    @property
    def max_frame(self) -> int:
        """The largest frame any run of this traffic sends [B] (IMIX: its 1518)."""
        return max(max(s for s, _ in IMIX) if z == "imix" else z for z in self.sizes)


@dataclass(frozen=True)
class Method:
    """How the data path is measured.

    fixed-rate: one trial per listed rate ("max": as fast as the generator can).
    mlrsearch:  NDR and PDR in one MLRsearch run (goals: rfc2544, tst009 or quick).
    binary:     a classic RFC 2544 binary search per goal, for comparison.
    back-to-back: RFC 2544 26.4: the longest burst (as fast as the generator sends,
                or at max_rate) the path takes without loss; a binary search of the
                burst length, repeated `repeats` times, reported as their average.
    soak:       one long trial at one fixed rate (rates = [pps]), with the counters
                and latency of every `interval` streamed into the results as it runs.
    Searches then run one confirmation trial at the NDR (with the DUT's counters)
    and latency trials at the fractions of the NDR in latency_at.
    latency_stream_pps > 0 measures latency on separate stamped streams at that rate
    beside the load (as MoonGen does): the latency reported is theirs, loss and
    throughput the load's.
    """

    kind: str = "fixed-rate"
    duration: float = 3.0  # fixed-rate and latency trials; soak: the whole trial [s]
    rates: tuple[float | str, ...] = ("max",)  # fixed-rate [pps] or "max"
    drain: float = 0.2  # receive-only time after each trial's TX window [s]
    warmup: float = 0.0  # a trial before the measured ones, not counted (flow caches learn) [s]
    goals: str = "quick"  # searches: rfc2544, tst009 or quick
    pdr_loss_ratio: float = 0.005  # searches: PDR's loss ratio [1]
    final_duration: float = 0.0  # searches: deciding trial duration [s]; 0 = the preset's
    max_rate: float = 0.0  # searches: highest load [pps]; 0 = line rate (link speed x ports sending)
    min_rate: float = 10000.0  # searches: lowest load [pps]
    precision: float = 0.0  # searches: final relative width [1]; 0 = the goals preset's
    latency_at: tuple[float, ...] = ()  # searches: fractions of the NDR for latency trials
    latency_stream_pps: float = 0.0  # > 0: latency from stamped streams at this rate beside the load [pps]
    interval: float = 1.0  # soak: counters per interval [s]
    repeats: int = 50  # back-to-back: searches averaged (RFC 2544: at least 50)
    min_burst: int = 1  # back-to-back: shortest burst tried [frames]
    max_burst: int = 0  # back-to-back: longest burst tried [frames]; 0 = 2 s at line rate (RFC 2544)

    KINDS = ("fixed-rate", "mlrsearch", "binary", "back-to-back", "soak")
    MAX_SOAK = 7 * 86400  # [s]

    @property
    def offered(self) -> tuple[float | None, ...]:
        """The rates with "max" as None, as the generator and results spell it."""
        return tuple(None if r == "max" else float(r) for r in self.rates)

    def check(self):
        if self.kind not in self.KINDS:
            raise Invalid("kind", f"unknown method {self.kind!r} (known: {', '.join(self.KINDS)})")
        if self.kind == "soak":
            if not 0 < self.duration <= self.MAX_SOAK:
                raise Invalid("duration", f"a soak is > 0 and <= {self.MAX_SOAK} seconds (7 days)")
        elif not 0 < self.duration <= 3600:
            raise Invalid("duration", "must be > 0 and <= 3600 seconds")
        if not 0 <= self.drain <= 10:
            raise Invalid("drain", "must be between 0 and 10 seconds")
        if not 0 <= self.warmup <= 600:
            raise Invalid("warmup", "must be between 0 and 600 seconds")
        if self.kind == "fixed-rate" and not self.rates:
            raise Invalid("rates", "needs at least one rate")
        for r in self.rates:
            if isinstance(r, str) and r != "max" or not isinstance(r, str) and r <= 0:
                raise Invalid("rates", f"{r!r}: a rate is a positive number of pps or \"max\"")
        if self.goals not in ("rfc2544", "tst009", "quick"):
            raise Invalid("goals", f"must be rfc2544, tst009 or quick, not {self.goals!r}")
        if not 0 < self.pdr_loss_ratio < 1:
            raise Invalid("pdr_loss_ratio", "must be > 0 and < 1 (0.005 is 0.5 %)")
        if self.final_duration < 0 or self.max_rate < 0 or self.min_rate <= 0:
            raise Invalid("max_rate" if self.max_rate < 0 else "min_rate" if self.min_rate <= 0
                           else "final_duration", "must be positive")
        if self.max_rate and self.max_rate <= self.min_rate:
            raise Invalid("max_rate", f"must be above min_rate ({self.min_rate:g} pps)")
        if not 0 <= self.precision < 1:
            raise Invalid("precision", "must be >= 0 and < 1")
        if any(not 0 < f <= 1 for f in self.latency_at):
            raise Invalid("latency_at", "fractions of the NDR are > 0 and <= 1")
        self._check_methods()

    def _check_methods(self):
        """What the latency stream, back-to-back and soak need."""
        if not 0.01 <= self.interval <= 3600:
            raise Invalid("interval", f"{self.interval!r}: an interval is >= 0.01 and <= 3600 seconds")
        if self.kind == "soak":
            numeric = [r for r in self.rates if not isinstance(r, str)]
            if len(self.rates) != 1 or not numeric:
                raise Invalid("rates", "a soak runs at one fixed rate: rates = [<pps>] (not \"max\": "
                                       "a soak as fast as the generator goes measures the generator)")
            if self.interval > self.duration:
                raise Invalid("interval", f"{self.interval:g} s is longer than the soak ({self.duration:g} s)")
        if self.latency_stream_pps < 0:
            raise Invalid("latency_stream_pps", "must be >= 0 (0: latency from the load's own frames)")
        if self.latency_stream_pps:
            if self.kind == "back-to-back":
                raise Invalid("latency_stream_pps", "back-to-back measures loss of bursts, not latency: "
                                                    "leave it 0")
            loads = ([self.min_rate] if self.kind in ("mlrsearch", "binary")
                     else [r for r in self.rates if not isinstance(r, str)])
            low = min(loads, default=None)
            if low is not None and self.latency_stream_pps >= low:
                what = "min_rate" if self.kind in ("mlrsearch", "binary") else "the lowest of rates"
                raise Invalid("latency_stream_pps", f"{self.latency_stream_pps:g} pps is not below the load "
                                                    f"({what}: {low:g} pps); a latency stream is a light "
                                                    "probe beside the load, not the load")
        if self.kind == "back-to-back":
            if self.repeats < 1:
                raise Invalid("repeats", "must be at least 1 (RFC 2544 asks for 50)")
            if self.min_burst < 1:
                raise Invalid("min_burst", "must be at least 1 frame")
            if self.max_burst and self.max_burst <= self.min_burst:
                raise Invalid("max_burst", f"must be above min_burst ({self.min_burst} frames)")
