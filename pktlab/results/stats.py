"""What one generator trial measured: raw counts from the C side plus derived rates.

These are the contract between the generator (which fills them) and the results
(which store them): counts are integers as the C side counted them; rates are
derived from counts and the measured transmit window.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


_IPDV = ("ipdv_mean_ns", "ipdv_p50_ns", "ipdv_p99_ns", "ipdv_max_ns")


@dataclass(frozen=True)
class LatencySummary:
    """One-way latency over every received frame of a trial [ns], with its variation.

    IPDV (RFC 3393, RFC 5481 "consecutive" selection): delay(n+1) - delay(n) of
    frames n and n+1 of one stream received one right after the other. Its mean is
    signed (about 0 unless the delay drifts); p50/p99/max are of |IPDV|, the jitter
    a frame sees relative to the one before it. PDV (RFC 5481: delay - min delay,
    what a buffer must absorb) is pdv_p99_ns = p99 - min. None: no pair (results
    written before pktlab kept IPDV, or fewer than two consecutive frames)."""

    min_ns: float
    avg_ns: float
    p50_ns: float
    p99_ns: float
    max_ns: float
    ipdv_pairs: int = 0
    ipdv_mean_ns: float | None = None
    ipdv_p50_ns: float | None = None
    ipdv_p99_ns: float | None = None
    ipdv_max_ns: float | None = None

    @property
    def pdv_p99_ns(self) -> float:
        """RFC 5481 PDV at the 99th percentile: p99 - min delay [ns]."""
        return self.p99_ns - self.min_ns

    @classmethod
    def from_dict(cls, d: dict) -> "LatencySummary":
        ipdv = {k: None if d.get(k) is None else float(d[k]) for k in _IPDV}
        return cls(**{k: float(d[k]) for k in ("min_ns", "avg_ns", "p50_ns", "p99_ns", "max_ns")},
                   ipdv_pairs=int(d.get("ipdv_pairs", 0)), **ipdv)


@dataclass(frozen=True)
class StreamCounts:
    """What the latency streams (sent beside the load at their own rate) sent and got
    back: kept apart so the load's loss and throughput are the load's alone."""

    tx_packets: int
    rx_packets: int
    lost: int
    elapsed_s: float  # [s] the trial's transmit window

    @property
    def tx_pps(self) -> float:
        return self.tx_packets / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"tx_pps": self.tx_pps}

    @classmethod
    def from_dict(cls, d: dict) -> "StreamCounts":
        return cls(tx_packets=int(d["tx_packets"]), rx_packets=int(d["rx_packets"]), lost=int(d["lost"]),
                   elapsed_s=float(d["elapsed_s"]))


@dataclass(frozen=True)
class PortStats:
    """Per generator port counts for one trial."""

    name: str
    tx_packets: int
    rx_packets: int
    rx_foreign: int = 0  # frames received that do not carry this trial's signature
    rx_missed: int = 0  # dropped entering the generator's receive queue (counted lost: not the DUT's loss)

    @classmethod
    def from_dict(cls, d: dict) -> "PortStats":
        return cls(name=d["name"], tx_packets=int(d["tx_packets"]), rx_packets=int(d["rx_packets"]),
                   rx_foreign=int(d.get("rx_foreign", 0)), rx_missed=int(d.get("rx_missed", 0)))


@dataclass(frozen=True)
class LoopStats:
    """One poll loop's share of a trial: what it sent, what its queues received.

    Diagnostics only (a loop short of its share is the generator's limit, not
    the DUT's); TrialStats is the sum over the loops."""

    lcore: int
    tx_packets: int
    rx_packets: int  # own frames received on this loop's queues
    elapsed_s: float  # this loop's transmit window [s]

    @property
    def tx_pps(self) -> float:
        return self.tx_packets / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LoopStats":
        return cls(lcore=int(d["lcore"]), tx_packets=int(d["tx_packets"]), rx_packets=int(d["rx_packets"]),
                   elapsed_s=float(d["elapsed_s"]))


@dataclass(frozen=True)
class TrialStats:
    """One trial as the generator saw it.

    offered_pps is None for "as fast as possible". tx/rx pps are over the measured
    transmit window (elapsed_s), the RFC 2544 convention.
    """

    offered_pps: float | None
    duration_s: float  # intended [s]
    elapsed_s: float  # measured transmit window [s]
    tx_packets: int
    rx_packets: int  # own frames received (duplicates included)
    lost: int  # sent but never received
    duplicates: int
    reordered: int
    tx_dropped: int = 0  # built but refused by the TX queue; never on the wire, not in tx_packets
    latency: LatencySummary | None = None
    # (upper bound of the bucket [ns], frames) for every non-empty bucket, ascending
    latency_histogram: tuple[tuple[float, int], ...] = ()
    ports: tuple[PortStats, ...] = ()
    interrupted: bool = False
    # |IPDV| as latency_histogram is latency: (upper bound [ns], pairs), ascending
    ipdv_histogram: tuple[tuple[float, int], ...] = ()
    # "load": latency above is of the load's own frames; "latency-stream": of the
    # rate-limited latency streams beside it (tx/rx/lost above are then the load's only)
    latency_source: str = "load"
    latency_stream: StreamCounts | None = None  # the latency streams' own counts
    load_latency: LatencySummary | None = None  # with a latency stream: the load's own frames'

    def __post_init__(self):
        if self.latency_source not in ("load", "latency-stream"):
            raise ValueError(f"TrialStats.latency_source = {self.latency_source!r}: "
                             "must be load or latency-stream")

    @property
    def tx_pps(self) -> float:
        return self.tx_packets / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def rx_pps(self) -> float:
        return self.rx_packets / self.elapsed_s if self.elapsed_s > 0 else 0.0

    # Achieved below intended by more than this: the generator, not the DUT, set the rate.
    GENERATOR_TOLERANCE = 0.005

    @property
    def rx_missed(self) -> int:
        """Of `lost`, frames dropped entering the generator's own receive queues: loss the
        DUT did not cause (the generator's core was busy or its queue too short)."""
        return sum(p.rx_missed for p in self.ports)

    @property
    def generator_limited(self) -> bool:
        """A paced trial whose achieved transmit rate fell short of the intended load."""
        return (self.offered_pps is not None
                and self.tx_pps < self.offered_pps * (1 - self.GENERATOR_TOLERANCE))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tx_pps"], d["rx_pps"] = self.tx_pps, self.rx_pps
        d["generator_limited"] = self.generator_limited
        d["rx_missed"] = self.rx_missed
        d["latency_histogram"] = [list(b) for b in self.latency_histogram]
        for key in ("latency", "load_latency"):
            if d[key] is not None:  # derived, for the reader; from_dict ignores it
                d[key]["pdv_p99_ns"] = getattr(self, key).pdv_p99_ns
        d["ipdv_histogram"] = [list(b) for b in self.ipdv_histogram]
        d["latency_stream"] = None if self.latency_stream is None else self.latency_stream.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrialStats":
        lat = d.get("latency")
        return cls(
            offered_pps=None if d.get("offered_pps") is None else float(d["offered_pps"]),
            duration_s=float(d["duration_s"]),
            elapsed_s=float(d["elapsed_s"]),
            tx_packets=int(d["tx_packets"]),
            rx_packets=int(d["rx_packets"]),
            lost=int(d["lost"]),
            duplicates=int(d["duplicates"]),
            reordered=int(d["reordered"]),
            tx_dropped=int(d.get("tx_dropped", 0)),
            latency=None if lat is None else LatencySummary.from_dict(lat),
            latency_histogram=tuple((float(u), int(n)) for u, n in d.get("latency_histogram", ())),
            ports=tuple(PortStats.from_dict(p) for p in d.get("ports", ())),
            interrupted=bool(d.get("interrupted", False)),
            ipdv_histogram=tuple((float(u), int(n)) for u, n in d.get("ipdv_histogram", ())),
            latency_source=d.get("latency_source", "load"),
            latency_stream=None if d.get("latency_stream") is None else StreamCounts.from_dict(d["latency_stream"]),
            load_latency=None if d.get("load_latency") is None else LatencySummary.from_dict(d["load_latency"]),
        )
