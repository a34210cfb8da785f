"""A trial as a result stores it: the generator's counts next to the DUT's own counters."""
from __future__ import annotations

from dataclasses import dataclass

from pktlab.results.stats import TrialStats

from .fields import build, check_trial_stats, get


@dataclass(frozen=True)
class Trial:
    """One trial: the generator's view and the DUT's own counters for the same window.

    counters are deltas over the trial per DUT interface, e.g.
    {"vhu0": {"rx_packets": 299980, "tx_packets": 299980, "rx_dropped": 0}}; they let a
    reader check the generator against the switch (a generator bug and a real drop
    look the same from the generator alone).
    """

    stats: TrialStats
    counters: dict[str, dict[str, int]]  # {} when the DUT has none to read
    counters_source: str  # where the counters came from, e.g. "ovsdb:Interface.statistics"

    def __post_init__(self):
        for iface, cs in self.counters.items():
            if not isinstance(iface, str) or not isinstance(cs, dict):
                raise ValueError(f"Trial.counters: {iface!r} must map an interface name to a dict")
            for name, n in cs.items():
                # negative is allowed: it means the DUT reset the counter mid-trial (a vhost
                # port reconnected), and is kept as read for the reader to see, not hidden
                if not isinstance(n, int) or isinstance(n, bool):
                    raise ValueError(f"Trial.counters[{iface!r}][{name!r}] = {n!r}: "
                                     "must be an integer delta")
        if self.counters and not self.counters_source:
            raise ValueError("Trial.counters_source: required when counters are given")
        # copy so that the caller mutating its dict cannot change a frozen Trial
        object.__setattr__(self, "counters", {i: dict(c) for i, c in self.counters.items()})

    def to_dict(self) -> dict:
        # flat: the generator's fields, then the DUT's, so one trial reads as one record
        return {**self.stats.to_dict(),
                "counters": {i: dict(self.counters[i]) for i in sorted(self.counters)},
                "counters_source": self.counters_source}

    @classmethod
    def from_dict(cls, d: dict, where: str = "trial") -> "Trial":
        check_trial_stats(d, where)
        counters = get(d, "counters", dict, where)
        for iface, cs in counters.items():
            get(counters, iface, dict, f"{where}.counters")
            for name in cs:
                get(cs, name, int, f"{where}.counters.{iface}")
        source = get(d, "counters_source", str, where)
        return build(cls, where, stats=TrialStats.from_dict(d), counters=counters,
                      counters_source=source)
