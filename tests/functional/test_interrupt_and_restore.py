"""Ctrl-C, SIGTERM or SIGKILL in the middle of a trial: the host ends up as it was,
by the run's own undo or by `pktlab restore` replaying its journal."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import PKTLAB, REPO, SMOKE, host_state, needs_root, run_cli


def long_scenario(tmp_path):
    text = SMOKE.read_text().replace('rates = ["max", 100000]', 'rates = ["max"]').replace(
        "duration = 3.0", "duration = 60.0")
    p = tmp_path / "long.toml"
    p.write_text(text)
    return p


def start(scenario, state, out):
    return subprocess.Popen(PKTLAB + ["--state-dir", str(state), "run", str(scenario), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)


def wait_for(proc, text, timeout=120.0) -> str:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    proc.send_signal(signal.SIGINT)  # let the run undo itself before the test fails
    rest, _ = proc.communicate(timeout=120)
    pytest.fail(f"never saw {text!r}; output:\n{''.join(seen)}{rest}")


@pytest.fixture
def run_mid_trial(tmp_path, state_dir):
    needs_root()
    before = host_state(state_dir)
    proc = start(long_scenario(tmp_path), state_dir, tmp_path / "out")
    wait_for(proc, "trial at max")
    time.sleep(1.5)  # well inside the 60 s trial
    yield proc, before
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)


@pytest.mark.parametrize("how", ["ctrl-c to the terminal's process group", "SIGINT to the runner",
                                 "SIGTERM to the runner"])
def test_interrupted_run_leaves_the_host_clean(run_mid_trial, state_dir, how):
    proc, before = run_mid_trial
    if how.startswith("ctrl-c"):
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM if "SIGTERM" in how else signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "host restored" in out
    assert host_state(state_dir) == before


def test_restore_after_sigkill(run_mid_trial, state_dir):
    proc, before = run_mid_trial
    proc.kill()  # SIGKILL: no undo runs; the journal is what is left
    proc.wait()
    mid = host_state(state_dir)
    assert mid != before and any("journal" in f for f in mid["state_files"])
    p = run_cli("restore", state_dir=state_dir, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "host restored" in p.stdout
    # the generator worker outlived its runner; restore stopped it too
    deadline = time.monotonic() + 10
    while host_state(state_dir) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert host_state(state_dir) == before
