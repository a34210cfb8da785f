"""BindDriver, CreateVfs and ConfigureVf: the exact writes, their undo, refusals
that touch nothing, and undo from the journal of a killed run.

All on a fake tree (tests/fakesys.py: a two-node lab server with an 82599
PF) with a fake kernel answering the writes, except where a docstring says
otherwise; ConfigureVf talks to a stand-in for its netlink seam (a VF needs
an SR-IOV NIC; tests/functional/test_vf_netlink_real.py checks the request
against the real kernel).
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from pktlab import journal
from pktlab.context import RunContext
from pktlab.errors import StepError
from pktlab.host import sriov, sysfs_attr
from pktlab.host.pci import BindDriver, bind_refusal
from pktlab.host.sriov import ConfigureVf, CreateVfs, parse_vfinfo, vfs_refusal
from pktlab.inventory import netdevs, sysfs
from pktlab.plan import Applied, Step
from tests import fakesys
from tests.conftest import REPO

PF = "0000:03:00.0"  # 8086:10fb ixgbe, node 1, enp3s0f0, down, SR-IOV 0/63
PF_IN_USE = "0000:03:00.1"  # enp3s0f1: up, with an IPv6 address
MGMT = "0000:01:00.0"  # eno1: the default route
DEV = f"sys/bus/pci/devices/{PF}"


def fake(tmp_path, monkeypatch, fail=None, **changes):
    host = fakesys.two_node_host(**changes)
    root = fakesys.build(tmp_path / "root", host)
    kernel = fakesys.FakeKernel(root, host, fail=fail).install(monkeypatch)
    return str(root), host, kernel


def applied(state_dir, run_id="r1"):
    return Applied(journal.Journal.create(state_dir, run_id), RunContext(state_dir, run_id))


# ---------------------------------------------------------------- BindDriver

def test_bind_pf_to_vfio_writes_override_unbind_probe_and_undo_rebinds(tmp_path, monkeypatch, state_dir):
    """Fake tree: the PF goes to vfio-pci (its netdev goes with ixgbe), and comes back byte for byte."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    before = fakesys.snapshot(root)
    with applied(state_dir) as a:
        step = a.apply(BindDriver(PF, "vfio-pci", root))
        nic = sysfs.read_nic(PF, root)
        assert (nic.driver, nic.driver_override, nic.netdevs) == ("vfio-pci", "vfio-pci", ())
        assert step.state == {"pci": PF, "driver_before": "ixgbe", "override_before": None,
                              "ifnames_before": ["enp3s0f0"]}
        [rec] = json.loads(next(journal.journal_dir(state_dir).glob("*.json")).read_text())["steps"]
        assert rec["state"]["driver_before"] == "ixgbe" and rec["status"] == "applied"
    assert kernel.writes == [
        (f"{DEV}/driver_override", "vfio-pci"),
        ("sys/bus/pci/drivers/ixgbe/unbind", PF),
        ("sys/bus/pci/drivers_probe", PF),
        # undo
        (f"{DEV}/driver_override", "ixgbe"),
        ("sys/bus/pci/drivers/vfio-pci/unbind", PF),
        ("sys/bus/pci/drivers_probe", PF),
        (f"{DEV}/driver_override", "\n"),
    ]
    assert fakesys.snapshot(root) == before
    assert sysfs.read_nic(PF, root).ifname == "enp3s0f0"
    assert journal.pending(state_dir) == []


def test_bind_undo_is_safe_twice_and_without_apply(tmp_path, monkeypatch, state_dir):
    """Fake tree: a second undo, and the undo of a step that never ran, write nothing."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    ctx = RunContext(state_dir, "r1")
    step = BindDriver(PF, "vfio-pci", root)
    step.apply(ctx)
    step.undo(ctx)
    n = len(kernel.writes)
    step.undo(ctx)
    BindDriver(PF, "vfio-pci", root).undo(ctx)
    assert len(kernel.writes) == n == 7


def test_bind_to_the_driver_it_has_writes_nothing(tmp_path, monkeypatch, state_dir):
    """Fake tree: already on ixgbe, binding to ixgbe is a no-op both ways."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    with applied(state_dir) as a:
        a.apply(BindDriver(PF, "ixgbe", root))
    assert kernel.writes == []


def test_bind_cut_off_by_a_failed_probe_is_undone(tmp_path, monkeypatch, state_dir):
    """Fake tree: drivers_probe fails once (EINVAL) after the unbind; undo rebinds ixgbe."""
    root, _, kernel = fake(tmp_path, monkeypatch, fail={"sys/bus/pci/drivers_probe": errno.EINVAL})
    before = fakesys.snapshot(root)
    with pytest.raises(StepError, match=r"drivers_probe: Invalid argument \(EINVAL\)"):
        with applied(state_dir) as a:
            a.apply(BindDriver(PF, "vfio-pci", root))
    assert kernel.writes[3:] == [  # the device was left with no driver: no unbind in undo
        (f"{DEV}/driver_override", "ixgbe"),
        ("sys/bus/pci/drivers_probe", PF),
        (f"{DEV}/driver_override", "\n"),
    ]
    assert fakesys.snapshot(root) == before


def test_bind_an_unbound_vf_and_back(tmp_path, monkeypatch, state_dir):
    """Fake tree: a VF with no driver goes to vfio-pci and back to no driver (no probe on undo)."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    ctx = RunContext(state_dir, "r1")
    vfs = CreateVfs(PF, 2, root)
    vfs.apply(ctx)
    vf = vfs.state["vfs"][0]
    assert vf == "0000:03:10.0"
    kernel.writes.clear()
    step = BindDriver(vf, "vfio-pci", root)
    step.apply(ctx)
    step.undo(ctx)
    assert kernel.writes == [
        (f"sys/bus/pci/devices/{vf}/driver_override", "vfio-pci"),
        ("sys/bus/pci/drivers_probe", vf),
        (f"sys/bus/pci/devices/{vf}/driver_override", "\n"),
        ("sys/bus/pci/drivers/vfio-pci/unbind", vf),
    ]
    assert sysfs.read_nic(vf, root).driver is None
    vfs.undo(ctx)


@pytest.mark.parametrize("pci,driver,changes,reason", [
    (MGMT, "vfio-pci", {}, r"0000:01:00.0 is the management NIC: it carries the default route \(eno1\)"),
    (PF_IN_USE, "vfio-pci", {}, r"in use: enp3s0f1 is up; enp3s0f1 has address fd00::1/64"),
    (PF, "vfio-pci", {"iommu": False}, r"vfio-pci needs the IOMMU, and it is off"),
    (PF, "uio_pci_generic", {}, r"driver uio_pci_generic is not loaded .*modprobe uio_pci_generic"),
    ("0000:09:00.0", "vfio-pci", {}, r"no PCI device 0000:09:00.0"),
    ("enp3s0f0", "vfio-pci", {}, r"'enp3s0f0' is not a PCI address"),
], ids=["management", "in-use", "iommu-off", "driver-not-loaded", "no-device", "not-an-address"])
def test_bind_refusals_leave_the_tree_untouched(tmp_path, monkeypatch, state_dir, pci, driver, changes, reason):
    """Fake tree: each refusal happens before the first write; the tree is byte-for-byte as it was."""
    root, _, kernel = fake(tmp_path, monkeypatch, **changes)
    before = fakesys.snapshot(root)
    assert bind_refusal(pci, driver, root) is not None
    with pytest.raises(StepError, match=reason):
        with applied(state_dir) as a:
            a.apply(BindDriver(pci, driver, root))
    assert kernel.writes == []
    assert fakesys.snapshot(root) == before
    assert journal.pending(state_dir) == []


def test_bind_refuses_an_interface_with_only_an_ipv4_address(tmp_path, monkeypatch):
    """Fake tree, IPv4 from a stand-in for netlink: a down port with an address is still in use."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    monkeypatch.setattr(netdevs, "ipv4_addresses", lambda root: {"ens2f0": ["192.168.7.1/24"]})
    assert "ens2f0 has address 192.168.7.1/24" in bind_refusal("0000:02:00.0", "vfio-pci", root)
    assert kernel.writes == []


def test_bind_refuses_a_pf_with_vfs(tmp_path, monkeypatch):
    """Fake tree: unbinding a PF would take its VFs with it."""
    root, _, _ = fake(tmp_path, monkeypatch, nics=[dataclasses.replace(n, sriov_num=2) if n.pci == PF else n
                                                   for n in fakesys.two_node_host().nics])
    assert "has 2 VFs" in bind_refusal(PF, "vfio-pci", root)


def test_bind_in_use_with_allow_in_use(tmp_path, monkeypatch, state_dir):
    """Fake tree: allow_in_use=True takes the up, addressed port; undo gives it back as it was."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    before = fakesys.snapshot(root)
    with applied(state_dir) as a:
        a.apply(BindDriver(PF_IN_USE, "vfio-pci", root, allow_in_use=True))
        assert sysfs.read_nic(PF_IN_USE, root).driver == "vfio-pci"
    assert len(kernel.writes) == 7 and fakesys.snapshot(root) == before


def test_vfio_allowed_in_no_iommu_mode(tmp_path, monkeypatch):
    """Fake tree: IOMMU off but vfio's enable_unsafe_noiommu_mode on (set by hand): no refusal."""
    root, _, _ = fake(tmp_path, monkeypatch, iommu=False)
    fakesys._write(tmp_path / "root/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n")
    assert bind_refusal(PF, "vfio-pci", root) is None


# ---------------------------------------------------------------- CreateVfs

def test_create_vfs_writes_numvfs_and_undo_writes_zero(tmp_path, monkeypatch, state_dir):
    """Fake tree: 4 VFs appear (PCI functions with physfn), undo removes them byte for byte."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    before = fakesys.snapshot(root)
    with applied(state_dir) as a:
        step = a.apply(CreateVfs("enp3s0f0", 4, root))
        nic = sysfs.read_nic(PF, root)
        assert (nic.sriov_numvfs, nic.vfs) == (4, ("0000:03:10.0", "0000:03:10.2", "0000:03:10.4", "0000:03:10.6"))
        assert step.state == {"pci": PF, "numvfs_before": 0, "vfs": list(nic.vfs)}
        vf = sysfs.read_nic("0000:03:10.2", root)
        assert (vf.physfn, vf.vendor_device, vf.numa_node) == (PF, "8086:10ed", 1)
    assert kernel.writes == [(f"{DEV}/sriov_numvfs", "4"), (f"{DEV}/sriov_numvfs", "0")]
    assert fakesys.snapshot(root) == before


def test_create_vfs_goes_through_zero_from_another_count(tmp_path, monkeypatch, state_dir):
    """Fake tree with 2 VFs set: the kernel refuses 2 -> 4 (EBUSY), so 0 then 4; undo 0 then 2."""
    nics = [dataclasses.replace(n, sriov_num=2) if n.pci == PF else n for n in fakesys.two_node_host().nics]
    root, _, kernel = fake(tmp_path, monkeypatch, nics=nics)
    before = fakesys.snapshot(root)
    with pytest.raises(OSError) as e:  # what the fake kernel (like Linux) does to a direct change
        sysfs_attr.write_attr(root, f"{DEV}/sriov_numvfs", "4")
    assert e.value.errno == errno.EBUSY
    kernel.writes.clear()
    with applied(state_dir) as a:
        a.apply(CreateVfs(PF, 4, root))
        assert sysfs.read_nic(PF, root).sriov_numvfs == 4
    assert kernel.writes == [(f"{DEV}/sriov_numvfs", "0"), (f"{DEV}/sriov_numvfs", "4"),
                             (f"{DEV}/sriov_numvfs", "0"), (f"{DEV}/sriov_numvfs", "2")]
    assert fakesys.snapshot(root) == before


def test_create_vfs_same_count_and_undo_twice_write_nothing_more(tmp_path, monkeypatch, state_dir):
    """Fake tree: asking for the count it has is a no-op; a second undo writes nothing."""
    root, _, kernel = fake(tmp_path, monkeypatch)
    ctx = RunContext(state_dir, "r1")
    CreateVfs(PF, 0, root).apply(ctx)
    assert kernel.writes == []
    step = CreateVfs(PF, 3, root)
    step.apply(ctx)
    step.undo(ctx)
    step.undo(ctx)
    CreateVfs(PF, 3, root).undo(ctx)  # never applied: knows nothing, does nothing
    assert kernel.writes == [(f"{DEV}/sriov_numvfs", "3"), (f"{DEV}/sriov_numvfs", "0")]


@pytest.mark.parametrize("pf,count,changes,reason", [
    (PF, 64, {}, r"takes 0 to 63 VFs \(sriov_totalvfs\), not 64"),
    ("ens2f0", 2, {}, r"0000:02:00.0 is not SR-IOV capable"),
    ("eth9", 2, {}, r"'eth9' is neither a PCI address nor a PCI network interface"),
    (MGMT, 2, {"mgmt_sriov": True}, r"is the management NIC; some PF drivers \(ixgbe\) reset the port"),
], ids=["too-many", "not-capable", "no-such-port", "management"])
def test_create_vfs_refusals_leave_the_tree_untouched(tmp_path, monkeypatch, state_dir, pf, count, changes, reason):
    """Fake tree: refused before any write; the tree is byte-for-byte as it was."""
    nics = fakesys.two_node_host().nics
    if changes.pop("mgmt_sriov", False):
        nics = [dataclasses.replace(n, sriov_total=7) if n.pci == MGMT else n for n in nics]
    root, _, kernel = fake(tmp_path, monkeypatch, nics=nics)
    before = fakesys.snapshot(root)
    assert vfs_refusal(pf, count, root) is not None
    with pytest.raises(StepError, match=reason):
        with applied(state_dir) as a:
            a.apply(CreateVfs(pf, count, root))
    assert kernel.writes == [] and fakesys.snapshot(root) == before


# ---------------------------------------------------------------- a killed run

def test_restore_undoes_vfs_and_binding_of_a_killed_run(tmp_path, state_dir, monkeypatch):
    """Fake tree: a real process creates 4 VFs, binds VF 0 to vfio-pci and is SIGKILLed;
    `restore` from its journal unbinds the VF, drops the VFs, and the tree is as before."""
    host = fakesys.two_node_host()
    root = fakesys.build(tmp_path / "root", host)
    before = fakesys.snapshot(root)
    log = tmp_path / "writes"
    code = textwrap.dedent(f"""
        import os, signal
        from pktlab import journal
        from pktlab.context import RunContext
        from pktlab.host.pci import BindDriver
        from pktlab.host.sriov import CreateVfs
        from pktlab.plan import Applied
        from tests import fakesys
        fakesys.FakeKernel({str(root)!r}, fakesys.two_node_host(), log_path={str(log)!r}).install()
        a = Applied(journal.Journal.create({str(state_dir)!r}, "killed"), RunContext({str(state_dir)!r}, "killed"))
        a.apply(CreateVfs("enp3s0f0", 4, {str(root)!r}))
        a.apply(BindDriver("0000:03:10.0", "vfio-pci", {str(root)!r}))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.returncode == -signal.SIGKILL
    assert sysfs.read_nic("0000:03:10.0", str(root)).driver == "vfio-pci"
    [left] = journal.pending(state_dir)
    kinds = [(s["kind"], s["status"]) for s in json.loads(left.read_text())["steps"]]
    assert kinds == [("sriov-numvfs", "applied"), ("pci-bind", "applied")]

    fakesys.FakeKernel(root, host, log_path=log).install(monkeypatch)
    errors = journal.restore(state_dir, lambda run_id: RunContext(state_dir, run_id), out=lambda *_: None)
    assert errors == []
    writes = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    vf = "sys/bus/pci/devices/0000:03:10.0"
    assert writes == [
        (f"{DEV}/sriov_numvfs", "4"),
        (f"{vf}/driver_override", "vfio-pci"),
        ("sys/bus/pci/drivers_probe", "0000:03:10.0"),
        # restore, in reverse
        (f"{vf}/driver_override", "\n"),
        ("sys/bus/pci/drivers/vfio-pci/unbind", "0000:03:10.0"),
        (f"{DEV}/sriov_numvfs", "0"),
    ]
    assert fakesys.snapshot(root) == before
    assert journal.pending(state_dir) == []


def test_steps_round_trip_through_the_journal_record():
    for step in (BindDriver(PF, "vfio-pci", "/x", state={"driver_before": "ixgbe"}),
                 CreateVfs(PF, 4, "/x", state={"numvfs_before": 0}),
                 ConfigureVf("enp3s0f0", 1, mac="02:00:00:00:01:01", vlan=100, trust=True, state={"index": 7})):
        again = Step.from_dict(json.loads(json.dumps(step.to_dict())))
        assert again == step and again.state == step.state
        assert step.describe() and step.describe_undo()


def test_descriptions_say_what_happens():
    s = BindDriver(PF, "vfio-pci", state={"driver_before": "ixgbe", "ifnames_before": ["enp3s0f0"]})
    assert s.describe() == f"bind PCI {PF} to vfio-pci (driver_override, unbind, drivers_probe)"
    assert s.describe_undo() == f"rebind PCI {PF} to ixgbe (enp3s0f0) and restore its driver_override"
    v = CreateVfs("enp3s0f0", 4, state={"numvfs_before": 0})
    assert v.describe_undo() == "restore the VF count of enp3s0f0 to 0"
    c = ConfigureVf("enp3s0f0", 1, mac="02:00:00:00:01:01", vlan=100, spoofchk=False, trust=True)
    assert c.describe() == ("set VF 1 of enp3s0f0: mac 02:00:00:00:01:01, vlan 100, spoofchk off, trust on "
                            "(netlink)")


# ---------------------------------------------------------------- ConfigureVf (netlink stand-in)

def test_configure_vf_sends_the_request_and_undo_sends_the_old_settings(monkeypatch, state_dir):
    """Netlink stand-in: the exact pyroute2 vf spec, then the one restoring what was read."""
    nl = fakesys.FakeVfNetlink(fakesys.vf_table())
    monkeypatch.setattr(sriov, "netlink", nl)
    with applied(state_dir) as a:
        step = a.apply(ConfigureVf("enp3s0f0", 1, mac="02:00:00:00:01:01", vlan=100, spoofchk=False, trust=True))
        assert nl.vfs[1] == {"mac": "02:00:00:00:01:01", "vlan": 100, "qos": 0, "spoofchk": False, "trust": True}
        [rec] = json.loads(next(journal.journal_dir(state_dir).glob("*.json")).read_text())["steps"]
        assert rec["state"] == {"index": 7, "before": {"mac": "00:00:00:00:00:00", "vlan": 0, "spoofchk": True,
                                                        "trust": False, "qos": 0}}
    assert nl.sets() == [
        ("set", 7, {"vf": 1, "mac": "02:00:00:00:01:01", "vlan": {"vlan": 100, "qos": 0}, "spoofchk": 0, "trust": 1}),
        ("set", 7, {"vf": 1, "mac": "00:00:00:00:00:00", "vlan": {"vlan": 0, "qos": 0}, "spoofchk": 1, "trust": 0}),
    ]
    assert nl.vfs == fakesys.vf_table()
    assert step.describe_undo() == ("restore VF 1 of enp3s0f0: mac 00:00:00:00:00:00, vlan 0, spoofchk on, "
                                    "trust off, qos 0")


def test_configure_vf_touches_only_what_it_was_given(monkeypatch, state_dir):
    """Netlink stand-in: trust alone is set, and only trust is restored; a second undo sends nothing."""
    nl = fakesys.FakeVfNetlink(fakesys.vf_table())
    monkeypatch.setattr(sriov, "netlink", nl)
    ctx = RunContext(state_dir, "r1")
    step = ConfigureVf("enp3s0f0", 2, trust=True)
    step.apply(ctx)
    step.undo(ctx)
    step.undo(ctx)
    assert nl.sets() == [("set", 7, {"vf": 2, "trust": 1}), ("set", 7, {"vf": 2, "trust": 0})]


def test_configure_vf_undo_from_the_journal_of_a_dead_run(monkeypatch, state_dir):
    """Netlink stand-in: the step rebuilt from its journal record restores the old MAC."""
    nl = fakesys.FakeVfNetlink(fakesys.vf_table())
    monkeypatch.setattr(sriov, "netlink", nl)
    step = ConfigureVf("enp3s0f0", 3, mac="02:00:00:00:03:03")
    step.apply(RunContext(state_dir, "dead"))
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs pktlab
    journal.journal_dir(state_dir).mkdir(parents=True)
    journal.Journal(journal.journal_dir(state_dir) / "dead.json", "dead", gone.pid).record([step])
    assert journal.restore(state_dir, lambda r: RunContext(state_dir, r), out=lambda *_: None) == []
    assert nl.sets()[-1] == ("set", 7, {"vf": 3, "mac": "00:00:00:00:00:00"})
    assert nl.vfs[3]["mac"] == "00:00:00:00:00:00"


@pytest.mark.parametrize("kw,reason", [
    ({"vf": 4, "trust": True}, r"enp3s0f0 has 4 VF\(s\) \(0-3\), no VF 4"),
    ({"vf": 0, "mac": "02:00:00:00:00"}, r"is not a MAC address"),
    ({"vf": 0, "mac": "03:00:00:00:00:01"}, r"is a multicast address"),
    ({"vf": 0, "vlan": 4095}, r"vlan 4095 is outside 0-4094"),
])
def test_configure_vf_refusals_send_nothing(monkeypatch, state_dir, kw, reason):
    """Netlink stand-in: bad input or a missing VF is refused before any set."""
    nl = fakesys.FakeVfNetlink(fakesys.vf_table())
    monkeypatch.setattr(sriov, "netlink", nl)
    with pytest.raises(StepError, match=reason):
        with applied(state_dir) as a:
            a.apply(ConfigureVf("enp3s0f0", **kw))
    assert nl.sets() == []


def test_configure_vf_error_carries_errno(monkeypatch, state_dir):
    """Netlink stand-in: the driver says EOPNOTSUPP; the StepError says so, undo restores nothing more."""
    nl = fakesys.FakeVfNetlink(fakesys.vf_table(), fail=errno.EOPNOTSUPP)
    monkeypatch.setattr(sriov, "netlink", nl)
    with pytest.raises(StepError, match=r"set VF 0 of enp3s0f0: Operation not supported \((EOPNOTSUPP|ENOTSUP)\)"):
        with applied(state_dir) as a:
            a.apply(ConfigureVf("enp3s0f0", 0, trust=True))
    assert len(nl.sets()) == 1  # the VF still reads as before, so undo had nothing to send


def test_parse_vfinfo_reads_a_pyroute2_message():
    """A real RTM_NEWLINK encoding (pyroute2 ifinfmsg, encoded then decoded), -1 meaning 'not reported'."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    m = ifinfmsg()
    m["index"] = 7
    m["attrs"] = [("IFLA_IFNAME", "enp3s0f0"), ("IFLA_VFINFO_LIST", {"attrs": [
        ("IFLA_VF_INFO", {"attrs": [("IFLA_VF_MAC", {"vf": 0, "mac": "02:00:00:00:00:0a"}),
                                    ("IFLA_VF_VLAN", {"vf": 0, "vlan": 100, "qos": 3}),
                                    ("IFLA_VF_SPOOFCHK", {"vf": 0, "spoofchk": 1}),
                                    ("IFLA_VF_TRUST", {"vf": 0, "trust": 0}),
                                    ("IFLA_VF_STATS", {"attrs": [("IFLA_VF_STATS_RX_PACKETS", 1000),
                                                                 ("IFLA_VF_STATS_TX_PACKETS", 2000),
                                                                 ("IFLA_VF_STATS_RX_DROPPED", 3)]})]}),
        ("IFLA_VF_INFO", {"attrs": [("IFLA_VF_MAC", {"vf": 1, "mac": "00:00:00:00:00:00"}),
                                    ("IFLA_VF_VLAN", {"vf": 1, "vlan": 0, "qos": 0}),
                                    ("IFLA_VF_SPOOFCHK", {"vf": 1, "spoofchk": 0xFFFFFFFF}),
                                    ("IFLA_VF_TRUST", {"vf": 1, "trust": 1})]})]})]
    m.encode()
    d = ifinfmsg(m.data)
    d.decode()
    assert parse_vfinfo(d) == {
        0: {"mac": "02:00:00:00:00:0a", "vlan": 100, "qos": 3, "spoofchk": True, "trust": False,
            "stats": {"rx_packets": 1000, "tx_packets": 2000, "rx_bytes": 0, "tx_bytes": 0, "rx_dropped": 3,
                      "tx_dropped": 0, "multicast": 0}},
        1: {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "trust": True},
    }


def test_vf_counters_are_the_pfs_per_vf_statistics(monkeypatch):
    """The SR-IOV path's independent counters: IFLA_VF_STATS of each driven VF, read on the
    PF (netlink stand-in), settled once two reads a driver refresh apart agree."""
    table = fakesys.vf_table()
    for vf in table:
        table[vf]["stats"] = {k: 0 for k in sriov.VF_STATS}
    nl = fakesys.FakeVfNetlink(table)
    monkeypatch.setattr(sriov, "netlink", nl)
    monkeypatch.setattr(sriov.VfCounters, "REFRESH_S", 0.01)
    c = sriov.VfCounters("enp3s0f0", range(2))
    assert c.source == "netlink:IFLA_VF_STATS"
    before = c.snapshot()
    table[0]["stats"]["tx_packets"] = 500
    table[1]["stats"]["rx_packets"] = 500
    after = c.settled()
    assert set(after) == {"vf0", "vf1"}
    assert after["vf0"]["tx_packets"] - before["vf0"]["tx_packets"] == 500
    assert after["vf1"]["rx_packets"] == 500
    del table[1]["stats"]
    with pytest.raises(StepError, match="reports no counters for VF 1"):
        c.snapshot()


def test_vf_counters_of_a_pf_driver_that_keeps_none_are_absent_not_zero(monkeypatch):
    """igb has no ndo_get_vf_stats: the kernel still sends IFLA_VF_STATS, all zero (seen inside
    the virtual lab server while 20,000 frames crossed the VFs). Zero would claim the NIC switched
    nothing; the trial records no counters instead."""
    table = fakesys.vf_table()
    for vf in table:
        table[vf]["stats"] = {k: 0 for k in sriov.VF_STATS}
    monkeypatch.setattr(sriov, "netlink", fakesys.FakeVfNetlink(table))
    c = sriov.VfCounters("eth0", range(2), "igb")
    assert c.snapshot() == {} and c.settled() == {} and "igb" in c.unavailable
    assert set(sriov.VfCounters("eth0", range(2), "ixgbe").snapshot()) == {"vf0", "vf1"}
