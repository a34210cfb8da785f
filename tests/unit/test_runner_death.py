"""The runner when a process its plan started dies mid-trial (no root: a `sleep` stands
in for the daemon, a fake generator for the worker): the run stops at once, the result
is written with the trials done so far and the death as its reason, the plan is undone
and no journal is left; and when an undo fails the result is still written."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass

import pytest

from pktlab import datapaths, journal
from pktlab.errors import PktlabError
from pktlab.results.stats import TrialStats
from pktlab.host import process
from pktlab.plan import Plan, Step
from pktlab.runner import Runner
from pktlab.scenario import load
from tests.conftest import SMOKE


@dataclass
class StartSleeper(Step):
    """A daemon stand-in: a registered `sleep` with a log."""

    kind = "test-sleeper"
    log: str
    fail_undo: bool = False

    def describe(self):
        return "start a sleeper"

    def describe_undo(self):
        return "stop the sleeper"

    def apply(self, ctx):
        with open(self.log, "w") as fh:
            fh.write("sleeper: started\nsleeper: serving\n")
        self.state["pid"] = subprocess.Popen(["sleep", "60"]).pid
        ctx.watch.add(self.state["pid"], "sleeper", "sleep", (self.log,))
        ctx.live["pid"] = self.state["pid"]

    def undo(self, ctx):
        ctx.watch.forget(self.state.get("pid", 0))
        process.stop(self.state.get("pid", 0), "sleep")
        if self.fail_undo:
            raise PktlabError("sleeper undo failed on purpose")


class FakeGen:
    """Trial 1 completes; during trial 2 the sleeper is killed and the trial would run on for 20 s."""

    dpdk_version = "DPDK 22.11.1"

    def __init__(self, ctx):
        self.ctx, self.n = ctx, 0

    def trial(self, rate, duration, drain):
        self.n += 1
        if self.n == 2:
            FakeGen.killed_at = time.monotonic()  # first: the death may raise right after the kill
            os.kill(self.ctx.live["pid"], signal.SIGKILL)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # as the real one waits: select() in small steps
                time.sleep(0.05)
        return TrialStats(offered_pps=rate, duration_s=duration, elapsed_s=duration, tx_packets=1000,
                          rx_packets=1000, lost=0, duplicates=0, reordered=0)

    def close(self):
        pass


class Counters:
    source, live = "fake", True

    def snapshot(self):
        return {}

    def settled(self):
        return {}


class FakePath(datapaths.base.DataPath):
    fail_undo = False

    def precheck(self):
        pass

    def plan(self):
        return Plan([StartSleeper(str(self.run_dir.parent / f"{self.run_id}-sleeper.log"),
                                  fail_undo=self.fail_undo)])

    def wait_ready(self, ctx):
        ctx.live["generator"] = FakeGen(ctx)

    def counters(self, ctx):
        return Counters()

    def cores_used(self):
        return {"generator": [0]}


@pytest.fixture
def runner(tmp_path, monkeypatch):
    sc = tmp_path / "s.toml"
    sc.write_text(SMOKE.read_text().replace('rates = ["max", 100000]', "rates = [1000, 1000, 1000]"))
    monkeypatch.setattr(datapaths, "build", lambda *a: FakePath(*a))
    monkeypatch.setattr(process, "become_subreaper", lambda: None)  # not for the whole test session
    (tmp_path / "state" / "runs").mkdir(parents=True)
    lines = []
    r = Runner(load(sc), tmp_path / "out", tmp_path / "state", out=lines.append)
    r.lines = lines
    return r


def test_a_death_mid_trial_fails_the_path_at_once_and_keeps_the_trials(runner, tmp_path):
    with pytest.raises(PktlabError, match="data path failed"):
        runner.run()
    took = time.monotonic() - FakeGen.killed_at
    assert took < 2.0  # not the 20 s the trial would have run
    [f] = (tmp_path / "out").glob("*.json")
    r = json.loads(f.read_text())
    assert r["status"] == "failed" and len(r["trials"]) == 1
    assert "sleeper (pid " in r["reason"] and "killed by signal 9 (SIGKILL)" in r["reason"]
    assert "sleeper: serving" in r["reason"]
    assert any(line.lstrip().startswith("failed: sleeper") for line in runner.lines)
    assert journal.pending(tmp_path / "state") == []


def test_an_undo_that_fails_still_writes_the_result(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(FakePath, "fail_undo", True)
    with pytest.raises(PktlabError, match="could not restore the host: stop the sleeper"):
        runner.run()
    [f] = (tmp_path / "out").glob("*.json")
    r = json.loads(f.read_text())
    assert r["status"] == "failed" and len(r["trials"]) == 1
    assert "killed by signal 9" in r["reason"] and "sleeper undo failed on purpose" in r["reason"]
    assert len(journal.pending(tmp_path / "state")) == 1  # left for `pktlab restore`
    journal.pending(tmp_path / "state")[0].unlink()


def test_an_error_a_process_reported_before_exiting_is_kept_with_its_exit():
    from pktlab.errors import GeneratorError
    from pktlab.host.watch import Watcher
    from pktlab.runner import _cause

    w = Watcher()
    p = subprocess.Popen(["sh", "-c", "exit 1"])
    p.wait()
    w.add(p.pid, "generator worker", "sh", returncode=lambda: p.returncode)
    said = GeneratorError(-22, "trial: bad rate")
    cause = _cause(said, w)
    assert str(cause).startswith(f"generator worker (pid {p.pid}) exited with status 1")
    assert str(cause).endswith("the error that came with it: generator: trial: bad rate (status -22)")
    assert _cause(KeyboardInterrupt(), w) is None  # Ctrl-C is the user's, whatever died with it
