"""Receive accounting, exactly: crafted frames through pg_account_frame, the same
inline code the poll loop runs, on a real generator context.

EAL runs in this test process (no hugepages, no shared files); the context has
two ports: net_null0 (where the streams send) and net_ring0 (where they are
expected back), so a real trial gives a tx count and receives nothing.
"""
import os

import pytest

from pktlab.gen.config import GenConfig, StreamSpec
from pktlab.gen.latency import bucket_index
from pktlab.gen.template import Vxlan, build_frame, pack_stamp, stamp_offset

pytestmark = pytest.mark.root

WINDOW = 1 << 20  # PG_SEEN_BITS
NULL, RING = 0, 1  # port indexes


@pytest.fixture(scope="module")
def gen():
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL initialises in the test process")
    from pktlab.gen.worker import CGenerator

    frame = build_frame(64)
    cfg = GenConfig(
        eal_args=("--no-huge", "-m", "128", "--no-shconf", "--no-pci", "--no-telemetry",
                  f"--file-prefix=pktlab-unit-{os.getpid()}", "--log-level=*:warning"),
        ports=("net_null0", "net_ring0"),
        streams=(StreamSpec(NULL, RING, frame), StreamSpec(NULL, RING, frame), StreamSpec(NULL, None, frame)),
        core=0)
    g = CGenerator(cfg)
    # lcore 0 on every CPU this process may use: EAL must not re-pin pytest
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    argv = cfg.eal_argv()
    assert argv[1:3] == ["-l", "0"]
    g.eal_init([argv[0], f"--lcores=0@({cpus})"] + argv[3:])
    try:
        g.create()
        yield g
    finally:
        g.destroy()
        g.lib.pg_eal_cleanup()
    assert not os.path.exists(f"/var/run/dpdk/pktlab-unit-{os.getpid()}")


TEMPLATE = build_frame(64)


def frame(trial, seq, stream=0, tsc=1000, magic_ok=True, template=TEMPLATE):
    f = bytearray(template)
    off = stamp_offset(f)
    f[off:off + 18] = pack_stamp(trial, stream, seq, tsc)
    if not magic_ok:
        f[off] ^= 0xFF
    return bytes(f)


def feed(gen, trial, seqs, stream=0, port=RING, now=2000):
    return [gen.account(port, frame(trial, s, stream), now) for s in seqs]


def counts(gen, stream=0):
    st = gen.raw_stats().streams[stream]
    return dict(rx=st.rx, unique=st.unique, duplicates=st.duplicates, reordered=st.reordered)


def test_in_order(gen):
    t = gen.begin_trial()
    assert all(feed(gen, t, range(1000)))
    assert counts(gen) == dict(rx=1000, unique=1000, duplicates=0, reordered=0)
    p = gen.raw_stats().ports[RING]
    assert (p.rx, p.rx_foreign) == (1000, 0)


def test_gap_is_loss(gen):
    """A real paced trial into net_null sets tx; frames fed back with holes are the loss."""
    stats = gen.run_trial(10_000, 0.01, 0.0)  # ~100 frames over 3 streams, none come back
    raw = gen.raw_stats()
    tx0, tx1, tx2 = (raw.streams[i].tx for i in range(3))
    assert tx0 > 10 and stats.tx_packets == tx0 + tx1 + tx2
    assert stats.lost == tx0 + tx1  # the TX-only stream expects nothing, loses nothing
    missing = {3, 4, tx0 - 1}
    feed(gen, raw.trial_id, [s for s in range(tx0) if s not in missing])
    assert counts(gen) == dict(rx=tx0 - 3, unique=tx0 - 3, duplicates=0, reordered=0)
    assert gen.trial_stats(10_000, 0.01).lost == len(missing) + tx1


def test_duplicates(gen):
    t = gen.begin_trial()
    feed(gen, t, [0, 1, 2, 2, 1, 3, 3])
    assert counts(gen) == dict(rx=7, unique=4, duplicates=3, reordered=0)


def test_reordered(gen):
    t = gen.begin_trial()
    feed(gen, t, [0, 1, 4, 2, 3, 5, 3])
    assert counts(gen) == dict(rx=7, unique=6, duplicates=1, reordered=2)


def test_first_frame_is_not_seq_zero(gen):
    t = gen.begin_trial()
    feed(gen, t, [5, 6, 0, 1])
    assert counts(gen) == dict(rx=4, unique=4, duplicates=0, reordered=2)


def test_older_than_the_window_counts_reordered_not_duplicate(gen):
    t = gen.begin_trial()
    feed(gen, t, [0, 1, WINDOW + 10, 1, 0, WINDOW + 9, WINDOW + 9])
    assert counts(gen) == dict(rx=7, unique=6, duplicates=1, reordered=3)


def test_window_slides(gen):
    t = gen.begin_trial()
    # 0 seen, then the window moves past it by exactly its size: 0's bit is reused by WINDOW
    feed(gen, t, [0, WINDOW - 1, WINDOW, WINDOW])
    assert counts(gen) == dict(rx=4, unique=3, duplicates=1, reordered=0)


def test_sequence_wraps_at_32_bits(gen):
    t = gen.begin_trial()
    feed(gen, t, [0xFFFFFFFE, 0xFFFFFFFF, 0, 1, 0xFFFFFFFF])
    assert counts(gen) == dict(rx=5, unique=4, duplicates=1, reordered=0)


def test_streams_are_counted_apart(gen):
    t = gen.begin_trial()
    feed(gen, t, [0, 1, 2], stream=0)
    feed(gen, t, [0, 0], stream=1)
    assert counts(gen, 0) == dict(rx=3, unique=3, duplicates=0, reordered=0)
    assert counts(gen, 1) == dict(rx=2, unique=1, duplicates=1, reordered=0)


def test_foreign_frames(gen):
    t = gen.begin_trial()
    assert gen.account(RING, frame(t - 1, 0), 2000) is False  # earlier trial, still in flight
    assert gen.account(RING, frame(t, 0, magic_ok=False), 2000) is False
    assert gen.account(RING, frame(t, 0, stream=7), 2000) is False  # no such stream
    assert gen.account(RING, frame(t, 0, stream=2), 2000) is False  # TX-only stream
    assert gen.account(NULL, frame(t, 0), 2000) is False  # expected on the other port
    assert gen.account(RING, frame(t, 0)[:59], 2000) is False  # too short for a stamp
    arp = bytes(12) + b"\x08\x06" + bytes(46)
    assert gen.account(RING, arp, 2000) is False
    st = gen.raw_stats()
    assert (st.ports[RING].rx, st.ports[RING].rx_foreign) == (6, 6)
    assert (st.ports[NULL].rx, st.ports[NULL].rx_foreign) == (1, 1)
    assert counts(gen) == dict(rx=0, unique=0, duplicates=0, reordered=0)
    assert st.lat[0].count == 0 and st.lat[0].ipdv_count == 0


def test_tagged_frames_are_recognised(gen):
    t = gen.begin_trial()
    assert gen.account(RING, frame(t, 0, template=build_frame(68, vlan=5)), 2000)
    assert counts(gen)["unique"] == 1


def test_latency_is_rx_tsc_minus_stamp(gen):
    t = gen.begin_trial()
    gen.account(RING, frame(t, 0, tsc=10_000), 10_300)
    gen.account(RING, frame(t, 1, tsc=10_000), 15_000)
    gen.account(RING, frame(t, 2, tsc=10_000), 9_000)  # clock went back: 0, not 2^64
    st = gen.raw_stats()
    lat = st.lat[0]  # PG_LAT_LOAD: no latency stream here
    assert (lat.count, lat.sum, lat.min, lat.max) == (3, 5300, 0, 5000)
    hist = gen.ffi.unpack(lat.hist, gen.lib.PG_LAT_BUCKETS)
    assert {i: n for i, n in enumerate(hist) if n} == {0: 1, bucket_index(300): 1, bucket_index(5000): 1}
    assert st.lat[1].count == 0
    s = gen.trial_stats(None, 1.0)
    assert s.latency.min_ns == 0 and s.latency.max_ns == pytest.approx(5000 * 1e9 / st.tsc_hz)


def test_ipdv_of_a_known_pattern(gen):
    """Delays 100, 400, 250, 250, [seq 4 lost], 900, 100 cycles on stream 0 and one
    duplicate: IPDV (RFC 3393, consecutive seq received one after the other) is
    +300, -150, 0 and then only 6 -> 7: -800. 3 -> 5 is no pair (5 is not 3's
    successor), and neither is the duplicate of 7."""
    t = gen.begin_trial()
    for seq, delay in ((0, 100), (1, 400), (2, 250), (3, 250), (5, 900), (6, 900), (7, 100), (7, 100)):
        gen.account(RING, frame(t, seq, tsc=10_000), 10_000 + delay)
    st = gen.raw_stats()
    lat = st.lat[0]
    want = [300, -150, 0, 0, -800]  # 5 -> 6 is a pair too: 900 - 900
    assert lat.ipdv_count == len(want)
    assert lat.ipdv_sum == sum(want) and lat.ipdv_abs_sum == sum(map(abs, want))
    assert (lat.ipdv_min, lat.ipdv_max) == (-800, 300)
    hist = gen.ffi.unpack(lat.ipdv_hist, gen.lib.PG_LAT_BUCKETS)
    expect = {}
    for v in want:
        expect[bucket_index(abs(v))] = expect.get(bucket_index(abs(v)), 0) + 1
    assert {i: n for i, n in enumerate(hist) if n} == expect
    s = gen.trial_stats(None, 1.0).latency
    ns = 1e9 / st.tsc_hz
    assert s.ipdv_pairs == 5
    assert s.ipdv_mean_ns == pytest.approx(sum(want) / 5 * ns)
    assert s.ipdv_max_ns == pytest.approx(800 * ns)
    # |IPDV| sorted: 0 0 150 300 800: p50 is 150's bucket, at its upper bound
    assert 150 * ns <= s.ipdv_p50_ns <= 153 * ns
    assert s.pdv_p99_ns == pytest.approx(s.p99_ns - s.min_ns)


def test_ipdv_pairs_are_per_stream(gen):
    """Interleaved streams: each frame pairs with its own stream's previous one."""
    t = gen.begin_trial()
    for seq in range(4):
        gen.account(RING, frame(t, seq, stream=0, tsc=1000), 1000 + 100)
        gen.account(RING, frame(t, seq, stream=1, tsc=1000), 1000 + 100 + 50 * seq)
    lat = gen.raw_stats().lat[0]
    assert lat.ipdv_count == 6
    assert (lat.ipdv_sum, lat.ipdv_min, lat.ipdv_max) == (150, 0, 50)


def test_bad_template_is_refused_with_a_reason(gen):
    from pktlab.errors import GeneratorError
    from pktlab.gen.worker import CGenerator

    arp = bytes(12) + b"\x08\x06" + bytes(46)
    bad = CGenerator(GenConfig(eal_args=(), ports=("net_ring0",), streams=(StreamSpec(0, 0, arp),), core=0))
    with pytest.raises(GeneratorError, match=r"stream 0: template ethertype 0x0806"):
        bad.create()
    short = bytearray(build_frame(64))
    short[14] = 0x46  # IPv4 options
    bad = CGenerator(GenConfig(eal_args=(), ports=("net_ring0",), streams=(StreamSpec(0, 0, bytes(short)),),
                               core=0))
    with pytest.raises(GeneratorError, match="without options"):
        bad.create()


# What a path may do to a stamped frame, done by scapy (not pktlab's parser): the
# receive side must still find the stamp and count it exactly.
def _push_tag(raw, vid, tpid=0x8100):
    return raw[:12] + tpid.to_bytes(2, "big") + vid.to_bytes(2, "big") + raw[12:]


def _strip_tag(raw):
    from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

    pkt = Ether(raw)
    for layer in (Dot1AD, Dot1Q):
        if layer in pkt:
            pkt.type = pkt[layer].type
            pkt.remove_payload()
            pkt = pkt / Ether(raw)[layer].payload
    return bytes(pkt)


def _vxlan_encap(raw, vni=42):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN

    return bytes(Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=49152, dport=4789, chksum=0)
                 / VXLAN(vni=vni) / Ether(raw))


def _vxlan_decap(raw):
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN

    return bytes(Ether(raw)[VXLAN].payload)


REWRITES = {
    "as sent": lambda r: r,
    "802.1Q pushed": lambda r: _push_tag(r, 10),
    "QinQ pushed": lambda r: _push_tag(_push_tag(r, 10), 20, 0x88a8),
    "tag stripped": _strip_tag,
    "VXLAN encapsulated": _vxlan_encap,
    "VXLAN encapsulated, then tagged": lambda r: _push_tag(_vxlan_encap(r), 7),
    "VXLAN decapsulated": _vxlan_decap,
}
SENT = {  # the template as the generator sent it
    "untagged IPv4": build_frame(128),
    "802.1Q": build_frame(128, vlan=5),
    "QinQ": build_frame(128, vlan=5, outer_vlan=6),
    "IPv6": build_frame(128, src_ip="2001:2::1", dst_ip="2001:2::2"),
    "VXLAN": build_frame(128, vxlan=Vxlan(vni=77)),
    "VXLAN, tagged underlay": build_frame(128, vlan=9, vxlan=Vxlan(vni=77)),
}


def _applies(sent, rewrite):
    """Only a VXLAN frame can be decapsulated, only a tagged one lose its tag."""
    if rewrite == "VXLAN decapsulated":
        return "VXLAN" in sent
    return rewrite != "tag stripped" or SENT[sent][12:14] in (b"\x81\x00", b"\x88\xa8")


@pytest.mark.parametrize("sent, rewrite", [(s, r) for s in SENT for r in REWRITES if _applies(s, r)])
def test_stamp_found_whatever_the_path_did(gen, sent, rewrite):
    template = SENT[sent]
    t = gen.begin_trial()
    frames = [REWRITES[rewrite](frame(t, s, template=template, tsc=1000)) for s in (0, 1, 1, 3, 2)]
    assert all(gen.account(RING, f, 1500) for f in frames)
    assert counts(gen) == dict(rx=5, unique=4, duplicates=1, reordered=1)
    st = gen.raw_stats()
    lat = st.lat[0]
    assert (lat.count, lat.min, lat.max) == (5, 500, 500)


def test_not_vxlan_on_port_4789_is_foreign(gen):
    """A frame to UDP 4789 without the VXLAN I flag is not descended into."""
    t = gen.begin_trial()
    f = bytearray(_vxlan_encap(frame(t, 0)))
    f[14 + 20 + 8] = 0  # flags: I clear
    assert gen.account(RING, bytes(f), 2000) is False
    assert gen.account(RING, _vxlan_encap(frame(t, 0)), 2000) is True
