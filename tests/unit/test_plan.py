"""Plan, apply and undo: order, failure, interruption, journal content and replay."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from pktlab import journal
from pktlab.context import RunContext
from pktlab.errors import StepError
from pktlab.plan import Applied, Plan, Step
from tests.steps import Mark, events

from tests.conftest import REPO


def applied(state_dir, run_id="r1"):
    return Applied(journal.Journal.create(state_dir, run_id), RunContext(state_dir, run_id))


def test_undo_runs_in_reverse_and_journal_is_removed(state_dir, tmp_path):
    log = str(tmp_path / "log")
    with applied(state_dir) as a:
        a.apply_all(Plan([Mark("a", log), Mark("b", log), Mark("c", log)]))
    assert events(log) == ["apply a", "apply b", "apply c", "undo c", "undo b", "undo a"]
    assert journal.pending(state_dir) == []
    assert a.undo_errors == []


def test_failed_apply_undoes_itself_and_what_came_before(state_dir, tmp_path):
    log = str(tmp_path / "log")
    with pytest.raises(StepError, match="b failed on purpose"):
        with applied(state_dir) as a:
            a.apply_all(Plan([Mark("a", log), Mark("b", log, fail_apply=True), Mark("c", log)]))
    # b started, so it is undone too (its undo must cope with a partial apply); c never ran
    assert events(log) == ["apply a", "apply b", "undo b", "undo a"]
    assert journal.pending(state_dir) == []


def test_exception_in_the_measured_block_still_undoes(state_dir, tmp_path):
    log = str(tmp_path / "log")
    with pytest.raises(KeyboardInterrupt):
        with applied(state_dir) as a:
            a.apply_all([Mark("a", log), Mark("b", log)])
            raise KeyboardInterrupt
    assert events(log)[-2:] == ["undo b", "undo a"]


def test_failed_undo_continues_and_stays_in_the_journal(state_dir, tmp_path):
    log = str(tmp_path / "log")
    with applied(state_dir) as a:
        a.apply_all([Mark("a", log), Mark("b", log, fail_undo=True), Mark("c", log)])
    assert events(log)[-3:] == ["undo c", "undo b", "undo a"]
    assert len(a.undo_errors) == 1 and "b undo failed" in a.undo_errors[0]
    [left] = journal.pending(state_dir)
    doc = json.loads(left.read_text())
    assert [s["params"]["name"] for s in doc["steps"]] == ["b"]
    left.unlink()  # b's undo fails forever; it is not a real host change


def test_journal_records_each_step_before_it_is_applied(state_dir, tmp_path):
    seen = []

    class Peek(Mark):
        kind = "test-peek"

        def apply(self, ctx):
            seen.append(json.loads(next(journal.journal_dir(state_dir).glob("*.json")).read_text()))
            super().apply(ctx)

    with applied(state_dir) as a:
        a.apply(Mark("a", str(tmp_path / "log")))
        a.apply(Peek("p", str(tmp_path / "log")))
    [doc] = seen
    assert [(s["params"]["name"], s["status"]) for s in doc["steps"]] == [("a", "applied"), ("p", "applying")]


def test_step_round_trips_through_its_dict():
    m = Mark("x", "/tmp/l", fail_undo=True, state={"pid": 3})
    again = Step.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again == m and again.state == {"pid": 3}


def test_render_lists_apply_then_undo_in_reverse(tmp_path):
    text = Plan([Mark("a", "l"), Mark("b", "l")]).render()
    lines = text.splitlines()
    assert lines == ["apply, in order:", "  1. mark a", "  2. mark b",
                     "undo, in reverse (on success, failure or Ctrl-C):", "  2. unmark b", "  1. unmark a"]


def test_restore_replays_the_journal_of_a_killed_run(state_dir, tmp_path):
    """A real process applies steps and is SIGKILLed; restore undoes exactly what it applied."""
    log = tmp_path / "log"
    code = textwrap.dedent(f"""
        import os, signal
        from pktlab import journal
        from pktlab.context import RunContext
        from pktlab.plan import Applied
        from tests.steps import Mark
        a = Applied(journal.Journal.create({str(state_dir)!r}, "killed"), RunContext({str(state_dir)!r}, "killed"))
        a.apply(Mark("one", {str(log)!r}))
        a.apply(Mark("two", {str(log)!r}))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.returncode == -signal.SIGKILL
    assert events(log) == ["apply one", "apply two"]
    assert len(journal.pending(state_dir)) == 1

    errors = journal.restore(state_dir, lambda run_id: RunContext(state_dir, run_id), out=lambda *_: None)
    assert errors == []
    assert events(log) == ["apply one", "apply two", "undo two", "undo one"]
    assert journal.pending(state_dir) == []


def test_restore_leaves_a_live_run_alone(state_dir, tmp_path):
    log = tmp_path / "log"
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pktlab-run-standin"])
    try:
        j = journal.Journal(journal.journal_dir(state_dir) / "alive.json", "alive", runner.pid)
        journal.journal_dir(state_dir).mkdir(parents=True)
        j.record([Mark("a", str(log))])
        said = []
        journal.restore(state_dir, lambda r: RunContext(state_dir, r), out=said.append)
        assert "still running" in said[0] and events(log) == []
    finally:
        runner.kill()
        runner.wait()
    journal.restore(state_dir, lambda r: RunContext(state_dir, r), out=lambda *_: None)
    assert events(log) == ["undo a"]


def test_a_forked_child_unwinding_does_not_undo_the_parents_plan(state_dir, tmp_path):
    """pyroute2 forks to enter namespaces; an exception unwinding in such a child must not
    run the parent's undo (it would tear the host down under the running parent)."""
    log = str(tmp_path / "log")
    with applied(state_dir) as a:
        a.apply(Mark("a", log))
        pid = os.fork()
        if pid == 0:  # the child leaves the with-block by an exception, as a signalled helper would
            try:
                with a:
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
        assert events(log) == ["apply a"]  # the child undid nothing
    assert events(log) == ["apply a", "undo a"]


def test_an_undo_error_whose_message_cannot_be_built_is_still_reported(state_dir, tmp_path):
    class Unprintable(Exception):
        def __str__(self):
            raise AttributeError("msg")

    class Bad(Mark):
        kind = "test-bad-undo"

        def undo(self, ctx):
            raise Unprintable()

    log = str(tmp_path / "log")
    with applied(state_dir) as a:
        a.apply(Mark("a", log))
        a.apply(Bad("b", log))
    assert events(log)[-1] == "undo a"  # the rest still undone
    assert a.undo_errors == ["unmark b: Unprintable (no message)"]
    for left in journal.pending(state_dir):
        left.unlink()
