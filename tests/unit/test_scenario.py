"""Scenario validation: every bad input names the file, the key and the reason."""
from __future__ import annotations

import pytest

from pktlab import scenario
from pktlab.errors import ScenarioError
from tests.conftest import SMOKE

GOOD = SMOKE.read_text()


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def bad(tmp_path, text):
    p = write(tmp_path, text)
    with pytest.raises(ScenarioError) as ei:
        scenario.load(p)
    assert str(p) in str(ei.value)
    return ei.value


def test_smoke_scenario_loads_with_its_values():
    s = scenario.load(SMOKE)
    assert s.name == "smoke-ovs-dpdk"
    assert s.traffic.frame_size == 64 and s.traffic.flows == 4
    assert s.method.offered == (None, 100000.0)
    assert s.cpu.generator == 0 and s.cpu.ovs_pmd == (1,)
    assert [d.kind for d in s.datapaths] == ["ovs-dpdk-vhost"]
    assert s.hugepages.total_mb == 1024
    d = s.as_dict()
    assert d["traffic"]["frame_size"] == 64 and d["datapaths"][0]["options"]["vhost_mode"] == "client"


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such file") as ei:
        scenario.load(tmp_path / "nope.toml")
    assert "nope.toml" in str(ei.value)


def test_not_toml(tmp_path):
    e = bad(tmp_path, "[scenario\nname=")
    assert "not valid TOML" in e.reason


@pytest.mark.parametrize("old,new,key,reason", [
    ("flows = 4 ", "flows = 4\ncolour = 'red' ", "traffic.colour", "unknown key"),
    ("[method]", "[methods]\n[method]", "methods", "unknown table"),
    ("vhost_mode = \"client\"", "vhost_mode = \"client\"\nspeed = 1", "datapath[0].speed", "unknown key"),
    ("frame_size = 64 ", "frame_size = \"64\" ", "traffic.frame_size", "must be an integer"),
    ("frame_size = 64 ", "frame_size = 64.5 ", "traffic.frame_size", "must be an integer"),
    ("flows = 4 ", "flows = true ", "traffic.flows", "must be an integer"),
    ("ovs_pmd = [1]", "ovs_pmd = 1", "cpu.ovs_pmd", "must be a list of an integer"),
    ("duration = 3.0", "duration = \"3s\"", "method.duration", "must be a number"),
    ("frame_size = 64 ", "frame_size = 63 ", "traffic.frame_size", "outside 64-9018"),
    ("frame_size = 64 ", "frame_size = 9019 ", "traffic.frame_size", "outside 64-9018"),
    ("flows = 4 ", "flows = 0 ", "traffic.flows", "between 1 and 16777216"),
    ("vary = \"src_ip\"", "vary = \"dst_mac\"", "traffic.vary", "must be src_ip, src_port or both"),
    ("rates = [\"max\", 100000]", "rates = [\"fast\"]", "method.rates", "positive number of pps or \"max\""),
    ("rates = [\"max\", 100000]", "rates = [-5]", "method.rates", "positive number"),
    ("count = 512 ", "count = 0 ", "hugepages.count", "at least 1"),
    ("size = \"2M\"", "size = \"4M\"", "hugepages.size", "\"2M\" or \"1G\""),
    ("generator = 0 ", "generator = 1 ", "cpu.generator", "starve"),
    ("kind = \"ovs-dpdk-vhost\"", "kind = \"ovs-magic\"", "datapath[0].kind", "unknown data path"),
    ("vhost_mode = \"client\"", "vhost_mode = \"both\"", "datapath[0].vhost_mode", "client or server"),
    ("name = \"smoke-ovs-dpdk\"", "name = \"a b/c\"", "scenario.name", "letters, digits"),
])
def test_bad_values_name_file_key_and_reason(tmp_path, old, new, key, reason):
    assert old in GOOD, old
    e = bad(tmp_path, GOOD.replace(old, new, 1))
    assert e.key == key
    assert reason in e.reason
    assert f": {key}: " in str(e)


def test_missing_required_table(tmp_path):
    start, end = GOOD.index("[cpu]"), GOOD.index("[traffic]")
    e = bad(tmp_path, GOOD[:start] + GOOD[end:])
    # [cpu] may be left out only where every data path places its own cores
    assert e.key == "cpu.generator" and "missing" in e.reason and "ovs-dpdk-vhost" in e.reason
    start, end = GOOD.index("[[datapath]]"), len(GOOD)
    e = bad(tmp_path, GOOD[:start])
    assert e.key == "datapath" and "missing" in e.reason


def test_missing_required_key(tmp_path):
    e = bad(tmp_path, GOOD.replace("generator = 0 ", "", 1))
    assert e.key == "cpu.generator" and "missing" in e.reason


def test_duplicate_datapath_names(tmp_path):
    extra = "\n[[datapath]]\nkind = \"ovs-dpdk-vhost\"\nname = \"ovs-dpdk-vhostuser\"\n"
    e = bad(tmp_path, GOOD + extra)
    assert e.key == "datapath" and "unique" in e.reason


def test_a_frame_size_sweep_runs_each_size(tmp_path):
    s = scenario.load(write(tmp_path, GOOD.replace("frame_size = 64 ", "frame_sizes = [64, 128, 1518] ")))
    assert s.traffic.sizes == (64, 128, 1518)
    assert s.at_size(1518).traffic.frame_size == 1518 and s.at_size(1518).traffic.frame_sizes == ()
    e = bad(tmp_path, GOOD.replace("frame_size = 64 ", "frame_sizes = [64, 20000] "))
    assert e.key == "traffic.frame_sizes" and "64-9018" in e.reason


@pytest.mark.parametrize("name", sorted(p.name for p in (SMOKE.parent).glob("*.toml")))
def test_every_shipped_scenario_loads(name):
    s = scenario.load(SMOKE.parent / name)
    assert s.datapaths and s.name


def test_imix_is_three_weighted_streams_per_direction(tmp_path):
    from pktlab.datapaths.streams import streams_for

    s = scenario.load(write(tmp_path, GOOD.replace("frame_size = 64 ", 'frame_sizes = [64, "imix"] ')))
    assert s.traffic.sizes == (64, "imix")
    imix = s.at_size("imix").traffic
    assert imix.imix and imix.frame_size == scenario.IMIX_MEAN == 354
    streams = streams_for(imix, 2)
    assert [(len(x.template) + 4, x.weight, x.tx_port) for x in streams] == [
        (64, 7, 0), (570, 4, 0), (1518, 1, 0), (64, 7, 1), (570, 4, 1), (1518, 1, 1)]
    e = bad(tmp_path, GOOD.replace("frame_size = 64 ", 'frame_sizes = ["jumbo"] '))
    assert e.key == "traffic.frame_sizes" and "imix" in e.reason
