"""kind = "external" for real, against a DUT pktlab does not build: a router with a
tbf shaper at RATE_PPS that the test makes itself (rate_router.py) inside the
network namespace of its own sshd (sshlab.py), so the DUT's kernel counters are read
over SSH from the host the router runs on. pktlab only brings the generator's two
interfaces up and sends frames the router routes (its MACs, the traffic's IPs).
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import host_state, run_cli
from tests.functional.ovs_switch import OvsSwitch
from tests.functional.rate_router import RateRouter
from tests.functional.sshlab import lab  # noqa: F401 - the fixture

# Well below what the router forwards on this (shared, 2-core) machine: ~42 kpps were seen
# with the shaper set to 50 kpps, so that rate measured the machine, not the shaper.
RATE_PPS = 20_000
# The NDR within 3 % of the shaper's rate: its bucket and queue (100 + 1000 frames) let a 5 s
# trial pass up to ~220 pps (1.1 %) above it, and the search stops at 0.5 % width. The queue
# is there for the generator's catch-up bursts after it was preempted: with 100 frames, 2 s
# trials at 19.4 kpps lost ~150 frames (load average 3.7 on the 2 cores) and the NDR came out
# 3.7 % low; with 400 frames and a guest emulated beside it, 2.2 % low.
TOLERANCE = 0.03


@pytest.fixture
def router(lab):
    r = RateRouter(lab.ns, RATE_PPS).build()
    try:
        yield r
    finally:
        r.remove()


def write_scenario(tmp_path, method: str, opts: dict, head: str = "", hosts: dict | None = None) -> str:
    """An external scenario: unidirectional 64 B, the generator on core 0, opts its [[datapath]] keys,
    hosts its [hosts] table (dut, inventory) when the DUT's counters are read."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in opts.items() if v is not None]
    table = "".join(f"{k} = {json.dumps(v)}\n" for k, v in (hosts or {}).items() if v is not None)
    f = tmp_path / "external.toml"
    f.write_text(f"""[scenario]
name = "external-dut"
{head}
{"[hosts]" + chr(10) + table if table else ""}
[cpu]
generator = 0

[traffic]
frame_size = 64
direction = "unidirectional"
link_speed = "1G"

[method]
{method}

[[datapath]]
kind = "external"
name = "dut"
{chr(10).join(lines)}
""")
    return f


def scenario(tmp_path, lab, router, method: str, counters: str = "kernel", hosts: dict | None = None,
             **over) -> str:
    opts = {"gen_ports": [f"{router.ga}@{router.gen_ns}", f"{router.gb}@{router.gen_ns}"],
            "dut_macs": [router.mac(router.da), router.mac(router.db)], "counters": counters,
            "dut_interfaces": [router.da, router.db]}
    opts.update(over)
    table = {"dut": "dut", "inventory": str(lab.inventory("yml")), **(hosts or {})}
    if counters == "none":
        opts.pop("dut_interfaces")
        table = {}
    return write_scenario(tmp_path, method, opts, hosts=table)


NDR = """kind = "mlrsearch"
goals = "quick"
precision = 0.005
final_duration = 5.0
max_rate = 60000
min_rate = 10000
duration = 1.0"""


def test_ndr_search_finds_the_routers_shaper_rate(tmp_path, state_dir, lab, router):
    before = host_state(state_dir)
    links = [router.link(router.ga), router.link(router.gb)]
    p = run_cli("run", scenario(tmp_path, lab, router, NDR), "--out", tmp_path / "out", state_dir=state_dir,
                timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    [r] = [json.loads(x.read_text()) for x in (tmp_path / "out").glob("*.json")]
    ndr = r["search"]["goals"][0]["lower_bound_pps"]
    print(f"NDR {ndr:.0f} pps, shaper {RATE_PPS} pps ({(ndr - RATE_PPS) / RATE_PPS:+.2%})")
    assert abs(ndr - RATE_PPS) / RATE_PPS < TOLERANCE, f"NDR {ndr:.0f} pps, shaper at {RATE_PPS} pps"
    # the probes above the rate lost frames at the shaper, and only there
    assert router.tbf_drops() > 0
    # the confirmation trial carries the router's own counters, read over SSH, matching the generator's
    confirm = r["trials"][r["search"]["confirm_trial"]]
    assert confirm["counters_source"] == "ssh-ip-link:dut"
    assert confirm["counters"][router.da]["rx_packets"] == confirm["tx_packets"]
    assert confirm["counters"][router.db]["tx_packets"] == confirm["rx_packets"]
    # pktlab brought the generator's ends up for the run and put them back down
    assert [router.link(router.ga), router.link(router.gb)] == links == [(False, 1500)] * 2
    assert host_state(state_dir) == before


def test_fixed_rates_above_the_shaper_lose_what_the_router_dropped(tmp_path, state_dir, lab, router):
    """No DUT counters read (counters = "none"): the generator's loss alone, against tbf's drop count."""
    method = f'kind = "fixed-rate"\nrates = [{RATE_PPS // 2}, {RATE_PPS * 2}]\nduration = 1.0'
    p = run_cli("run", scenario(tmp_path, lab, router, method, counters="none"), "--out", tmp_path / "out",
                state_dir=state_dir, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    [r] = [json.loads(x.read_text()) for x in (tmp_path / "out").glob("*.json")]
    below, above = r["trials"]
    assert below["counters"] == {} == above["counters"]
    lost = [t["tx_packets"] - t["rx_packets"] for t in (below, above)]
    assert lost[1] > 0.3 * above["tx_packets"]  # twice the rate: about half is dropped
    # every frame lost was dropped by the shaper (below the rate, only a catch-up burst after
    # the generator was preempted can lose any: on a calm machine none)
    assert sum(lost) == router.tbf_drops()


def test_dry_run_shows_the_frames_the_dut_gets_and_touches_nothing(tmp_path, state_dir, lab, router):
    accepted = lab.accepted()
    p = run_cli("run", "--dry-run", scenario(tmp_path, lab, router, NDR), state_dir=state_dir)
    assert p.returncode == 0, p.stderr
    assert (f"port 0 ({router.ga}@{router.gen_ns}) sends {router.mac(router.ga)} -> {router.mac(router.da)}, "
            "198.18.0.1 -> 198.19.0.1") in p.stdout
    assert f"bring {router.ga} up" in p.stdout and "start the generator" in p.stdout
    assert f"kernel statistics of {router.da}, {router.db} on host dut" in p.stdout
    # its precheck reads the DUT (one login: the interfaces are there) and changes nothing
    assert "precheck: this host can run it" in p.stdout
    assert lab.accepted() == accepted + 1
    assert router.link(router.ga) == (False, 1500)


BAD = [
    ("no-such-gen-port", {"gen_ports": ["xnope0", "xnope1"]}, "datapath[0].gen_ports", "xnope0: no such interface"),
    ("no-such-netns", {"gen_ports": ["xa@xnons", "xb@xnons"]}, "datapath[0].gen_ports", "namespace xnons"),
    ("unknown-host", {"hosts": {"dut": "compute-9"}}, "hosts.dut", "compute-9: no such host in the inventory"),
    ("dut-lacks-interface", {"dut_interfaces": ["eth7"]}, "datapath[0].dut_interfaces",
     "eth7: no such interface (it has:"),
    ("no-inventory", {"hosts": {"inventory": "/nonexistent/lab.yml"}}, "hosts.inventory", "no such inventory file"),
    ("ovs-not-there", {"counters": "ovs", "dut_interfaces": ["br0-port"]}, "datapath[0].dut_interfaces",
     "br0-port: cannot reach the DUT's OVS database"),
]


@pytest.mark.parametrize("case,over,key,says", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_key_and_reason_before_anything_changes(tmp_path, state_dir, lab, router,
                                                                      case, over, key, says):
    f = scenario(tmp_path, lab, router, NDR, **over)
    before = host_state(state_dir)
    p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state_dir)
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"{f}: {key}: " in p.stderr and says in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists()
    assert router.link(router.ga) == (False, 1500) and host_state(state_dir) == before


def test_ovs_counters_of_a_switch_pktlab_did_not_start(tmp_path, state_dir, lab):
    """counters = "ovs": a netdev bridge the test started by hand (ovs_switch.py), its OpenFlow
    port statistics read over SSH (ovs-ofctl dump-ports there) matching the generator's."""
    sw = OvsSwitch().build()
    try:
        before = host_state(state_dir)
        gen = [f"{sw.ga}@{sw.gen_ns}", f"{sw.gb}@{sw.gen_ns}"]
        f = write_scenario(tmp_path, 'kind = "fixed-rate"\nrates = [10000]\nduration = 1.0', {
            "gen_ports": gen, "counters": "ovs", "dut_interfaces": [sw.oa, sw.ob], "ovs_rundir": str(sw.dir)},
            hosts={"dut": "dut", "inventory": str(lab.inventory("yml"))})
        p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state_dir, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        [r] = [json.loads(x.read_text()) for x in (tmp_path / "out").glob("*.json")]
        [t] = r["trials"]
        assert t["counters_source"] == "ssh-ovs-ofctl:dut" and t["tx_packets"] > 5000
        assert t["counters"][sw.oa]["rx_packets"] == t["tx_packets"]
        assert t["counters"][sw.ob]["tx_packets"] == t["rx_packets"]
        assert host_state(state_dir) == before  # the switch's daemons are still the test's, and only those
    finally:
        sw.remove()


def test_dpdk_generator_on_vdevs_against_the_router(tmp_path, state_dir, lab):
    """generator = "dpdk": DPDK's net_af_packet PMD on the generator's ends (in pktlab's own
    namespace: the PMD opens them there), hugepages of the scenario's, reserved and given back."""
    r = RateRouter(lab.ns, RATE_PPS, gen_ns=None).build()
    try:
        before = host_state(state_dir)
        f = write_scenario(tmp_path, f'kind = "fixed-rate"\nrates = [{RATE_PPS // 2}, {RATE_PPS * 2}]\nduration = 1.0',
                           {"generator": "dpdk", "gen_ports": [f"net_af_packet0,iface={r.ga}",
                                                               f"net_af_packet1,iface={r.gb}"],
                            "gen_macs": [r.mac(r.ga), r.mac(r.gb)], "dut_macs": [r.mac(r.da), r.mac(r.db)],
                            "counters": "kernel", "dut_interfaces": [r.da, r.db]},
                           head='\n[hugepages]\nsize = "2M"\ncount = 128\n',
                           hosts={"dut": "dut", "inventory": str(lab.inventory("yml"))})
        p = run_cli("run", f, "--out", tmp_path / "out", state_dir=state_dir, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        [res] = [json.loads(x.read_text()) for x in (tmp_path / "out").glob("*.json")]
        below, above = res["trials"]
        lost = [t["tx_packets"] - t["rx_packets"] for t in (below, above)]
        assert below["rx_packets"] > 0 and lost[1] > 0.3 * above["tx_packets"]
        assert sum(lost) == r.tbf_drops()  # all of it at the shaper
        assert above["counters"][r.db]["tx_packets"] == above["rx_packets"]
        assert res["provenance"]["dpdk_version"]
        assert host_state(state_dir) == before  # hugepages back, no EAL runtime dir left
    finally:
        r.remove()
