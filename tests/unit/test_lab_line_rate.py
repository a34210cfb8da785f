"""Line rate of the lab paths: link speed of the generator's sending NICs, read from
the (fake) server's sysfs, x ports sending; traffic.link_speed where sysfs shows none."""
from __future__ import annotations

import dataclasses

import pytest

from pktlab import cli
from pktlab.errors import PrecheckError
from pktlab.measure import max_load
from pktlab.units import LineRate
from tests import fakesys
from tests.unit.test_lab_paths import DUT, GEN, fake, load, path_for  # noqa: F401 - fake is a fixture

NO_KEY = {'link_speed = "10G"\n': ""}


def nics(speeds: dict[str, int]):
    """The lab server's NICs, those named (by PCI address) up at the given speed [Mbit/s]:
    sysfs shows a link's speed only while it is up."""
    return [dataclasses.replace(n, up=True, speed=speeds[n.pci]) if n.pci in speeds else n
            for n in fakesys.lab_server().nics]


def allow(*names):
    return {"allow_in_use = []": f"allow_in_use = {list(names)!r}".replace("'", '"')}


def test_the_line_rate_is_the_generator_nics_speed_times_ports_sending(tmp_path, fake):
    root, _, kernel = fake(nics=nics({GEN[0]: 25000, GEN[1]: 25000}))
    sc = load(tmp_path, "lab-ovs-dpdk-p2p.toml", {**NO_KEY, **allow("ens2f0", "ens2f1", "enp3s0f1")})
    p = path_for(sc, root)
    line = p.line_rate()
    assert (line.link_bps, line.ports) == (25e9, 2)
    assert line.source == "NIC speed (sysfs): ens2f0 25 GbE, ens2f1 25 GbE"
    assert max_load(sc, line) == pytest.approx(2 * 37.202e6, rel=1e-4)  # the search's maximum
    assert "line rate: 2 × 25 GbE (NIC speed (sysfs): ens2f0 25 GbE, ens2f1 25 GbE)" in p.explain()
    assert kernel.writes == []


def test_the_slowest_sending_port_sets_the_link_speed(tmp_path, fake):
    root, _, _ = fake(nics=nics({GEN[0]: 25000, GEN[1]: 10000}))
    edits = {**NO_KEY, **allow("ens2f0", "ens2f1", "enp3s0f1")}
    assert path_for(load(tmp_path, "lab-ovs-dpdk-p2p.toml", edits), root).line_rate() == \
        LineRate(10e9, 2, "NIC speed (sysfs): ens2f0 25 GbE, ens2f1 10 GbE")
    # unidirectional: only gen port 0 sends, its speed alone counts
    uni = load(tmp_path, "lab-ovs-dpdk-p2p.toml", {**edits, 'direction = "bidirectional"': 'direction = "unidirectional"'})
    assert path_for(uni, root).line_rate() == LineRate(25e9, 1, "NIC speed (sysfs): ens2f0 25 GbE")


def test_an_unknown_speed_without_link_speed_is_refused_before_the_run(tmp_path, fake, capsys):
    root, _, kernel = fake()  # the generator's NICs are down: sysfs shows no speed
    sc = load(tmp_path, "lab-ovs-dpdk-p2p.toml", {**NO_KEY, **allow("enp3s0f1")})
    p = path_for(sc, root)
    with pytest.raises(PrecheckError) as e:
        p.precheck()
    assert e.value.key == "traffic.link_speed"
    assert str(e.value).startswith(f"{sc.file}: traffic.link_speed: the link speed of ens2f0, ens2f1 is unknown")
    # --dry-run still shows the plan, and says what is missing
    assert cli.main(["--sysfs-root", root, "--state-dir", str(tmp_path / "st"), "run", "--dry-run", str(sc.file)]) == 0
    assert "! line rate: " in capsys.readouterr().out
    assert kernel.writes == []


def test_link_speed_stands_in_for_a_down_link(tmp_path, fake):
    root, _, _ = fake()
    sc = load(tmp_path, "lab-ovs-dpdk-p2p.toml", {'link_speed = "10G"': 'link_speed = "25G"', **allow("enp3s0f1")})
    assert path_for(sc, root).line_rate() == LineRate(25e9, 2, "traffic.link_speed for ens2f0, ens2f1 (speed not shown)")


def test_link_speed_must_agree_with_the_nics_that_show_one(tmp_path, fake):
    root, _, _ = fake(nics=nics({GEN[0]: 10000, GEN[1]: 10000}))
    p = path_for(load(tmp_path, "lab-ovs-dpdk-p2p.toml", {'link_speed = "10G"': 'link_speed = "25G"',
                                                           **allow("ens2f0", "ens2f1", "enp3s0f1")}), root)
    with pytest.raises(PrecheckError, match=r": traffic.link_speed: '25G', but the generator's sending NICs link "
                                            r"at ens2f0 10 GbE, ens2f1 10 GbE"):
        p.line_rate()


def test_sriov_vfs_run_at_their_pfs_speed(tmp_path, fake):
    root, _, _ = fake(nics=nics({DUT[0]: 40000}))
    sc = load(tmp_path, "lab-sriov-vf.toml", {**NO_KEY, **allow("enp3s0f0")})
    assert path_for(sc, root).line_rate() == LineRate(40e9, 2, "NIC speed (sysfs): enp3s0f0 40 GbE")
