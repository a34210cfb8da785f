"""A one-line progress display for a running search.

The measurer calls its progress hook with a ProgressEvent before each trial
("start") and after it ("done"). ProgressLine shows them: on a terminal one line
rewritten in place with "\\r" (the current load while a 60 s trial runs); on a pipe
or a log file one plain line per finished trial, so the log reads as a trial list.

The bounds shown are the running ones of the goal being watched (the first goal,
NDR, for MLRsearch; the current goal of a binary search) judged trial by trial,
short trials included: a guide to convergence, not the final result, which
MLRsearch decides on full-length trials and duration sums.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, TextIO

if TYPE_CHECKING:
    from .trial import SearchTrial


@dataclass(frozen=True)
class ProgressEvent:
    """Where a search is: before a trial (state "start") or after it ("done")."""

    state: str  # "start" or "done"
    phase: str  # the measurer's phase: "warmup", "search" or a binary search's goal
    goal: str  # name of the goal whose bounds are shown ("" when none)
    load_pps: float  # [pps] intended load of this trial
    duration_s: float  # [s] intended duration of this trial
    lower_pps: float | None  # [pps] highest load passing the goal below upper_pps, so far
    upper_pps: float | None  # [pps] lowest load failing the goal, so far
    n_trials: int  # trials finished (this one included on "done")
    elapsed_s: float  # [s] since the search started
    trial: "SearchTrial | None" = None  # the finished trial, on "done"


def running_bounds(trials: Iterable["SearchTrial"], loss_ratio: float
                   ) -> tuple[float | None, float | None]:
    """(lower, upper) [pps]: upper is the lowest load with a trial worse than loss_ratio,
    lower the highest load below it whose trials all met it."""
    bad, good = set(), set()
    for t in trials:
        (bad if t.loss_ratio > loss_ratio else good).add(t.intended_load_pps)
    upper = min(bad, default=None)
    lower = max((x for x in good - bad if upper is None or x < upper), default=None)
    return lower, upper


def _mpps(pps: float | None) -> str:
    return "?" if pps is None else f"{pps / 1e6:.4f}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_event(ev: ProgressEvent) -> str:
    """The line for one event, e.g.
    "trial 7  3.0123 Mpps x 60 s  loss 0.000 %  | NDR in [2.9942, 3.0093] Mpps | 7 done  0:05:12"
    """
    phase = "" if ev.phase == "search" else f"[{ev.phase}] "
    if ev.state == "done" and ev.trial is not None:
        t = ev.trial
        what = f"trial {t.index + 1}  {ev.load_pps / 1e6:.4f} Mpps x {ev.duration_s:g} s  " \
               f"loss {t.loss_ratio * 100:.3f} %"
        if t.generator_limited:
            what += f"  GENERATOR-LIMITED (sent {t.achieved_pps / 1e6:.4f} Mpps)"
    else:
        what = f"trial {ev.n_trials + 1}  {ev.load_pps / 1e6:.4f} Mpps x {ev.duration_s:g} s  " \
               "running"
    bounds = f"{ev.goal} in [{_mpps(ev.lower_pps)}, {_mpps(ev.upper_pps)}] Mpps" if ev.goal else ""
    return f"{phase}{what}  | {bounds}{' | ' if bounds else ''}{ev.n_trials} done  " \
           f"{_clock(ev.elapsed_s)}"


class ProgressLine:
    """A progress hook writing one line per event to stream (stderr by default).

    tty: rewrite one line with "\\r" (default: stream.isatty()); otherwise only the
    "done" events are written, one line each. Call close() (or use `with`) to end
    the line on a terminal.
    """

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = sys.stderr if stream is None else stream
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty, self._width = tty, 0

    def __call__(self, ev: ProgressEvent) -> None:
        line = format_event(ev)
        if self.tty:
            # pad over the longer previous line instead of relying on an escape sequence
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif ev.state == "done":
            self.stream.write(line + "\n")
        else:
            return
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> "ProgressLine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
