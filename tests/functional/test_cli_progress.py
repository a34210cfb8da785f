"""Progress reaches a log as it happens: `pktlab run ... > log` in CI is a pipe, not a terminal."""
from __future__ import annotations

import os
import subprocess
import time

from tests.conftest import PKTLAB, REPO, host_state, needs_root
from tests.functional.test_kernel_paths import BASE


def test_progress_lines_arrive_while_the_run_goes_on(tmp_path, state_dir):
    """Before: stdout was block-buffered into the pipe, so the first line came at exit."""
    needs_root()
    f = tmp_path / "veth.toml"
    f.write_text(BASE.format(kind="veth", extra="").replace('rates = ["max", 20000]', "rates = [20000, 20000]"))
    before = host_state(state_dir)
    p = subprocess.Popen(PKTLAB + ["--state-dir", str(state_dir), "run", str(f), "--out", str(tmp_path / "out")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                         # as in a user's shell: nothing asks Python for unbuffered output
                         env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"})
    try:
        first = p.stdout.readline()
        running = p.poll() is None
        t0 = time.monotonic()
        rest, err = p.communicate(timeout=120)
        ended_after = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, first + rest + err
    assert first.startswith("== veth"), first
    # the first line came while two 2-second trials were still to run
    assert running and ended_after > 2.0, (running, ended_after)
    assert "result:" in rest
    assert host_state(state_dir) == before
