"""What one generator trial measured: raw counts from the C side plus derived rates.

These are the contract between the generator (which fills them) and the results
(which store them): counts are integers as the C side counted them; rates are
derived from counts and the measured transmit window.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LatencySummary:
    """One-way latency over every received frame of a trial [ns]."""

    min_ns: float
    avg_ns: float
    p50_ns: float
    p99_ns: float
    max_ns: float

    @classmethod
    def from_dict(cls, d: dict) -> "LatencySummary":
        return cls(**{k: float(d[k]) for k in ("min_ns", "avg_ns", "p50_ns", "p99_ns", "max_ns")})


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
        )
