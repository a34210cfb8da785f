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
