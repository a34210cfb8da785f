"""RFC 2544 back-to-back (26.4): the longest burst the path takes without losing a frame.

A trial is one burst of exactly N frames (pg_trial.frames) sent as fast as the
generator sends them (or at method.max_rate), then the drain; it passes when
all N went out and all N came back. Each repeat is a binary search of N between
min_burst and max_burst (default: 2 s at the reference rate, RFC 2544's
longest trial); the back-to-back value is the repeats' average, in frames and
in the time it lasts at the reference rate (line rate at the frame size, or
max_rate). Every burst is a trial of the result, as a search's probes are.
"""
from __future__ import annotations

from ..results import BackToBackRecord, BurstSearch
from ..units import LineRate

_CAP_PPS = 1e5  # [pps] a burst's window is a cap for a generator at least this fast
_CAP_EXTRA = 10.0  # [s] on top of it


def burst_cap(frames: int) -> float:
    """The transmit window a burst of frames gets [s]: it ends with the last frame long before."""
    return _CAP_EXTRA + frames / _CAP_PPS


def search_burst(passes, lo_frames: int, hi_frames: int, precision: float = 0.0) -> tuple[int, int | None]:
    """(longest passing, shortest failing or None) by binary search of the burst length.

    passes(n) runs a burst of n frames; max first (RFC 2544 starts long), then halving
    the interval until it is at most max(1, precision x longest passing) frames wide."""
    if passes(hi_frames):
        return hi_frames, None
    good, bad = lo_frames - 1, hi_frames  # invariant: good passed (or is below the range), bad lost
    while bad - good > max(1, int(good * precision)):
        mid = (good + bad) // 2
        if passes(mid):
            good = mid
        else:
            bad = mid
    return (good if good >= lo_frames else 0), bad


def run_back_to_back(session, scenario, line: LineRate) -> BackToBackRecord:
    m, size = scenario.method, scenario.traffic.frame_size
    rate = m.max_rate or None  # None: as fast as the generator sends
    reference = m.max_rate or line.pps(size)
    top = m.max_burst or max(m.min_burst + 1, round(2.0 * reference))
    whence = "method.max_rate" if m.max_rate else f"line rate, {line.describe()}"
    session.out(f"   back-to-back: bursts of {m.min_burst:,}..{top:,} frames "
                f"{'as fast as the generator sends' if rate is None else f'at {rate:,.0f} pps'}, "
                f"{m.repeats} repeat(s); time at {reference / 1e6:.3f} Mpps ({whence})")
    searches, caveats, rates = [], [], []

    for rep in range(m.repeats):
        trials: list[int] = []

        def passes(n: int) -> bool:
            t = session.trial(rate, burst_cap(n), counted=False, frames=n)
            trials.append(len(session.trials) - 1)
            s = t.stats
            ok = s.tx_packets == n and s.lost == 0 and s.tx_dropped == 0
            if s.tx_packets != n and not any("generator sent" in c for c in caveats):
                caveats.append(f"a burst of {n} frames: the generator sent {s.tx_packets} "
                               f"({s.tx_dropped} refused by its TX queue): counted as a failed burst")
            if ok:
                rates.append(s.tx_pps)
            return ok

        good, bad = search_burst(passes, m.min_burst, top, m.precision)
        searches.append(BurstSearch(good, bad, tuple(trials)))
        session.out(f"   repeat {rep + 1}/{m.repeats}: {good:,} frames without loss"
                    + ("" if bad is None else f", {bad:,} lost frames") + f" ({len(trials)} bursts)")
    achieved = sum(rates) / len(rates) if rates else None
    if rate is None and achieved is not None and achieved < reference * 0.995:
        caveats.append(f"the bursts went out at {achieved / 1e6:.3f} Mpps on average, below the "
                       f"{reference / 1e6:.3f} Mpps the time is given at: the path was offered less "
                       "than line rate, so its buffer may be smaller than this says")
    record = BackToBackRecord(reference_pps=reference, offered_pps=rate, min_burst=m.min_burst, max_burst=top,
                              searches=tuple(searches), achieved_pps=achieved, caveats=tuple(caveats))
    session.out(f"   back-to-back: {record.frames:,.1f} frames (stdev {record.frames_stdev:,.1f}), "
                f"{record.seconds * 1e3:.3f} ms at {reference / 1e6:.3f} Mpps"
                + (" (every repeat took the longest burst tried)" if record.at_max else ""))
    for c in caveats:
        session.out(f"   note: {c}")
    return record
