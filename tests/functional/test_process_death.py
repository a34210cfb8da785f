"""A process pktlab started dies under a run (SIGKILL two seconds into the second
of three fixed-rate trials): ovs-vswitchd, ovsdb-server, the generator worker,
and the QEMU guest of a PVP run.

Each case checks the four things a lab needs from such a run:
1. the death is noticed at once: the runner says so within NOTICE_S of the kill,
   and the whole run (undo included) ends within CLEAN_S;
2. a result file with status failed whose reason names the process, the signal
   and carries the last lines of the process's own log;
3. the completed first trial is in that result;
4. the host is clean (the `clean_host` fixture) and no journal is left, without
   `pktlab restore`.

Bounds: pktlab learns of a death from SIGCHLD (it is the subreaper of every
process it starts; measured 0.01-0.02 s from the kill to the "failed:" line), so
NOTICE_S = 2 s is the "about 2 s" the issue asks for with room for a loaded 2-core
machine. CLEAN_S = 10 s from the kill to the run's exit covers the undo of ~15
steps with nothing left to wait for (measured 0.4-0.6 s), well under what one
step waited before the fix: an OVSDB undo step waited out its 20 s timeout
(ovs-vswitchd dead), ovs-ofctl its 60 s (ovsdb-server dead), and with
ovsdb-server dead the run itself hung for minutes before any undo.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pktlab import journal
from tests.conftest import PKTLAB, REPO, SMOKE, needs_root

PVP = REPO / "scenarios" / "smoke-pvp.toml"
NOTICE_S = 2.0  # [s] kill -> the runner's "failed:" line
CLEAN_S = 10.0  # [s] kill -> the run has exited with the host restored
TRIAL_S = 4.0  # [s] per trial; the kill comes KILL_AFTER_S into the second
KILL_AFTER_S = 2.0


def three_trials(src: Path, dest: Path, rate: int, datapath_extra: str = "") -> Path:
    """The scenario with three fixed-rate trials of TRIAL_S each (and datapath_extra
    appended to its last table, the data path)."""
    text = src.read_text()
    head, sep, rest = text.partition("[method]")
    method, sep2, tail = rest.partition("[[datapath]]")
    lines = [ln for ln in method.splitlines() if not ln.startswith(("rates", "duration"))]
    lines.insert(2, f"rates = [{rate}, {rate}, {rate}]\nduration = {TRIAL_S}")
    dest.write_text(head + sep + "\n".join(lines) + "\n" + sep2 + tail.rstrip("\n") + "\n" + datapath_extra)
    return dest


class Run:
    """`pktlab run` in the background, its output lines time-stamped as they come."""

    def __init__(self, scenario: Path, state: Path, out: Path):
        self.out = out
        self.proc = subprocess.Popen(
            PKTLAB + ["--state-dir", str(state), "run", str(scenario), "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line))

    @property
    def text(self) -> str:
        return "".join(line for _, line in self.lines)

    def wait_line(self, text: str, nth: int = 1, timeout: float = 180.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [t for t, line in list(self.lines) if text in line]
            if len(hits) >= nth:
                return hits[nth - 1]
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"never saw {text!r} ({nth}x); output:\n{self.text}")

    def wait_exit(self, timeout: float) -> float | None:
        """Monotonic time of exit, or None if still running after timeout."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        t = time.monotonic()
        self._reader.join(10)
        return t

    def stop(self):
        """Interrupt a run the test gave up on, so it undoes itself."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)


def journaled_pid(state: Path, kind: str) -> int:
    """The pid a step of the running run recorded in its journal."""
    [path] = journal.pending(state)
    steps = json.loads(path.read_text())["steps"]
    [pid] = [s["state"]["pid"] for s in steps if s["kind"] == kind]
    return pid


def last_log_line(out: Path, name: str) -> str:
    """The last non-empty line of a log the runner kept (out/logs/RUN/NAME)."""
    [log] = list((out / "logs").glob(f"*/{name}"))
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    assert lines, f"{log} is empty"
    return lines[-1]


# The guest's death is the subject, not its accelerator: TCG runs everywhere (a KVM that
# passes pktlab's boot-sector probe may still crash a Linux guest, as QEMU 10 does here).
TCG = 'accel = "tcg"\n'
CASES = {
    # scenario, rate [pps], datapath extra, journal step kind of the victim, log the reason quotes
    "ovs-vswitchd": (SMOKE, 100_000, "", "ovs-vswitchd", "ovs-vswitchd.log"),
    "ovsdb-server": (SMOKE, 100_000, "", "ovsdb-server", "ovsdb-server.log"),
    "generator": (SMOKE, 100_000, "", "generator", "generator.log"),
    "qemu": (PVP, 5_000, TCG, "pvp-guest", "console.log"),
}
WHO = {"ovs-vswitchd": "ovs-vswitchd", "ovsdb-server": "ovsdb-server", "generator": "generator worker",
       "qemu": "qemu-system-x86_64"}


@pytest.mark.parametrize("victim", list(CASES))
def test_a_killed_process_fails_the_run_fast_keeps_trials_and_leaves_the_host_clean(
        victim, tmp_path, state_dir, clean_host):
    needs_root()
    src, rate, extra, kind, log_name = CASES[victim]
    if victim == "qemu" and not shutil.which("qemu-system-x86_64"):
        pytest.skip("needs qemu-system-x86 (./setup.sh installs it; CI has it)")
    out = tmp_path / "out"
    run = Run(three_trials(src, tmp_path / f"{victim}.toml", rate, extra), state_dir, out)
    try:
        run.wait_line("trial at", nth=2, timeout=300)
        time.sleep(KILL_AFTER_S)
        pid = journaled_pid(state_dir, kind)
        t_kill = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        t_end = run.wait_exit(timeout=CLEAN_S + 120)  # give a slow failure time to show itself
        noticed = [t for t, line in run.lines if line.lstrip().startswith("failed:") and t >= t_kill]
    finally:
        run.stop()
    out_text = run.text
    print(f"{victim}: noticed after {noticed[0] - t_kill:.2f} s" if noticed else f"{victim}: never noticed",
          f"run ended {t_end - t_kill:.2f} s after the kill" if t_end else "run did not end")

    # 1. noticed fast, ended fast
    assert noticed, f"no 'failed:' line after the kill:\n{out_text}"
    assert noticed[0] - t_kill < NOTICE_S, out_text
    assert t_end is not None and t_end - t_kill < CLEAN_S, out_text
    assert run.proc.returncode == 1, out_text
    assert "Traceback" not in out_text, out_text

    # 2. a result file, status failed, reason: process, signal, its last log lines
    files = sorted(out.glob("*.json"))
    assert len(files) == 1, out_text
    r = json.loads(files[0].read_text())
    assert r["status"] == "failed", r["reason"]
    reason = r["reason"]
    assert WHO[victim] in reason and str(pid) in reason, reason
    assert "SIGKILL" in reason, reason
    assert last_log_line(out, log_name) in reason, reason

    # 3. the first trial, completed before the kill, is kept
    assert len(r["trials"]) == 1, reason
    t = r["trials"][0]
    assert t["offered_pps"] == rate and t["rx_packets"] > 0

    # 4. nothing left: no journal (the clean_host fixture checks processes, hugepages, mounts, files)
    assert journal.pending(state_dir) == [], out_text
    assert "host restored" in out_text and "UNDO FAILED" not in out_text, out_text
