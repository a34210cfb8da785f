"""Units and line-rate arithmetic: Ethernet link speeds, wire overhead, frame and bit rates.

Line rate is the reference a measured rate is judged against, and it is always
link speed x ports sending: a bidirectional trial sends on two generator ports,
its received rate is the sum of both directions, and it is measured against
twice one link's frame rate (aggregate against aggregate, as RFC 2544 and FD.io
CSIT report it). LineRate carries both numbers, so no reader has to guess.

Pure arithmetic, no I/O: measure, search, results and the charts all import it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# preamble (7) + start of frame delimiter (1) + minimum inter-frame gap (12) [B]
WIRE_OVERHEAD_B = 20
# the Ethernet link speeds a scenario may name (traffic.link_speed) [Gbit/s]
LINK_SPEEDS_GBPS = (1, 10, 25, 40, 50, 100, 200, 400)
DEFAULT_LINK_SPEED = "10G"


def parse_link_speed(text: str) -> float:
    """"10G" -> 10e9 [bit/s]; ValueError (the reason, for `file: key: reason`) otherwise."""
    m = re.fullmatch(r"(\d+)G", text.strip().upper()) if isinstance(text, str) else None
    if m is None or int(m.group(1)) not in LINK_SPEEDS_GBPS:
        known = ", ".join(f"{g}G" for g in LINK_SPEEDS_GBPS)
        raise ValueError(f"{text!r} is not an Ethernet link speed pktlab knows (one of {known})")
    return int(m.group(1)) * 1e9


def link_name(link_bps: float) -> str:
    """10e9 -> "10 GbE", 2.5e9 -> "2.5 GbE"."""
    return f"{link_bps / 1e9:g} GbE"


def line_rate_pps(link_bps: float, frame_size: float) -> float:
    """Frames/s that fill a link of link_bps [bit/s] with frame_size [B, incl. FCS] frames."""
    if link_bps <= 0 or frame_size <= 0:
        raise ValueError(f"line_rate_pps({link_bps}, {frame_size}): both must be positive")
    return link_bps / ((frame_size + WIRE_OVERHEAD_B) * 8)


def l1_bps(pps: float, frame_size: float) -> float:
    """Bit rate on the wire, with the 20 B of preamble, SFD and gap per frame [bit/s]."""
    return pps * (frame_size + WIRE_OVERHEAD_B) * 8


def l2_bps(pps: float, frame_size: float) -> float:
    """Bit rate of the frames themselves, FCS included [bit/s]."""
    return pps * frame_size * 8


@dataclass(frozen=True)
class LineRate:
    """The line-rate basis of a trial: one port's link speed, times the generator
    ports that send in it."""

    link_bps: float  # [bit/s] one port's link speed (the slowest sending port's)
    ports: int  # generator ports sending: 1 unidirectional, 2 bidirectional
    source: str = ""  # where the link speed came from, e.g. "traffic.link_speed", "NIC speed (sysfs)"

    def __post_init__(self):
        if isinstance(self.link_bps, bool) or not isinstance(self.link_bps, (int, float)) \
                or not self.link_bps > 0:
            raise ValueError(f"LineRate.link_bps = {self.link_bps!r}: must be a positive bit rate")
        if isinstance(self.ports, bool) or not isinstance(self.ports, int) or self.ports < 1:
            raise ValueError(f"LineRate.ports = {self.ports!r}: must be a port count >= 1")
        object.__setattr__(self, "link_bps", float(self.link_bps))

    @property
    def bps(self) -> float:
        """Aggregate capacity [bit/s]: link speed x ports sending."""
        return self.link_bps * self.ports

    @property
    def aggregate(self) -> bool:
        """Rates against it are sums over more than one direction."""
        return self.ports > 1

    def pps(self, frame_size: float) -> float:
        """Aggregate line rate at frame_size [frames/s]."""
        return line_rate_pps(self.bps, frame_size)

    def share(self, pps: float, frame_size: float) -> float:
        """pps (aggregate over the same ports) as a fraction of this line rate [1]."""
        return l1_bps(pps, frame_size) / self.bps

    def describe(self) -> str:
        """"2 x 10 GbE" (aggregate) or "10 GbE" (one direction)."""
        return f"{self.ports} \u00d7 {link_name(self.link_bps)}" if self.aggregate \
            else link_name(self.link_bps)

    def basis(self) -> str:
        """How a rate against it reads: "aggregate of 2 ports" or "one direction"."""
        return f"aggregate of {self.ports} ports" if self.aggregate else "one direction"

    def to_dict(self) -> dict:
        return {"link_speed_bps": self.link_bps, "sending_ports": self.ports,
                "link_speed_source": self.source}
