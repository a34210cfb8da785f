"""Host changes as data: steps with apply and undo, applied in order, undone in reverse.

A data path describes what it needs as a list of steps. The runner applies them
one by one, journaling each before it is applied (so a step cut off half-way is
still undone) and undoes them in reverse on success, failure, exception or
Ctrl-C. A step's parameters and the state it recorded while applying are plain
JSON, so `pktlab restore` can rebuild it from the journal of a killed run and
undo it with nothing but that record.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import ClassVar

from .errors import PktlabError

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type["Step"]] = {}
_IMPORTABLE = ("pktlab", "tests")  # a journal may name step modules from these packages only


@dataclass
class Step:
    """One host change. Subclasses are dataclasses whose fields are the parameters.

    `state` holds what apply() learnt that undo() needs (a pid, a previous value);
    undo() must be safe to run after a partial apply or twice.
    """

    kind: ClassVar[str] = ""
    state: dict = field(default_factory=dict, kw_only=True)
    # The host it changes: "tester" (this one, where the generator runs) or "dut" (the
    # device under test's, over SSH when [hosts].dut names one). The run's context
    # carries the step there (context.py executor()).
    host: str = field(default="tester", kw_only=True)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.kind:
            _REGISTRY[cls.kind] = cls

    def apply(self, ctx) -> None:
        raise NotImplementedError

    def undo(self, ctx) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """What apply() does, in one line."""
        raise NotImplementedError

    def describe_undo(self) -> str:
        """What undo() does, in one line."""
        raise NotImplementedError

    def __str__(self):
        return self.describe()

    def to_dict(self) -> dict:
        params = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("state", "host")}
        # The module lets `pktlab restore`, a fresh process, import the class it needs.
        return {"kind": self.kind, "module": type(self).__module__, "host": self.host, "params": params,
                "state": self.state}

    @staticmethod
    def from_dict(d: dict) -> "Step":
        if d["kind"] not in _REGISTRY and d.get("module", "").split(".")[0] in _IMPORTABLE:
            importlib.import_module(d["module"])
        cls = _REGISTRY.get(d["kind"])
        if cls is None:
            raise PktlabError(f"journal names an unknown step kind {d['kind']!r}")
        hints = {f.name: f for f in dataclasses.fields(cls)}
        params = {k: tuple(v) if isinstance(v, list) and k in hints else v for k, v in d["params"].items()}
        return cls(**params, state=dict(d.get("state", {})), host=d.get("host", "tester"))


class Plan:
    """An ordered list of steps with a readable form for --dry-run."""

    def __init__(self, steps=()):
        self.steps: list[Step] = list(steps)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    def extend(self, steps) -> None:
        self.steps.extend(steps)

    def __iter__(self):
        return iter(self.steps)

    def __len__(self):
        return len(self.steps)

    def render(self, hosts: dict[str, str] | None = None) -> str:
        """hosts: role -> how to name it ("dut" -> "dut compute-3"). A plan on more than one
        host tags every step with the host it changes."""
        width = len(str(len(self.steps)))
        many = len({s.host for s in self.steps}) > 1
        tag = (lambda s: f"[{(hosts or {}).get(s.host, s.host)}] ") if many else (lambda s: "")
        lines = ["apply, in order:"]
        lines += [f"  {i:>{width}}. {tag(s)}{s.describe()}" for i, s in enumerate(self.steps, 1)]
        lines.append("undo, in reverse (on success, failure or Ctrl-C):")
        lines += [f"  {i:>{width}}. {tag(s)}{s.describe_undo()}"
                  for i, s in reversed(list(enumerate(self.steps, 1)))]
        return "\n".join(lines)


class Applied:
    """Applies steps through a journal and undoes them in reverse.

    Use as a context manager: whatever happens inside the block, every step
    that was started is undone on the way out.
    """

    def __init__(self, journal, ctx):
        self.journal, self.ctx = journal, ctx
        self.steps: list[Step] = []
        self.undo_errors: list[str] = []
        self.pid = os.getpid()

    def apply(self, step: Step) -> Step:
        self.steps.append(step)
        record = lambda: self.journal.record(self.steps, applying=step)  # noqa: E731
        record()  # before apply: a half-done step is undone too
        self.ctx._journal_hook = record
        log.info("apply: %s", step.describe())
        try:
            _on(self.ctx, step).apply(step, self.ctx)
        finally:
            self.ctx._journal_hook = None
        self.journal.record(self.steps)
        return step

    def apply_all(self, plan) -> None:
        """In order; consecutive steps of another host go there in one batch (executor
        apply_batch), each journaled as it begins there, so one cut off half-way is undone too."""
        for run in _runs(list(plan), self.ctx):
            if len(run) == 1:
                self.apply(run[0])
                continue
            current = []

            def begin(step):
                self.steps.append(step)
                current[:] = [step]
                self.journal.record(self.steps, applying=step)
                log.info("apply: %s", step.describe())

            def end(step):
                current.clear()
                self.journal.record(self.steps)

            self.ctx._journal_hook = lambda: self.journal.record(self.steps, applying=current[0] if current else None)
            try:
                _on(self.ctx, run[0]).apply_batch(run, self.ctx, begin, end)
            finally:
                self.ctx._journal_hook = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # A forked child (pyroute2 forks to enter namespaces) unwinding through here
        # must not undo the parent's plan.
        if os.getpid() == self.pid:
            self.undo_errors = undo_all(self.steps, self.ctx, self.journal)
        return False


def undo_all(steps, ctx, journal=None) -> list[str]:
    """Undo steps in reverse. Keeps going past a failing undo; returns the errors.

    A step whose undo failed stays in the journal so `pktlab restore` can retry it.
    Ctrl-C (and SIGTERM) are held off meanwhile: a second Ctrl-C must not leave the host half restored.
    """
    errors = []
    remaining = list(steps)
    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in held} if _main_thread() else {}
    reported: set[int] = set()

    def done(step, error=None):
        reported.add(id(step))
        if error is None:
            remaining.remove(step)
        else:
            errors.append(f"{step.describe_undo()}: {error}")
            log.error("undo failed: %s: %s", step.describe_undo(), error)
        if journal is not None:
            journal.record(remaining)

    try:
        for run in _runs(list(reversed(list(steps))), ctx):
            for step in run:
                log.info("undo: %s", step.describe_undo())
            if len(run) > 1:  # another host's, in one batch there
                try:
                    _on(ctx, run[0]).undo_batch(run, ctx, done)
                except Exception as e:  # noqa: BLE001 - the host went: what it did not report stays
                    for step in run:
                        if id(step) not in reported:
                            done(step, _reason(e))
                continue
            try:
                _on(ctx, run[0]).undo(run[0], ctx)
                done(run[0])
            except Exception as e:  # noqa: BLE001 - one failed undo must not stop the rest
                done(run[0], _reason(e))
        if journal is not None and not remaining:
            journal.remove()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return errors


class Here:
    """Applies and undoes steps in this process: the tester's, and every step of a
    context that knows no other host (tests, the DUT's own `pktlab step`)."""

    @staticmethod
    def apply(step: Step, ctx) -> None:
        step.apply(ctx)

    @staticmethod
    def undo(step: Step, ctx) -> None:
        step.undo(ctx)


def _runs(steps, ctx) -> list[list[Step]]:
    """steps cut into runs: each step of this host alone, consecutive steps of one other host
    together where its executor takes batches."""
    runs: list[list[Step]] = []
    for step in steps:
        batch = step.host != "tester" and hasattr(_on(ctx, step), "apply_batch")
        if batch and runs and runs[-1][0].host == step.host:
            runs[-1].append(step)
        else:
            runs.append([step])
    return runs


def _on(ctx, step: Step):
    """Where `step` runs: its host's executor in the context, or here."""
    executor = getattr(ctx, "executor", None)
    return Here if executor is None or step.host == "tester" else executor(step.host)


def _reason(e: BaseException) -> str:
    """str(e), even for exceptions whose __str__ itself fails (ovsdbapp has some)."""
    try:
        return str(e) or type(e).__name__
    except Exception:  # noqa: BLE001
        return f"{type(e).__name__} (no message)"


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
