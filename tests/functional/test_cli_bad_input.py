"""Bad input is refused with file, key and reason, exit 2, and the host untouched."""
from __future__ import annotations

import pytest

from pktlab import cli
from pktlab.ovs import daemons
from tests.conftest import SMOKE, host_state, needs_root, run_cli


def scenario(tmp_path, old, new):
    text = SMOKE.read_text()
    assert old in text
    p = tmp_path / "bad.toml"
    p.write_text(text.replace(old, new, 1))
    return p


def check_refused(p, state_dir, before, *words):
    assert p.returncode == 2, p.stdout + p.stderr
    for w in words:
        assert w in p.stderr, p.stderr
    assert host_state(state_dir) == before


def test_missing_file(tmp_path, state_dir):
    before = host_state(state_dir)
    p = run_cli("run", tmp_path / "absent.toml", state_dir=state_dir)
    check_refused(p, state_dir, before, "absent.toml", "no such file")


def test_unknown_key(tmp_path, state_dir):
    before = host_state(state_dir)
    f = scenario(tmp_path, "flows = 4 ", "flowz = 4 ")
    p = run_cli("run", f, state_dir=state_dir)
    check_refused(p, state_dir, before, str(f), "traffic.flowz", "unknown key")


def test_frame_size_out_of_range(tmp_path, state_dir):
    before = host_state(state_dir)
    f = scenario(tmp_path, "frame_size = 64 ", "frame_size = 10000 ")
    p = run_cli("run", f, state_dir=state_dir)
    check_refused(p, state_dir, before, str(f), "traffic.frame_size", "outside 64-9018")


def test_more_hugepages_than_the_host_can_give(tmp_path, state_dir):
    needs_root()
    before = host_state(state_dir)
    f = scenario(tmp_path, "count = 512 ", "count = 50000000 ")
    p = run_cli("run", f, state_dir=state_dir)
    check_refused(p, state_dir, before, str(f), "hugepages.count", "MiB available")


def test_missing_ovs_binary(tmp_path, state_dir, monkeypatch, capsys):
    """The OVS binary is pointed at a path that does not exist: a stand-in for a host without OVS-DPDK."""
    needs_root()
    before = host_state(state_dir)
    monkeypatch.setattr(daemons, "BINARIES", daemons.BINARIES + ("/nonexistent/ovs-vswitchd-dpdk",))
    rc = cli.main(["--state-dir", str(state_dir), "run", str(SMOKE), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(SMOKE) in err and "datapath[0].kind" in err and "/nonexistent/ovs-vswitchd-dpdk" in err
    assert host_state(state_dir) == before


def test_dry_run_prints_the_plan_and_changes_nothing(state_dir):
    before = host_state(state_dir)
    p = run_cli("run", SMOKE, "--dry-run", state_dir=state_dir)
    assert p.returncode == 0, p.stderr
    for text in ("reserve 512 x 2 MiB hugepages", "start ovs-vswitchd", "type=dpdkvhostuserclient",
                 "in_port=1,actions=output:2", "start the generator on core 0",
                 "undo, in reverse", "stop ovs-vswitchd", "restore 2 MiB nr_hugepages"):
        assert text in p.stdout, text
    assert host_state(state_dir) == before
    assert not (state_dir / "journal").exists()


@pytest.mark.parametrize("args", [["plot", "missing.json", "-o", "x.png"]])
def test_plot_of_a_missing_result_fails_clearly(args, state_dir):
    p = run_cli(*args, state_dir=state_dir)
    assert p.returncode != 0 and "missing.json" in p.stderr


def test_state_dir_too_long_for_unix_sockets(tmp_path):
    needs_root()
    deep = tmp_path / ("d" * 60) / ("e" * 40)
    deep.mkdir(parents=True)
    before = host_state(deep)
    p = run_cli("run", SMOKE, "--out", tmp_path / "out", state_dir=deep)
    check_refused(p, deep, before, "longer than 107 bytes", "--state-dir")


@pytest.mark.parametrize("content", [
    b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00\xff\xfe",  # a binary
    SMOKE.read_text().encode("utf-16"),  # text, but UTF-16
], ids=["binary", "utf-16"])
def test_a_scenario_that_is_not_utf8_text(tmp_path, state_dir, content):
    before = host_state(state_dir)
    f = tmp_path / "not-text.toml"
    f.write_bytes(content)
    p = run_cli("run", f, state_dir=state_dir)
    check_refused(p, state_dir, before, str(f), "not UTF-8")
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", ""])
def test_a_datapath_name_that_is_not_a_safe_file_name_is_refused_at_load(tmp_path, state_dir, name):
    """Before: accepted, the run measured, and writing the result raised a traceback."""
    before = host_state(state_dir)
    f = scenario(tmp_path, 'name = "ovs-dpdk-vhostuser"', f'name = "{name}"')
    p = run_cli("run", f, state_dir=state_dir)
    check_refused(p, state_dir, before, str(f), "datapath[0].name", "safe file name")
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("new, key, reason", [
    ('frame_size = 68 \nencap = "vlan"\nvlan = 4095', "traffic.vlan", "VLAN ID 4095 out of range"),
    ('frame_size = 128 \nencap = "vxlan"\nvni = 16777216', "traffic.vni", "over 24 bits"),
    ('frame_size = 128 \nip_version = 6\nflow_fields = { src_ip = "2001:2::ffff:fffe-2001:2::1:0:1" }',
     "traffic.flow_fields.src_ip", "does not fit its prefix"),
    ('frame_size = 64 \nflow_fields = { vni = "1-4" }', "traffic.flow_fields.vni", "no VXLAN header"),
])
def test_bad_frames_and_flows_are_refused(tmp_path, state_dir, new, key, reason):
    before = host_state(state_dir)
    f = scenario(tmp_path, "frame_size = 64 ", new)
    f.write_text(f.read_text().replace('vary = "src_ip"\n', "", 1))
    p = run_cli("run", f, state_dir=state_dir)
    check_refused(p, state_dir, before, str(f), key, reason)
    assert "Traceback" not in p.stderr
