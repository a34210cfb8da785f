"""Back-to-back and soak methods, latency streams: scenario checks (file, key, reason,
exit 2 before the host is touched), the burst-length search, and the records a
result keeps of them (round trip, validation, the intervals file)."""
from __future__ import annotations

import json

import pytest

from pktlab import scenario
from pktlab.datapaths.streams import streams_for, with_latency_streams
from pktlab.errors import ScenarioError
from pktlab.methods.back_to_back import search_burst
from pktlab.results import (BackToBackRecord, BurstSearch, LatencyRecord, ResultError, SoakRecord, Trial,
                            load_intervals)
from pktlab.results.stats import LatencySummary, StreamCounts, TrialStats
from tests.conftest import REPO, run_cli

SOAK = REPO / "scenarios" / "soak-veth.toml"
B2B = REPO / "scenarios" / "back-to-back-veth.toml"


def variant(tmp_path, base, old, new):
    text = base.read_text()
    assert old in text, old
    p = tmp_path / "bad.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("base,old,new,key,reason", [
    (SOAK, "interval = 1.0", "interval = 0", "method.interval", ">= 0.01"),
    (SOAK, "interval = 1.0", "interval = -1.0", "method.interval", ">= 0.01"),
    (SOAK, "duration = 3600.0", "duration = 0.5", "method.interval", "longer than the soak"),
    (SOAK, "rates = [10000]", "rates = [\"max\"]", "method.rates", "one fixed rate"),
    (SOAK, "rates = [10000]\n", "", "method.rates", "one fixed rate"),
    (SOAK, "rates = [10000]", "rates = [10000, 20000]", "method.rates", "one fixed rate"),
    (SOAK, "duration = 3600.0", "duration = 900000.0", "method.duration", "7 days"),
    (SOAK, "interval = 1.0", "interval = 1.0\nlatency_stream_pps = 10000", "method.latency_stream_pps",
     "not below the load"),
    (SOAK, "interval = 1.0", "interval = 1.0\nlatency_stream_pps = -5", "method.latency_stream_pps", ">= 0"),
    (B2B, "repeats = 3", "repeats = 0", "method.repeats", "at least 1"),
    (B2B, "max_burst = 4000", "max_burst = 1", "method.max_burst", "above min_burst"),
    (B2B, "repeats = 3", "repeats = 3\nmin_burst = 0", "method.min_burst", "at least 1"),
    (B2B, "repeats = 3", "repeats = 3\nlatency_stream_pps = 1000", "method.latency_stream_pps",
     "not latency"),
    (B2B, 'kind = "back-to-back"', 'kind = "back2back"', "method.kind", "unknown method"),
])
def test_bad_method_names_file_key_and_reason(tmp_path, base, old, new, key, reason):
    p = variant(tmp_path, base, old, new)
    with pytest.raises(ScenarioError) as ei:
        scenario.load(p)
    msg = str(ei.value)
    assert str(p) in msg and key in msg and reason in msg, msg


def test_a_search_latency_stream_must_be_below_min_rate(tmp_path):
    p = variant(tmp_path, REPO / "scenarios" / "policed-ndr.toml", "min_rate = 200000",
                "min_rate = 200000\nlatency_stream_pps = 200000")
    with pytest.raises(ScenarioError, match=r"method.latency_stream_pps.*min_rate: 200000 pps"):
        scenario.load(p)


def test_bad_method_is_exit_2_before_the_host_is_touched(tmp_path):
    """Through the command line: no state dir entry, no journal, nothing run."""
    p = variant(tmp_path, SOAK, "interval = 1.0", "interval = 0")
    state = tmp_path / "state"
    r = run_cli("run", p, "--out", tmp_path / "out", state_dir=state)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(p) in r.stderr and "method.interval" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
    assert not state.exists() or not any(state.rglob("*"))


def test_shipped_method_scenarios_load():
    s = scenario.load(SOAK)
    assert (s.method.kind, s.method.offered, s.method.interval) == ("soak", (10000.0,), 1.0)
    b = scenario.load(B2B)
    assert (b.method.kind, b.method.repeats, b.method.max_burst) == ("back-to-back", 3, 4000)


def test_latency_streams_beside_the_load(tmp_path):
    p = variant(tmp_path, SOAK, "interval = 1.0", "interval = 1.0\nlatency_stream_pps = 2000")
    s = scenario.load(p)
    load = streams_for(s.traffic, 2)
    streams = with_latency_streams(load, s.method)
    assert streams[:len(load)] == load and len(streams) == len(load) + 2  # one per direction
    probes = streams[len(load):]
    assert [(x.tx_port, x.rx_port, x.fixed_pps) for x in probes] == [(0, 1, 1000.0), (1, 0, 1000.0)]
    assert all(x.template == load[i].template for i, x in enumerate(probes))
    assert with_latency_streams(load, scenario.load(SOAK).method) == load


@pytest.mark.parametrize("buffer", [0, 1, 37, 1000, 3999, 4000, 5000])
def test_burst_search_finds_a_buffer_of_known_size(buffer):
    tried = []

    def passes(n):
        tried.append(n)
        return n <= buffer

    good, bad = search_burst(passes, 1, 4000)
    assert tried[0] == 4000  # RFC 2544 starts with the longest burst
    assert good == min(buffer, 4000)
    assert bad == (None if buffer >= 4000 else buffer + 1)
    assert len(tried) <= 14  # log2(4000) + 1


def test_burst_search_stops_at_its_precision():
    good, bad = search_burst(lambda n: n <= 1234, 1, 100_000, precision=0.01)
    assert good <= 1234 < bad and bad - good <= max(1, int(good * 0.01))


def test_burst_search_below_min_burst_is_zero():
    assert search_burst(lambda n: n <= 5, 10, 100) == (0, 10)


def test_back_to_back_record_averages_the_repeats():
    r = BackToBackRecord(reference_pps=1e6, offered_pps=None, min_burst=1, max_burst=4000,
                         searches=(BurstSearch(100, 101, (0, 1)), BurstSearch(110, 111, (2,)),
                                   BurstSearch(90, 91, (3, 4))), achieved_pps=5e5, caveats=("x",))
    assert r.frames == 100 and r.frames_stdev == pytest.approx(10.0)
    assert r.seconds == pytest.approx(100e-6) and not r.at_max
    back = BackToBackRecord.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r
    with pytest.raises(ValueError, match="trial 4"):
        r.check_trials(4)
    with pytest.raises(ValueError, match="below shortest_lost"):
        BurstSearch(100, 100, ())
    with pytest.raises(ResultError, match=r"back_to_back.searches\[0\].longest_ok"):
        BackToBackRecord.from_dict(dict(r.to_dict(), searches=[{"longest_ok": "x", "shortest_lost": 3,
                                                                "trials": []}]))


def _interval(n, tx, rx, lost, **kw):
    return dict({"n": n, "t_start_s": float(n), "t_end_s": float(n + 1), "tx": tx, "rx": rx, "lost": lost,
                 "lat_p99_ns": 1500.0, "rss_kb": 50000, "worker_rss_kb": 60000}, **kw)


def test_intervals_file_reads_back_and_a_cut_last_line_is_dropped(tmp_path):
    f = tmp_path / "s.intervals.jsonl"
    lines = [json.dumps(_interval(i, 100, 100 - (i == 1), int(i == 1))) for i in range(3)]
    f.write_text("\n".join(lines) + "\n" + lines[0][:20])  # killed while writing the 4th
    got = load_intervals(f)
    assert [i.n for i in got] == [0, 1, 2] and got[1].lost == 1 and got[2].rss_kb == 50000
    f.write_text(lines[0] + "\n{broken\n" + lines[1] + "\n")
    with pytest.raises(ResultError, match="line 2: not JSON"):
        load_intervals(f)
    f.write_text(json.dumps(_interval(0, "many", 1, 0)) + "\n")
    with pytest.raises(ResultError, match=r"line 1.tx: expected an integer"):
        load_intervals(f)


def test_soak_record_round_trip_and_checks():
    r = SoakRecord(rate_pps=1e4, duration_s=3600, interval_s=1.0, intervals_file="a.intervals.jsonl",
                   n_intervals=3601, trial=0, interrupted=False, sums_match=True, lossy_intervals=2,
                   worst_interval_lost=7, rss_start_kb=51000, rss_end_kb=51200)
    assert SoakRecord.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    with pytest.raises(ValueError, match="a file name next to the result"):
        SoakRecord(rate_pps=1, duration_s=1, interval_s=1, intervals_file="../x", n_intervals=0, trial=None)


def test_trial_stats_keep_ipdv_and_the_latency_stream_apart():
    lat = LatencySummary(min_ns=100, avg_ns=200, p50_ns=180, p99_ns=900, max_ns=1000, ipdv_pairs=99,
                         ipdv_mean_ns=-0.5, ipdv_p50_ns=10, ipdv_p99_ns=300, ipdv_max_ns=700)
    s = TrialStats(offered_pps=1e5, duration_s=1, elapsed_s=1, tx_packets=100000, rx_packets=100000, lost=0,
                   duplicates=0, reordered=0, latency=lat, latency_histogram=((1000.0, 100),),
                   ipdv_histogram=((512.0, 99),), latency_source="latency-stream",
                   latency_stream=StreamCounts(1000, 998, 2, 1.0), load_latency=lat)
    d = json.loads(json.dumps(Trial(s, {}, "").to_dict()))
    assert d["latency"]["ipdv_p99_ns"] == 300 and d["latency_stream"]["tx_pps"] == 1000.0
    back = Trial.from_dict(d)
    assert back.stats == s and back.stats.latency.pdv_p99_ns == 800
    old = dict(d, latency={k: d["latency"][k] for k in ("min_ns", "avg_ns", "p50_ns", "p99_ns", "max_ns")})
    for k in ("ipdv_histogram", "latency_source", "latency_stream", "load_latency"):
        old.pop(k)
    assert Trial.from_dict(old).stats.latency.ipdv_p99_ns is None  # written before IPDV: still reads
    with pytest.raises(ResultError, match="trial.latency_source"):
        Trial.from_dict(dict(d, latency_source="probe"))
    with pytest.raises(ResultError, match=r"trial.latency.ipdv_p99_ns: expected a number"):
        Trial.from_dict(dict(d, latency=dict(d["latency"], ipdv_p99_ns="x")))
    assert LatencyRecord  # the search's latency trials carry the same summary (measure._latency_trial)


def test_ipdv_is_shown_where_latency_is():
    """compare's text table, the HTML report and the CSV carry IPDV next to the percentiles,
    and say when the latency came from a latency stream."""
    import dataclasses

    from pktlab.analysis import compare, format_comparison, render_report, to_csv

    from .test_analysis_compare import result, stats

    s = stats(0.5, offered=5e5)
    lat = dataclasses.replace(s.latency, ipdv_pairs=10, ipdv_mean_ns=0.0, ipdv_p50_ns=1234.0,
                              ipdv_p99_ns=56789.0, ipdv_max_ns=99000.0)
    s = dataclasses.replace(s, latency=lat, latency_source="latency-stream",
                            latency_stream=StreamCounts(1000, 1000, 0, 1.0))
    r = result("veth", s)
    c = compare([r])
    (pl,) = c.latency
    assert pl.source == "latency-stream" and pl.percentiles.ipdv_ns == (1234.0, 56789.0, 99000.0)
    text = format_comparison(c)
    assert "IPDV p99" in text and "56.79" in text and "veth +" in text
    html = render_report([r])
    assert "IPDV p99 µs" in html and "56.79" in html and "latency stream" in html
    csv = to_csv([r]).splitlines()
    row = dict(zip(csv[0].split(","), csv[1].split(",")))
    assert float(row["ipdv_p99_ns"]) == 56789.0 and row["latency_source"] == "latency-stream"


def test_soak_timeline_chart_from_the_intervals_file(tmp_path):
    """The chart reads the intervals back from the file next to the result: loss per
    interval, latency per interval, and both processes' memory."""
    from pktlab.analysis.charts import save_figure, soak_figure
    from pktlab.analysis.soak import soak_intervals, timeline

    from .test_analysis_compare import result, stats

    f = tmp_path / "r.intervals.jsonl"
    f.write_text("".join(json.dumps(_interval(i, 100, 100 - 3 * (i == 2), 3 * (i == 2))) + "\n" for i in range(5)))
    rec = SoakRecord(rate_pps=100, duration_s=5, interval_s=1, intervals_file=f.name, n_intervals=5, trial=0)
    r = dataclasses_replace(result("veth", stats(0.0001)), soak=rec)
    tl = timeline(soak_intervals(r, tmp_path))
    assert tl.lost == [0, 0, 3, 0, 0] and tl.t_s == [1.0, 2.0, 3.0, 4.0, 5.0] and tl.p99_us == [1.5] * 5
    assert tl.rss_mb[0] == pytest.approx(50000 / 1024)
    png = save_figure(soak_figure(r, tmp_path), tmp_path / "soak.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    (tmp_path / f.name).unlink()
    with pytest.raises(ResultError, match="cannot read"):
        soak_figure(r, tmp_path)


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)
