"""One run: validate, check the host, then per data path apply its plan, run the
trials, record the results, and undo the plan whatever happened."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from pathlib import Path

from . import datapaths, journal
from .context import RunContext
from .errors import PktlabError, PrecheckError
from .host import process
from .host.watch import ProcessDied
from .plan import Applied
from .remote.hosts import Hosts

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


class Runner:
    def __init__(self, scenario, out_dir: Path, state_dir: Path = journal.DEFAULT_STATE_DIR, out=print,
                 root: str = "/"):
        self.scenario = scenario
        self.out_dir, self.state_dir = Path(out_dir), Path(state_dir)
        self.out = out
        self.run_id = new_run_id()
        self._watch = None  # the running path's process watcher
        # One run per data path and frame size: a sweep builds each path afresh per size
        # (the generator's templates and the switch's caches start clean).
        sizes = scenario.traffic.sizes
        self.paths = [
            datapaths.build(scenario.at_size(size), entry, self.state_dir / "runs" / f"{self.run_id}-{n}",
                            f"{self.run_id}-{n}", root)
            for n, (entry, size) in enumerate((e, z) for e in scenario.datapaths for z in sizes)
        ]
        # The DUT on another host: read from the inventory now (a bad entry stops here, naming
        # it), reached on first need, and each path split into the tester's half and the DUT's.
        self.hosts = Hosts(scenario)
        for p in self.paths:
            self.hosts.split(p)

    def render_plan(self) -> str:
        parts = [self.hosts.describe()] if self.hosts.remote else []
        for p in self.paths:
            head = f"data path {p.name!r} ({p.entry.kind}):\n"
            why = p.unavailable()
            if why:
                parts.append(head + f"not run here: {why}")
                continue
            try:  # lab paths place cores and hugepages first; the plan follows from where they go
                explain, plan = p.explain(), p.plan().render(self.hosts.names())
            except PrecheckError as e:
                parts.append(head + f"cannot be planned on this host: {e}")
                continue
            parts.append(head + (explain + "\n" if explain else "") + plan)
        m, t = self.scenario.method, self.scenario.traffic
        if m.kind == "fixed-rate":
            how = "trials at " + ", ".join("max" if r is None else f"{r:,.0f} pps" for r in m.offered)
            how += f"; {m.duration:g} s each"
        elif m.kind == "soak":
            how = f"soak at {m.offered[0]:,.0f} pps for {m.duration:g} s, counters every {m.interval:g} s"
        elif m.kind == "back-to-back":
            how = (f"back-to-back bursts of {m.min_burst}..{m.max_burst or '2 s at line rate of'} frames, "
                   f"{m.repeats} repeat(s)")
        else:
            how = (f"{m.kind} search, {m.goals} goals (NDR and PDR at {m.pdr_loss_ratio:.2%} loss)"
                   + (f", latency at {', '.join(f'{f:.0%}' for f in m.latency_at)} of NDR" if m.latency_at else ""))
        if m.latency_stream_pps:
            how += f"; latency on a {m.latency_stream_pps:,.0f} pps stamped stream beside the load"
        parts.append(f"{how}; {m.drain:g} s drain; {'/'.join(map(str, t.sizes))} B frames, {t.flows} flow(s)")
        return "\n\n".join(parts)

    def precheck(self) -> None:
        self.hosts.check()  # the DUT reachable, root there, its software: before anything changes anywhere
        left = journal.pending(self.state_dir)
        if left:
            raise PktlabError(f"a previous run left host changes behind ({', '.join(map(str, left))}); "
                              "run `pktlab restore` first")
        for p in self.paths:
            if p.unavailable() is None:
                p.precheck()

    def run(self) -> tuple[list[Path], list]:
        """Run every data path; returns (result files, results). Raises after all
        paths ran if any failed, so one broken path does not lose the others."""
        try:
            return self._run()
        finally:
            self.hosts.close()

    def _run(self) -> tuple[list[Path], list]:
        from .results import write_result

        self.precheck()
        process.become_subreaper()
        files, results, failures = [], [], []
        with _sigterm_as_interrupt(before=self._stand_down):
            for p in self.paths:
                why = p.unavailable()
                undo_failed = None
                if why:
                    self.out(f"== {p.name}: not run: {why}")
                    result = self._result(p, (), "not-run", why, {})
                else:
                    result, undo_failed = self._run_path(p)
                results.append(result)
                files.append(write_result(result, self.out_dir))
                self.out(f"result: {files[-1]}")
                if result.status == "interrupted":  # a soak kept what it measured: now stop
                    self._method_charts(results)
                    raise KeyboardInterrupt(result.reason)
                if undo_failed:  # the trials are written; nothing more runs on a host left changed
                    raise PktlabError(undo_failed)
                if result.status == "failed":
                    failures.append(f"{p.name}: {result.reason}")
        from .analysis.charts import bars_64b, frame_size_figure, plot_results, save_figure

        if any(mpps is not None for _, mpps, _ in bars_64b(results)):
            bridges = [d.name for d in self.scenario.datapaths if d.kind == "linux-bridge"]
            png = plot_results(results, self.out_dir / f"{self.scenario.name}-{self.run_id}.png",
                               baseline=bridges[0] if bridges else None)
            self.out(f"chart: {png}")
        if len(self.scenario.traffic.sizes) > 1 and any(r.status == "ok" for r in results):
            from .analysis.compare import compare

            self.out("chart: " + str(save_figure(frame_size_figure(compare(results)),
                                                 self.out_dir / f"{self.scenario.name}-{self.run_id}-sizes.png")))
        self._method_charts(results)
        if failures:
            raise PktlabError("data path failed: " + "; ".join(failures))
        return files, results

    def _method_charts(self, results):
        """Charts of what a soak measured over time, one per result that soaked."""
        soaks = [r for r in results if r.soak is not None and r.soak.n_intervals]
        if not soaks:
            return
        from .analysis.charts import save_figure, soak_figure

        for r in soaks:
            png = self.out_dir / f"{r.soak.intervals_file.removesuffix('.jsonl')}.png"
            self.out("chart: " + str(save_figure(soak_figure(r, self.out_dir), png)))

    def _run_path(self, p):
        from .measure import Session, run_method

        ctx = RunContext(self.state_dir, p.run_id, self.hosts.hosts(), self.hosts.connections())
        jr = journal.Journal.create(self.state_dir, p.run_id, self.hosts.hosts())
        session, search, status, reason, versions = None, None, "ok", None, {}
        self.out(f"== {p.name}: setting up")
        applied = Applied(jr, ctx)
        self._watch = ctx.watch
        try:
            with applied:
                try:
                    ctx.watch.arm()  # a process the plan starts dies: ProcessDied, wherever we wait
                    applied.apply_all(p.plan())
                    p.wait_ready(ctx)
                    gen = ctx.live["generator"]
                    # rte_version() says "DPDK 22.11.11"; provenance keeps the number
                    dpdk = (gen.dpdk_version or "").removeprefix("DPDK ").strip() or None
                    versions = {"dpdk_version": dpdk, **p.versions(ctx)}
                    session = Session(gen, self.hosts.guard(p.counters(ctx), ctx), self.scenario.method.drain, self.out,
                                      self.out_dir / f"{self.scenario.name}-{p.name}-{p.run_id}.intervals.jsonl")
                    search = run_method(session, p.scenario, p.line_rate())
                except BaseException as e:
                    ctx.watch.disarm()  # from here on pktlab stops its processes itself
                    lost = self.hosts.lost(e)  # a dropped SSH connection is the cause, whatever failed
                    if lost is not None:
                        self.out(f"   failed: {lost}")
                        raise lost from e
                    failure = _cause(e, ctx.watch)  # before the undo: logs and exit status are there
                    if failure is not None:
                        self.out(f"   failed: {failure}")
                    self._keep_logs(p)
                    if failure is not None and failure is not e:
                        raise failure from e
                    raise
                finally:
                    ctx.watch.disarm()
        except PktlabError as e:
            status, reason = "failed", str(e)
        except KeyboardInterrupt:
            if session is None or session.kept is None:
                raise
            search = session.kept  # a soak: its intervals so far are on disk, its record says so
            status, reason = "interrupted", "interrupted (Ctrl-C or SIGTERM); what was measured until then is kept"
        finally:
            self._watch = None
            ctx.close()
            self.out(f"== {p.name}: host{'s' if self.hosts.remote else ''} restored" if not applied.undo_errors
                     else f"== {p.name}: UNDO FAILED, run `pktlab restore`: " + "; ".join(applied.undo_errors))
        undo_failed = None
        if applied.undo_errors:
            left = journal.left_on_hosts(jr)
            for line in left:
                self.out(f"   {line}; the journal {jr.path} is kept")
            undo_failed = "could not restore the host: " + "; ".join(applied.undo_errors + left)
            status, reason = "failed", f"{reason}; {undo_failed}" if reason else undo_failed
        trials = tuple(session.trials) if session else ()
        if status == "ok" and not trials:
            status, reason = "failed", "no trial ran"
        return self._result(p, trials, status, reason, versions, search), undo_failed

    def _stand_down(self):
        """Ctrl-C or SIGTERM: processes that stop now (the generator shares our process
        group) are not deaths to report."""
        if self._watch is not None:
            self._watch.disarm()

    def _result(self, p, trials, status, reason, versions, search=None):
        from .provenance import collect
        from .results import SCHEMA_VERSION, Result, method_fields

        try:
            line = p.line_rate()
        except PrecheckError:  # a lab path whose NICs' speed is unknown did not run
            line = None
        t = p.scenario.traffic
        prov = collect(p.cores_used(), dpdk_version=versions.get("dpdk_version"),
                       ovs_version=versions.get("ovs_version"), guest=versions.get("guest"),
                       nics=versions.get("nics"), dut=self.hosts.dut_facts(p), cabling=self.hosts.cabling(p))
        return Result(schema_version=SCHEMA_VERSION, scenario=self.scenario.as_dict(), datapath=p.name,
                      frame_size=t.frame_size, flows=t.flows, provenance=prov, trials=trials,
                      status=status, reason=reason, line_rate=line, **method_fields(search))

    def _keep_logs(self, p):
        """Daemon and generator logs die with the run directory; keep them when a run fails."""
        if not p.run_dir.is_dir():
            return
        dest = self.out_dir / "logs" / p.run_id
        for f in p.run_dir.rglob("*.log"):
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / f.name)
        if dest.is_dir():
            self.out(f"   logs kept in {dest}")


def _cause(e: BaseException, watch) -> PktlabError | None:
    """What to report for an exception that ended a path, or None (Ctrl-C, SIGTERM).

    A watched process found dead is the cause of whatever failed after it (a
    generator that lost its peer, a timeout talking to a dead daemon), even when
    that failure surfaced first or as a library's own exception. One that exited
    by itself may have said why before it went: that error follows."""
    if not isinstance(e, Exception):
        return None
    died = watch.death()
    if died is not None and not died.killed and isinstance(e, PktlabError) and not isinstance(e, ProcessDied):
        died.args = (f"{died}\nthe error that came with it: {e}",)
    if died is not None:
        return died
    return e if isinstance(e, PktlabError) else None


class _sigterm_as_interrupt:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the plan is undone on the way out.

    Only in this process: pyroute2 forks helpers (to enter a namespace) that inherit
    the handlers, and a forked child unwinding the runner's stack would undo the
    plan under the parent's feet. A child just exits.
    """

    def __init__(self, before=lambda: None):
        self.before = before  # called in the handler before it raises

    def __enter__(self):
        owner = os.getpid()

        def handler(signum, frame):
            if os.getpid() != owner:
                os._exit(128 + signum)
            self.before()
            raise KeyboardInterrupt(f"signal {signum}")

        self._old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False
