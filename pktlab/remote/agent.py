"""`pktlab step ...`: the DUT's side of a run driven from a tester over SSH.

    pktlab step apply   apply one step here (JSON on stdin: step, state_dir, run_id), or a
                        batch of consecutive steps (steps: [...]) in one process, in order,
                        stopping at the first that fails
    pktlab step undo    undo one step here, or a batch in the order given, past failures
    pktlab step plan    plan this host's half of a data path (JSON on stdin: the scenario's
                        text, its data path index and frame size, the run's id and directory)

Each answers on stdout with JSON lines only: apply/undo one line per state change
({"state": ...}) and a last one with "ok" or "error" (in a batch each line also names
its step, "i", and a step's first line comes before it changes anything, so the
tester journals it first); plan one document. Everything
else (logs) goes to stderr. The reads behind a plan (NICs, NUMA nodes, hugepages,
drivers) are this host's, so placement follows its NICs.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ..errors import PktlabError, PrecheckError
from ..plan import Step, _reason
from .watch import registrations


def add_arguments(sub) -> None:
    step = sub.add_parser("step", help="(used by a tester over SSH) apply, undo or plan host steps here")
    ssub = step.add_subparsers(dest="step_command", required=True)
    for verb in ("apply", "undo", "plan"):
        ssub.add_parser(verb).set_defaults(func=lambda args, verb=verb: serve(verb))


def serve(verb: str, stdin=None, stdout=None) -> int:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        request = json.load(stdin)
    except ValueError as e:
        print(json.dumps({"error": f"the request is not JSON: {e}"}), file=stdout, flush=True)
        return 2
    if verb == "plan":
        doc = plan_half(request)
        print(json.dumps(doc), file=stdout, flush=True)
        return 0 if "error" not in doc else 1
    if "steps" in request:
        return _batch(verb, request, stdout)
    return _step(verb, request, stdout)


def _batch(verb: str, request: dict, stdout) -> int:
    """Steps one after another in this process (one start-up, one OVSDB connection for all:
    a fresh pktlab per step took 5-20 s on an emulated DUT)."""
    from ..context import RunContext
    from ..host.watch import Watcher

    ctx = RunContext(request["state_dir"], request["run_id"])
    failed = False
    try:
        for i, d in enumerate(request["steps"]):
            step = Step.from_dict(d)

            def emit(step=step, i=i, **kw):
                print(json.dumps({"i": i, "state": step.state, **kw}), file=stdout, flush=True)

            ctx._journal_hook, ctx.watch = emit, Watcher()  # what this step starts, on its own
            emit()  # begun: journaled there before it changes anything here
            try:
                (step.apply if verb == "apply" else step.undo)(ctx)
            except BaseException as e:  # noqa: BLE001 - the tester gets every failure, with the state so far
                emit(error=_reason(e))
                failed = True
                if verb == "apply" or not isinstance(e, Exception):
                    break  # apply stops at a failure (undo goes on past one, not past Ctrl-C)
                continue
            procs = registrations(ctx.watch) if verb == "apply" else []
            emit(ok=True, **({"watch": procs} if procs else {}))
    finally:
        ctx.close()
    return 1 if failed else 0


def _step(verb: str, request: dict, stdout) -> int:
    from ..context import RunContext

    step = Step.from_dict(request["step"])
    ctx = RunContext(request["state_dir"], request["run_id"])

    def emit(**kw):
        print(json.dumps({"state": step.state, **kw}), file=stdout, flush=True)

    ctx._journal_hook = emit
    try:
        (step.apply if verb == "apply" else step.undo)(ctx)
        # what the step started (daemons), so the tester watches them (remote/watch.py)
        procs = registrations(ctx.watch) if verb == "apply" else []
        emit(ok=True, **({"watch": procs} if procs else {}))
        return 0
    except BaseException as e:  # noqa: BLE001 - the tester gets every failure, with the state so far
        emit(error=_reason(e))
        return 1
    finally:
        ctx.close()


def plan_half(request: dict) -> dict:
    """This host's half of one data path of the tester's scenario: its steps (host "dut"),
    why they look so, and what the tester needs to drive and describe it."""
    from .. import datapaths
    from .. import scenario as scenario_mod

    shown = request["file"]
    with tempfile.TemporaryDirectory(prefix="pktlab-plan-") as d:
        path = Path(d, Path(shown).name or "scenario.toml")
        path.write_text(request["scenario"])
        try:
            sc = scenario_mod.load(path)
            entry = sc.datapaths[request["datapath"]]
            p = datapaths.build(sc.at_size(request["size"]), entry, Path(request["run_dir"]), request["run_id"])
            p.side = "dut"
            p.precheck()
            return half_doc(p)
        except PrecheckError as e:
            return {"error": {"key": e.key, "reason": e.reason.replace(str(path), shown)}}
        except PktlabError as e:
            return {"error": {"key": None, "reason": str(e).replace(str(path), shown)}}


def half_doc(p) -> dict:
    """The answer to `pktlab step plan` for a data path built here with side "dut"."""
    plan = p.plan()
    for s in plan:
        s.host = "dut"
    return {"steps": [s.to_dict() for s in plan], "explain": p.explain(), "export": p.dut_export(),
            "facts": host_facts(p)}


def host_facts(p=None) -> dict:
    """What results record of this host: name, kernel, CPU, NUMA nodes, versions, and the NICs
    and cores a data path takes here. Read only, no secret."""
    from ..provenance import collect, dpdk_version

    prov = collect(p.cores_used() if p is not None else {}, dpdk_version=dpdk_version(), guest=None)
    facts = {k: v for k, v in prov.to_dict().items() if k not in ("utc_time", "guest")}
    if p is not None:
        versions = p.versions(None)
        facts.update({k: v for k, v in versions.items() if v is not None})
    return facts
