"""Measuring a data path that is up: the scenario's method turned into trials.

The generator only runs trials at a rate; what rates, and what they mean, is
decided here (fixed rates) or by the search (pktlab/search). Every trial is kept,
in call order, next to the device under test's own counters where reading them
is cheap (the kernel's are live; OVSDB's refresh every 5 s, so a search reads
them only for its confirmation trial at the NDR, not for every probe).
"""
from __future__ import annotations

from .results import SearchRecord, Trial
from .units import LineRate


class Session:
    """The generator and the DUT's counters of one data path, and the trials run so far."""

    def __init__(self, gen, counters, drain_s: float, out=print, stream_path=None):
        self.gen, self.counters, self.drain_s, self.out = gen, counters, drain_s, out
        self.stream_path = stream_path  # where a soak streams its intervals (JSON lines)
        self.kept = None  # a method's record to keep although it was interrupted (a soak's)
        self.trials: list[Trial] = []
        self._before = counters.snapshot()

    def trial(self, rate_pps: float | None, duration_s: float, counted: bool = True, frames: int = 0) -> Trial:
        """One trial; with counted=False (search probes on slow counters) no counter wait;
        frames > 0: exactly that many load frames (a back-to-back burst)."""
        stats = self.gen.trial(rate_pps, duration_s, self.drain_s, **({"frames": frames} if frames else {}))
        if stats.interrupted:
            raise KeyboardInterrupt("trial interrupted")
        return self.keep(stats, counted)

    def keep(self, stats, counted: bool = True) -> Trial:
        """Record a trial the generator ran, with the DUT's counters over it when counted
        (or when they are live and cost nothing to read)."""
        read = counted or getattr(self.counters, "live", False)
        if read:
            from .ovs.counters import delta

            after = self.counters.settled()
            t = Trial(stats, delta(after, self._before), self.counters.source)
            self._before = after
        else:
            t = Trial(stats, {}, "")
            self._before = None
        self.trials.append(t)
        return t

    def warmup(self, rate_pps: float | None, duration_s: float) -> None:
        """A trial that is not kept: flow caches and rings settle before anything counts."""
        self.gen.trial(rate_pps, duration_s, self.drain_s)
        self._before = None
        self.resync()

    def resync(self) -> None:
        """Re-read the counters' baseline after uncounted trials (waits for them to settle)."""
        if self._before is None:
            self._before = self.counters.settled()

    def say(self, t: Trial, what: str = "") -> None:
        s = t.stats
        counters = ", ".join(f"{i} {c['packets']}" if "packets" in c else
                             f"{i} rx {c.get('rx_packets', 0)} tx {c.get('tx_packets', 0)}"
                             for i, c in t.counters.items())
        self.out(f"   {what}tx {s.tx_pps / 1e6:.3f} Mpps, rx {s.rx_pps / 1e6:.3f} Mpps, lost {s.lost}"
                 + (f" ({s.rx_missed} of them at the generator's own receive queues)" if s.rx_missed else "")
                 + (f"; {t.counters_source.split(':')[0]}: {counters}" if counters else "")
                 + ("  [GENERATOR-LIMITED: achieved rate below intended, not a DUT result]"
                    if s.generator_limited else ""))


def run_method(session: Session, scenario, line: LineRate):
    """Run the scenario's method; returns its record for the result (results.method_fields):
    a SearchRecord, SoakRecord or BackToBackRecord, None for fixed rates.

    line: the data path's line rate (DataPath.line_rate()), a search's default highest load
    and the rate a back-to-back burst's time is at."""
    m = scenario.method
    if m.warmup:
        rate = m.offered[0] if m.kind in ("fixed-rate", "soak") else m.min_rate
        session.out(f"   warm-up at {'max' if rate is None else f'{rate:,.0f} pps'} for {m.warmup:g} s (not kept)")
        session.warmup(rate, m.warmup)
    if m.kind == "soak":
        from .methods.soak import run_soak

        return run_soak(session, scenario)
    if m.kind == "back-to-back":
        from .methods.back_to_back import run_back_to_back

        return run_back_to_back(session, scenario, line)
    if m.kind == "fixed-rate":
        for rate in m.offered:
            session.out(f"   trial at {'max' if rate is None else f'{rate:,.0f} pps'} for {m.duration:g} s")
            session.say(session.trial(rate, m.duration))
        return None
    return _search(session, scenario, line)


def max_load(scenario, line: LineRate) -> float:
    """The search's highest load [pps]: the scenario's max_rate, else line rate at its
    frame size (link speed x ports sending)."""
    return scenario.method.max_rate or line.pps(scenario.traffic.frame_size)


def _search(session: Session, scenario, line: LineRate) -> SearchRecord:
    from .search import ProgressLine, binary_search, deciding_trials_caveat, goals_for, run_search

    m = scenario.method
    goals = goals_for(m.goals, m.pdr_loss_ratio, m.final_duration or None, m.precision or None)
    first = len(session.trials)

    def probe(rate_pps, duration_s):
        return session.trial(rate_pps, duration_s, counted=False).stats

    top = max_load(scenario, line)
    whence = "method.max_rate" if m.max_rate else f"line rate, {line.describe()}"
    session.out(f"   {m.kind} search ({m.goals} goals) from {top / 1e6:.3f} Mpps ({whence}) "
                f"down to {m.min_rate:,.0f} pps")
    with ProgressLine() as progress:
        if m.kind == "binary":
            outcome = binary_search(probe, goals, top, m.min_rate, progress)
        else:
            outcome = run_search(probe, goals, top, m.min_rate, progress)
    ndr, pdr = outcome.ndr_pps, outcome.pdr_pps
    session.out(f"   NDR {_mpps(ndr)}, PDR {_mpps(pdr)} "
                f"({outcome.n_trials} trials, {outcome.total_trial_seconds:.0f} trial seconds)")
    caveats = [c for c in map(deciding_trials_caveat, goals) if c]
    extra = {"trial_offset": first, "caveats": caveats}  # outcome's trial i is result trial first + i
    if ndr is not None:
        # The search's probes skip the slow DUT counters; one trial at the NDR carries them.
        session.resync()
        confirm = session.trial(ndr, m.duration)
        session.say(confirm, "at NDR: ")
        # A search's deciding trials can miss rare loss; the confirmation trial may not.
        extra["confirm_trial"] = len(session.trials) - 1
        extra["ndr_confirmed"] = confirm.stats.lost == 0 and not confirm.stats.generator_limited
        if not extra["ndr_confirmed"]:
            session.out(f"   NDR NOT CONFIRMED: the trial at the NDR lost {confirm.stats.lost} frames")
        extra["latency"] = [_latency_trial(session, ndr, f, m.duration) for f in m.latency_at]
    for c in caveats:
        session.out(f"   note: {c}")
    return SearchRecord.from_dict(outcome.to_dict() | extra)


def _mpps(pps: float | None) -> str:
    return "none (even the lowest load lost frames)" if pps is None else f"{pps / 1e6:.4f} Mpps"


def _latency_trial(session: Session, ndr: float, fraction: float, duration: float) -> dict:
    """A trial at a fraction of the NDR; its latency as an HDR histogram and percentiles."""
    from .analysis.latency import encode_histogram, trial_histogram, trial_percentiles

    t = session.trial(ndr * fraction, duration)
    session.say(t, f"latency at {fraction:.0%} of NDR: ")
    p = trial_percentiles(t.stats)
    return {"fraction_of_ndr": fraction, "trial": len(session.trials) - 1,
            "percentiles_ns": None if p is None else p.to_dict(),
            "hdr": encode_histogram(trial_histogram(t.stats)) if t.stats.latency_histogram else None}
