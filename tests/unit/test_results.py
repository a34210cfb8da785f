import json
import re

import pytest

from pktlab.errors import PktlabError
from pktlab.results.stats import LatencySummary, PortStats, TrialStats
from pktlab.results import (SCHEMA_VERSION, Provenance, Result, Trial, load_result, load_results,
                            write_result)


def stats(rx=299_980, tx=300_000, elapsed=0.1, latency=True, offered=None):
    return TrialStats(
        offered_pps=offered, duration_s=0.1, elapsed_s=elapsed, tx_packets=tx, rx_packets=rx,
        lost=tx - rx, duplicates=0, reordered=3, tx_dropped=7,
        latency=LatencySummary(1200.0, 2500.5, 2300.0, 9100.0, 15000.0) if latency else None,
        latency_histogram=((1024.0, 10), (2048.0, 250_000), (16384.0, 49_970)) if latency else (),
        ports=(PortStats("p0", tx, 0), PortStats("p1", 0, rx, rx_foreign=2, rx_missed=5)),
    )


def trial(rx=299_980, **kw):
    return Trial(stats(rx=rx, **kw),
                 counters={"vhu1": {"rx_packets": rx, "tx_packets": rx, "rx_dropped": 0},
                           "vhu0": {"rx_packets": 300_000, "tx_packets": 300_000, "rx_dropped": 0}},
                 counters_source="ovsdb:Interface.statistics")


def provenance(utc_time="2025-11-21T09:00:00Z", **kw):
    return Provenance(**{
        "host": "lab1", "kernel": "6.18.0", "cpu_model": "AMD EPYC",
        "cores_used": {"generator": [0], "ovs_pmd": [1]}, "numa_nodes": 1,
        "dpdk_version": "22.11.11", "ovs_version": "3.1.0", "pktlab_version": "0.1.0",
        "git_commit": None, "utc_time": utc_time, **kw})


def result(datapath="ovs-dpdk-vhost", trials=None, **kw):
    kw = {"schema_version": SCHEMA_VERSION,
          "scenario": {"name": "loopback", "duration_s": 10, "datapaths": ["ovs-dpdk-vhost"]},
          "datapath": datapath, "frame_size": 64, "flows": 1, "provenance": provenance(),
          "trials": (trial(), trial(rx=250_000, latency=False, offered=2.5e6))
          if trials is None else trials, **kw}
    return Result(**kw)


NOT_RUN = dict(trials=(), status="not-run", reason="no openvswitch kernel module")


@pytest.mark.parametrize("r", [
    result(),
    result(trials=(trial(latency=False),
                   Trial(stats(), {"vhu0": {"rx_packets": -12}}, "ovsdb:Interface.statistics"))),
    result(datapath="ovs-kernel", **NOT_RUN),
    result(trials=(trial(),), status="failed", reason="PMD thread died after trial 1"),
], ids=["latency", "no-latency", "not-run", "failed"])
def test_round_trip(tmp_path, r):
    path = write_result(r, tmp_path)
    assert load_result(path) == r
    assert load_results([path, tmp_path]) == [r, r]  # a directory stands for its *.json


def test_file_name_and_layout(tmp_path):
    path = write_result(result(), tmp_path / "new" / "dir")
    assert path.name == "loopback-ovs-dpdk-vhost-20251121T090000Z.json"
    text = path.read_text()
    assert text.startswith('{\n  "schema_version": 1,') and text.endswith("}\n")
    assert "\n        [2048.0, 250000],\n" in text  # one histogram bucket per line
    t0 = json.loads(text)["trials"][0]
    # flat: the generator's fields and the DUT counters side by side, rates included
    assert t0["rx_packets"] == 299_980 and t0["rx_pps"] == pytest.approx(2_999_800)
    assert t0["latency"]["p99_ns"] == 9100.0 and t0["latency_histogram"][1] == [2048.0, 250_000]
    assert list(t0["counters"]) == ["vhu0", "vhu1"]  # stable order for diffs
    assert t0["counters_source"] == "ovsdb:Interface.statistics"
    assert json.loads(text)["trials"][1]["offered_pps"] == 2.5e6


def test_write_is_atomic_and_never_overwrites(tmp_path):
    a = write_result(result(), tmp_path)
    b = write_result(result(), tmp_path)  # same scenario, data path and second
    assert a != b and b.name.endswith("Z-2.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.name, b.name])  # no temp left


def test_failed_write_leaves_nothing(tmp_path):
    bad = result(trials=(trial(offered=float("nan")),))  # NaN is not JSON
    with pytest.raises(ValueError):
        write_result(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_best_rx_pps():
    assert result().best_rx_pps == pytest.approx(2_999_800)
    assert result(**NOT_RUN).best_rx_pps is None


def _corrupt(tmp_path, edit):
    path = write_result(result(), tmp_path)
    d = json.loads(path.read_text())
    edit(d)
    path.write_text(json.dumps(d))
    with pytest.raises(PktlabError) as e:
        load_result(path)
    assert str(path) in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("edit, key, why", [
    (lambda d: d["trials"][1].pop("rx_packets"), "trials[1].rx_packets", "missing"),
    (lambda d: d.pop("provenance"), "provenance", "missing"),
    (lambda d: d["provenance"].pop("utc_time"), "provenance.utc_time", "missing"),
    (lambda d: d.update(frame_size="64"), "frame_size", "expected an integer, got str"),
    (lambda d: d["trials"][0].update(elapsed_s=None), "trials[0].elapsed_s", "got null"),
    (lambda d: d["trials"][0].update(interrupted=0), "trials[0].interrupted", "got int"),
    (lambda d: d["trials"][0]["latency"].update(p99_ns="9us"), "trials[0].latency.p99_ns",
     "got str"),
    (lambda d: d["trials"][0]["counters"]["vhu0"].update(rx_packets=1.5),
     "trials[0].counters.vhu0.rx_packets", "got float"),
    (lambda d: d["provenance"]["cores_used"].update(ovs_pmd=["1"]),
     "provenance.cores_used.ovs_pmd[0]", "got str"),
    (lambda d: d.update(status="skipped"), "", "status = 'skipped'"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_load_names_file_and_key(tmp_path, edit, key, why):
    msg = _corrupt(tmp_path, edit)
    assert key in msg and why in msg, msg


def test_load_unknown_schema_version(tmp_path):
    msg = _corrupt(tmp_path, lambda d: d.update(schema_version=SCHEMA_VERSION + 1))
    assert re.search(rf"schema_version: version {SCHEMA_VERSION + 1} is not known", msg), msg


def test_load_not_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"schema_version": 1,')
    with pytest.raises(PktlabError, match=r"x\.json: not valid JSON"):
        load_result(path)
    with pytest.raises(PktlabError, match=r"missing\.json: cannot read"):
        load_result(tmp_path / "missing.json")


@pytest.mark.parametrize("kw, match", [
    (dict(status="bogus"), "status"),
    (dict(trials=(), status="not-run"), "needs a reason"),
    (dict(status="not-run", reason="x"), "cannot carry trials"),
    (dict(trials=()), "at least one trial"),
    (dict(frame_size=60), "frame_size"),
    (dict(datapath="a/b"), "datapath"),
    (dict(schema_version=0), "schema_version"),
    (dict(scenario={"name": "x", "when": object()}), "not JSON-able"),
])
def test_result_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        result(**kw)


def test_trial_and_provenance_validation():
    with pytest.raises(ValueError, match="integer delta"):
        Trial(stats(), {"vhu0": {"rx_packets": 5.0}}, "ovsdb:Interface.statistics")
    with pytest.raises(ValueError, match="counters_source"):
        Trial(stats(), {"vhu0": {"rx_packets": 5}}, "")
    with pytest.raises(ValueError, match="utc_time"):
        provenance(utc_time="2025-11-21 09:00")
    with pytest.raises(ValueError, match="numa_nodes"):
        provenance(numa_nodes=0)


def test_frozen_copies_inputs():
    counters = {"vhu0": {"rx_packets": 1}}
    t = Trial(stats(), counters, "ovsdb:Interface.statistics")
    counters["vhu0"]["rx_packets"] = 2
    assert t.counters["vhu0"]["rx_packets"] == 1


def test_generator_side_loss_is_kept_apart_from_the_duts(tmp_path):
    """rx_missed: of the lost frames, those dropped entering the generator's own receive
    queues; it survives the file and reads 0 from results written before it existed."""
    r = result()
    t = r.trials[0].stats
    assert t.rx_missed == 5 and t.lost == 20
    d = t.to_dict()
    assert d["rx_missed"] == 5 and d["ports"][1]["rx_missed"] == 5
    assert load_result(write_result(r, tmp_path)).trials[0].stats.rx_missed == 5
    del d["ports"][1]["rx_missed"]
    assert TrialStats.from_dict(d).rx_missed == 0


def test_the_run_output_says_where_frames_were_lost():
    from pktlab.measure import Session

    lines = []
    s = Session.__new__(Session)
    s.out = lines.append
    s.say(trial())
    assert "lost 20 (5 of them at the generator's own receive queues)" in lines[0]
