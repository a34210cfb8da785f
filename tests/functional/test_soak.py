"""Soak through the command line on the veth floor: the intervals file is written as the
soak runs and adds up to the trial exactly; Ctrl-C (to the process group, or a SIGINT the
worker never gets) keeps every interval measured, writes the result as "interrupted",
and leaves the host as it was."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from pktlab.results import load_intervals, load_result
from tests.conftest import REPO, host_state, needs_root, run_cli

from .test_interrupt_and_restore import start

SOAK = REPO / "scenarios" / "soak-veth.toml"


def soak_scenario(tmp_path, duration: float, interval: float):
    text = SOAK.read_text()
    for old, new in (("duration = 3600.0", f"duration = {duration}"), ("interval = 1.0", f"interval = {interval}"),
                     ("drain = 0.5", "drain = 0.3")):
        assert old in text
        text = text.replace(old, new)
    p = tmp_path / "soak.toml"
    p.write_text(text)
    return p


def read_back(out):
    [f] = out.glob("soak-veth-*.json")
    r = load_result(f)
    return r, load_intervals(out / r.soak.intervals_file)


def assert_adds_up(r, intervals):
    (t,) = r.trials
    s = t.stats
    assert r.soak.n_intervals == len(intervals) > 0 and r.soak.trial == 0
    assert [i.n for i in intervals] == list(range(len(intervals)))
    for key, total in (("tx", s.tx_packets), ("rx", s.rx_packets), ("lost", s.lost)):
        assert sum(getattr(i, key) for i in intervals) == total, key
    assert r.soak.sums_match is True
    assert sum(i.lat_count for i in intervals) == sum(n for _, n in s.latency_histogram)
    assert all(i.rss_kb and i.worker_rss_kb for i in intervals)
    assert (r.soak.rss_start_kb, r.soak.rss_end_kb) == (intervals[0].rss_kb, intervals[-1].rss_kb)


def test_soak_streams_intervals_that_add_up(tmp_path, state_dir):
    needs_root()
    before = host_state(state_dir)
    out = tmp_path / "out"
    p = run_cli("run", soak_scenario(tmp_path, 3.0, 0.5), "--out", out, state_dir=state_dir, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    r, intervals = read_back(out)
    assert r.status == "ok" and not r.soak.interrupted
    assert len(intervals) in (7, 8)  # 6 boundaries and the end (and one more if the drain outlasts 0.5 s)
    assert_adds_up(r, intervals)
    s = r.trials[0].stats
    assert s.tx_packets == 30_000 and s.offered_pps == 10_000  # 10 kpps for 3 s, exactly
    # A loop takes its snapshot at its boundary or, preempted, later; never early. The interval
    # is a whole number of TSC ticks (0.5 s truncated), so boundary k sits up to k ticks short.
    for i in intervals[:6]:
        assert i.t_end_s >= 0.5 * (i.n + 1) - 1e-6 and i.tx > 0
    assert sum(i.tx for i in intervals[:6]) == 30_000  # the 6th boundary is the window's end
    assert list(out.glob("soak-veth-*.png")), p.stdout  # the timeline chart
    assert host_state(state_dir) == before


def test_worker_memory_stays_flat_over_hundreds_of_intervals(tmp_path, state_dir):
    """600 intervals of 10 ms (ten minutes' worth of a 1 s soak's per-interval work): the
    worker's resident memory never rises 8 MB above its first interval's. With a latency
    histogram built per interval (garbage only the cyclic collector frees) it rose ~25 MB
    within 200 intervals, then swung with the collector; reused, < 1 MB over 3,300. The
    intervals still add up exactly at this pace."""
    needs_root()
    out = tmp_path / "out"
    p = run_cli("run", soak_scenario(tmp_path, 6.0, 0.01), "--out", out, state_dir=state_dir, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    r, intervals = read_back(out)
    assert len(intervals) >= 300, len(intervals)  # a lagging drain merges intervals; most are its own
    assert_adds_up(r, intervals)
    worker = [i.worker_rss_kb for i in intervals]
    assert max(worker) - worker[0] < 8 * 1024, (worker[0], max(worker), worker[-1])


@pytest.mark.parametrize("how", ["ctrl-c to the process group", "SIGINT to the runner only"])
def test_ctrl_c_keeps_the_intervals_measured(tmp_path, state_dir, how):
    needs_root()
    before = host_state(state_dir)
    out = tmp_path / "out"
    proc = start(soak_scenario(tmp_path, 120.0, 0.25), state_dir, out)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # a few intervals on disk, as the soak runs
            files = list(out.glob("*.intervals.jsonl"))
            if files and len(files[0].read_text().splitlines()) >= 6:
                break
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.2)
        else:
            pytest.fail("no intervals written after 120 s")
        if how.startswith("ctrl-c"):
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=120)
    assert proc.returncode == 130, text
    assert "host restored" in text and "result:" in text
    r, intervals = read_back(out)
    assert r.status == "interrupted" and r.soak.interrupted and "interrupted" in r.reason
    assert r.trials[0].stats.interrupted
    assert len(intervals) >= 6 and intervals[-1].t_end_s < 120
    assert_adds_up(r, intervals)
    assert json.loads((out / r.soak.intervals_file).read_text().splitlines()[-1])["final"] is True
    assert host_state(state_dir) == before
