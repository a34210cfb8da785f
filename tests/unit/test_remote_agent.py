"""The DUT's side of `pktlab step apply|undo` (remote/agent.py serve): a step from JSON,
applied here, its state sent back line by line, a failure sent back with the state so far.
The tester's side over a real sshd: tests/functional/test_remote_steps.py."""
from __future__ import annotations

import io
import json

from pktlab.remote.agent import serve
from pktlab.remote.executor import Remote
from tests.steps import Mark, events


def _serve(verb, step, state_dir):
    out = io.StringIO()
    rc = serve(verb, io.StringIO(json.dumps({"step": step.to_dict(), "state_dir": str(state_dir),
                                             "run_id": "r"})), out)
    return rc, [json.loads(line) for line in out.getvalue().splitlines()]


def test_apply_then_undo_here(tmp_path, state_dir):
    log = str(tmp_path / "log")
    rc, lines = _serve("apply", Mark("a", log), state_dir)
    assert rc == 0 and lines[-1] == {"state": {"applied": True}, "ok": True}
    rc, lines = _serve("undo", Mark("a", log, state=lines[-1]["state"]), state_dir)
    assert rc == 0 and lines[-1]["ok"]
    assert events(log) == ["apply a", "undo a"]


def test_a_failed_apply_comes_back_with_its_state_and_reason(tmp_path, state_dir):
    rc, lines = _serve("apply", Mark("b", str(tmp_path / "log"), fail_apply=True), state_dir)
    assert rc == 1 and lines[-1] == {"state": {"applied": True}, "error": "b failed on purpose"}


def test_the_tester_keeps_the_last_whole_state_line(state_dir):
    class Ctx:
        journaled = 0

        def journal_state(self):
            self.journaled += 1

    ctx, step = Ctx(), Mark("c", "/dev/null")
    last = Remote(ctx, "dut")._take_state(step, '{"state": {"pid": 7}}\n{"state": {"pid": 7, "sock"')
    assert step.state == {"pid": 7} and last == {"state": {"pid": 7}} and ctx.journaled == 1


def test_not_json_is_refused(state_dir):
    out = io.StringIO()
    assert serve("apply", io.StringIO("not json"), out) == 2
    assert "the request is not JSON" in json.loads(out.getvalue())["error"]


def _serve_batch(verb, steps, state_dir):
    out = io.StringIO()
    rc = serve(verb, io.StringIO(json.dumps({"steps": [s.to_dict() for s in steps], "state_dir": str(state_dir),
                                             "run_id": "r"})), out)
    return rc, [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_batch_applies_in_order_each_step_announced_before_it_changes_anything_and_stops_at_a_failure(
        tmp_path, state_dir):
    log = str(tmp_path / "log")
    rc, lines = _serve_batch("apply", [Mark("a", log), Mark("b", log, fail_apply=True), Mark("c", log)], state_dir)
    assert rc == 1 and events(log) == ["apply a", "apply b"]
    assert lines == [{"i": 0, "state": {}}, {"i": 0, "state": {"applied": True}, "ok": True},
                     {"i": 1, "state": {}}, {"i": 1, "state": {"applied": True}, "error": "b failed on purpose"}]


def test_a_batch_undo_goes_on_past_a_failure(tmp_path, state_dir):
    log = str(tmp_path / "log")
    steps = [Mark(n, log, fail_undo=n == "b", state={"applied": True}) for n in "cba"]
    rc, lines = _serve_batch("undo", steps, state_dir)
    assert rc == 1 and events(log) == ["undo c", "undo b", "undo a"]
    assert [(d["i"], d.get("ok"), d.get("error")) for d in lines if len(d) > 2] == [
        (0, True, None), (1, None, "b undo failed on purpose"), (2, True, None)]


def test_runs_batch_consecutive_steps_of_another_host_only():
    from pktlab.plan import _runs

    class Ctx:
        def executor(self, role):
            return Remote(self, role)

    steps = [Mark(n, "/dev/null", host=h) for n, h in (("t1", "tester"), ("d1", "dut"), ("d2", "dut"),
                                                        ("t2", "tester"), ("t3", "tester"), ("d3", "dut"))]
    assert [[s.name for s in run] for run in _runs(steps, Ctx())] == [["t1"], ["d1", "d2"], ["t2"], ["t3"], ["d3"]]
    assert [[s.name for s in run] for run in _runs(steps, object())] == [[s.name] for s in steps]  # no executor
