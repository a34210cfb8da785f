"""Steps on another host: the tester asks that host's own pktlab to apply or undo them.

`pktlab step apply|undo` runs there (remote/agent.py) with the step as JSON on its
standard input, over the run's one SSH connection to the host: the command is an
argument list, and nothing from a scenario is ever part of a shell string. The
step's sysfs, netlink and OVSDB work happens on the host it changes, by the same
code that does it locally. The host answers with the step's state as it grows
(each journal_state() there is one JSON line), so the tester's journal holds what
undo needs even when the connection drops half-way.
"""
from __future__ import annotations

import json
import logging

from ..errors import HostError, StepError
from .ssh import MissingSoftware, RemoteError

log = logging.getLogger(__name__)

STEP_TIMEOUT = 600.0  # [s] one step there (ovs-vswitchd with DPDK, a driver bind, a VF reset)


class Remote:
    """Executor for host `role` of a run context (context.RunContext.executor)."""

    def __init__(self, ctx, role: str):
        self.ctx, self.role = ctx, role

    def apply(self, step, ctx) -> None:
        last = self._call("apply", step, ctx.connection(self.role))
        ctx.remote_watch.add(self.role, last.get("watch") or (), step)

    def undo(self, step, ctx) -> None:
        ctx.remote_watch.forget_step(self.role, step)  # what it stops now is not a death
        # A connection lost during the run is opened again to undo; if it cannot be,
        # the HostError says so and the step stays in the journal for `pktlab restore`.
        self._call("undo", step, ctx.connection(self.role, reconnect=True))

    def _call(self, verb: str, step, conn) -> dict:
        host = conn.host
        request = {"step": dict(step.to_dict(), host="tester"),  # there, it is that host's own step
                   "state_dir": str(self.ctx.state_dir), "run_id": self.ctx.run_id}
        try:
            p = conn.run([host.pktlab, "step", verb], input=json.dumps(request), sudo=True, check=False,
                         timeout=STEP_TIMEOUT)
        except RemoteError as e:
            self._take_state(step, getattr(e, "stdout", ""))
            raise
        if p.returncode in (126, 127):
            raise MissingSoftware(host, f"pktlab is not installed there (`{host.pktlab}`): set pktlab_command "
                                        "in the inventory to its path (e.g. a venv's bin/pktlab)")
        last = self._take_state(step, p.stdout)
        if p.returncode == 0 and last.get("ok"):
            return last
        why = last.get("error") or (p.stderr.strip().splitlines() or ["no message"])[-1]
        raise StepError(f"on host {host.name}: {why}")

    def _take_state(self, step, stdout: str) -> dict:
        """The step's state from the last complete line the host sent; journaled at once."""
        last: dict = {}
        for line in (stdout or "").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # a line cut off by a dropped connection
            if isinstance(doc, dict) and isinstance(doc.get("state"), dict):
                last = doc
        if last:
            step.state.clear()
            step.state.update(last["state"])
            self.ctx.journal_state()
        return last

    # -- batches: consecutive steps of this host in one `pktlab step` process ------------
    def apply_batch(self, steps, ctx, begin, end) -> None:
        """Apply steps in order there; begin(step) as each starts there (journal it), end(step)
        once it is applied. The first failure raises, after the steps before it ended."""
        errors, ended = [], []

        def line(doc, step):
            if doc.get("ok"):
                ctx.remote_watch.add(self.role, doc.get("watch") or (), step)
                ended.append(step)
                end(step)
            elif "error" in doc:
                errors.append(doc["error"])

        self._batch("apply", steps, ctx.connection(self.role), begin, line)
        host = self.ctx.hosts[self.role].name
        if errors:
            raise StepError(f"on host {host}: {errors[0]}")
        if len(ended) != len(steps):
            raise StepError(f"on host {host}: `pktlab step apply` ended after {len(ended)} of {len(steps)} steps "
                            "without saying why")

    def undo_batch(self, steps, ctx, done) -> None:
        """Undo steps in the order given there; done(step, error or None) for each it reports.
        A step it never reached (the connection went) is not reported: it stays to undo."""
        for s in steps:
            ctx.remote_watch.forget_step(self.role, s)  # what they stop now is not a death

        host = self.ctx.hosts[self.role].name

        def line(doc, step):
            if doc.get("ok") or "error" in doc:
                done(step, f"on host {host}: {doc['error']}" if "error" in doc else None)

        self._batch("undo", steps, ctx.connection(self.role, reconnect=True), lambda s: None, line)

    def _batch(self, verb, steps, conn, begin, line) -> None:
        host, begun = conn.host, set()
        request = {"steps": [dict(s.to_dict(), host="tester") for s in steps],
                   "state_dir": str(self.ctx.state_dir), "run_id": self.ctx.run_id}

        def on_line(text):
            try:
                doc = json.loads(text)
            except ValueError:
                return  # a line cut off by a dropped connection
            i = doc.get("i") if isinstance(doc, dict) else None
            if not isinstance(i, int) or not 0 <= i < len(steps) or not isinstance(doc.get("state"), dict):
                return
            step = steps[i]
            if i not in begun:
                begun.add(i)
                begin(step)
            step.state.clear()
            step.state.update(doc["state"])
            self.ctx.journal_state()
            line(doc, step)

        p = conn.stream([host.pktlab, "step", verb], json.dumps(request), on_line, sudo=True,
                        timeout=STEP_TIMEOUT * len(steps))
        if p.returncode in (126, 127):
            raise MissingSoftware(host, f"pktlab is not installed there (`{host.pktlab}`): set pktlab_command "
                                        "in the inventory to its path (e.g. a venv's bin/pktlab)")
        if p.returncode not in (0, 1) or len(begun) == 0:
            said = (p.stderr.strip().splitlines() or ["no message"])[-1]
            raise StepError(f"on host {host.name}: `{host.pktlab} step {verb}` failed (exit {p.returncode}): {said}")


def left_behind(steps, hosts: dict) -> list[str]:
    """One line per host other than the tester saying which of `steps` (not undone) it was left with."""
    lines = []
    for role in dict.fromkeys(s.host for s in steps):
        if role == "tester":
            continue
        host = hosts.get(role)
        what = "; ".join(s.describe() for s in steps if s.host == role)
        lines.append(f"host {host if host is not None else role} was left with: {what}")
    return lines


def is_connection_error(e: BaseException) -> bool:
    return isinstance(e, HostError)
