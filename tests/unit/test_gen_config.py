"""GenConfig / StreamSpec validation: every bad value is a ValueError naming its field."""
import pytest

from pktlab.gen.config import GenConfig, StreamSpec, device_args, ethdev_name
from pktlab.gen.template import build_frame

T64 = bytes(60)  # length is all StreamSpec checks; the C side checks the layout


def cfg(**kw):
    base = dict(eal_args=("--no-huge",), ports=("net_ring0",), streams=(StreamSpec(0, 0, T64),), core=1)
    base.update(kw)
    return GenConfig(**base)


@pytest.mark.parametrize("kw, field", [
    (dict(tx_port=-1), "StreamSpec.tx_port"),
    (dict(rx_port=-2), "StreamSpec.rx_port"),
    (dict(template="x" * 60), "StreamSpec.template"),
    (dict(template=bytes(59)), "StreamSpec.template"),
    (dict(template=bytes(9015)), "StreamSpec.template"),
    (dict(flows=0), "StreamSpec.flows"),
    (dict(flows=(1 << 24) + 1), "StreamSpec.flows"),
    (dict(vary="dst_ip"), "StreamSpec.vary"),
])
def test_stream_spec_rejects(kw, field):
    args = dict(tx_port=0, rx_port=0, template=T64)
    args.update(kw)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        StreamSpec(**args)


def test_stream_spec_defaults():
    s = StreamSpec(0, None, T64)
    assert (s.flows, s.vary, s.frame_size) == (1, "src_ip", 64)


@pytest.mark.parametrize("kw, field", [
    (dict(eal_args="--no-huge"), "GenConfig.eal_args"),
    (dict(core=-1), "GenConfig.core"),
    (dict(eal_args=("-l", "0")), "GenConfig.eal_args"),
    (dict(eal_args=("--lcores=1",)), "GenConfig.eal_args"),
    (dict(ports=()), "GenConfig.ports"),
    (dict(ports=tuple(f"net_ring{i}" for i in range(9))), "GenConfig.ports"),
    (dict(ports=("net_ring0", "net_ring0,nodeaction=x")), "GenConfig.ports"),
    (dict(streams=()), "GenConfig.streams"),
    (dict(streams=(StreamSpec(1, 0, T64),)), r"GenConfig.streams\[0\].tx_port"),
    (dict(streams=(StreamSpec(0, 3, T64),)), r"GenConfig.streams\[0\].rx_port"),
    (dict(streams=(StreamSpec(0, 0, T64),) * 17), "GenConfig.streams"),
    (dict(burst=0), "GenConfig.burst"),
    (dict(burst=65), "GenConfig.burst"),
    (dict(ring_size=32), "GenConfig.ring_size"),
    (dict(nb_mbufs=1024), "GenConfig.nb_mbufs"),
])
def test_gen_config_rejects(kw, field):
    with pytest.raises(ValueError, match=field):
        cfg(**kw)


def test_lcore_option_matching_core_is_accepted():
    c = cfg(eal_args=("-l", "1", "--in-memory"))
    assert c.eal_argv()[:4] == ["pktlab-gen", "-l", "1", "--in-memory"]
    assert cfg(eal_args=("-l1",)).eal_argv().count("-l") == 0  # kept as given, not doubled


def test_eal_argv_adds_core_and_devices():
    c = cfg(ports=("net_virtio_user0,path=/run/x.sock,server=1,queue_size=1024", "03:00.1"),
            streams=(StreamSpec(0, 1, T64),))
    assert c.eal_argv() == ["pktlab-gen", "-l", "1", "--no-huge",
                            "--vdev=net_virtio_user0,path=/run/x.sock,server=1,queue_size=1024",
                            "-a", "03:00.1"]
    assert c.port_names == ("net_virtio_user0", "0000:03:00.1")


def test_device_helpers():
    assert ethdev_name("0000:AF:00.0,txq_inline=1") == "0000:af:00.0"
    assert device_args("0000:af:00.0") == ["-a", "0000:af:00.0"]
    assert device_args("net_null0,size=64") == ["--vdev=net_null0,size=64"]


def test_round_trip_dict():
    c = cfg(streams=(StreamSpec(0, None, build_frame(64), flows=3, vary="both"),))
    assert GenConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("kw, match", [
    (dict(lcores=(0, 1)), r"GenConfig\.lcores: lcores\[0\] is 0, but core is 1"),
    (dict(lcores=(1, 1)), r"GenConfig\.lcores: .* names a core twice"),
    (dict(lcores=tuple(range(1, 10))), r"GenConfig\.lcores: 9 cores, at most 8"),
    (dict(lcores=(1, -2)), r"GenConfig\.lcores: need a tuple of CPU numbers"),
    (dict(lcores="1,2"), r"GenConfig\.lcores: need a tuple of CPU numbers"),
    (dict(lcores=(1, 2), eal_args=("-l", "1")), r"GenConfig\.eal_args: -l 1 conflicts with lcores=\(1, 2\)"),
    (dict(lcores=(1, 2), streams=(StreamSpec(0, 0, T64),)), r"GenConfig\.streams\[0\]\.flows: 1 for 2 lcores"),
    (dict(lcores=(1, 2), backend="kernel", eal_args=(), ports=("veth0",),
          streams=(StreamSpec(0, 0, T64),)), r"GenConfig\.streams\[0\]\.flows: 1 for 2 lcores"),
])
def test_lcores_rejects(kw, match):
    with pytest.raises(ValueError, match=match):
        cfg(**kw)


def test_lcores_default_to_core():
    c = cfg()
    assert (c.lcores, c.loop_cores) == ((), (1,))
    assert cfg(backend="kernel", eal_args=(), ports=("veth0",), lcores=(1,)).loop_cores == (1,)


@pytest.mark.parametrize("mode", ["afpacket", "afxdp"])
def test_kernel_backends_run_several_loops_too(mode):
    two = (StreamSpec(0, 1, T64, flows=2),)
    c = cfg(backend="kernel", kernel_mode=mode, eal_args=(), ports=("veth0", "veth1@ns"), core=0, lcores=(0, 1),
            streams=two)
    assert c.loop_cores == (0, 1) and c.io_name == mode and not c.io.eal
    assert GenConfig.from_dict(c.to_dict()) == c


def test_each_backend_is_one_row_of_the_table():
    """backend + kernel_mode pick the C engine's I/O backend (PG_BACKEND_*)."""
    assert cfg().io.c_id == 0 and cfg().io.eal
    kernel = dict(backend="kernel", eal_args=(), ports=("veth0",))
    assert cfg(kernel_mode="afpacket", **kernel).io.c_id == 1
    assert cfg(kernel_mode="afxdp", **kernel).io.c_id == 2
    with pytest.raises(ValueError, match="GenConfig.ports: the same port twice"):
        cfg(ports=("net_ring0", "net_ring0,size=64"))


def test_the_table_names_the_c_backends():
    from pktlab._pktgen import lib
    from pktlab.gen.config import IO_BACKENDS

    assert {name: io.c_id for name, io in IO_BACKENDS.items()} == {
        "dpdk": lib.PG_BACKEND_DPDK, "afpacket": lib.PG_BACKEND_AFPACKET, "afxdp": lib.PG_BACKEND_AFXDP}


def test_eal_argv_lists_the_lcores():
    two = (StreamSpec(0, 0, T64, flows=2),)
    c = cfg(core=0, lcores=(0, 1), streams=two)
    assert c.eal_argv()[:4] == ["pktlab-gen", "-l", "0,1", "--no-huge"]
    assert cfg(core=0, lcores=(0, 1), streams=two, eal_args=("-l", "0,1")).eal_argv().count("-l") == 1
    # EAL's main lcore is the lowest listed unless told: loop 0 must run on core
    assert cfg(core=3, lcores=(3, 1), streams=two).eal_argv()[:5] == \
        ["pktlab-gen", "-l", "3,1", "--main-lcore", "3"]


def test_lcores_round_trip_dict():
    c = cfg(core=0, lcores=(0, 1), streams=(StreamSpec(0, 0, build_frame(64), flows=4, vary="both"),))
    d = c.to_dict()
    assert d["lcores"] == [0, 1]
    assert GenConfig.from_dict(d) == c
    del d["lcores"]  # a config written before lcores existed
    assert GenConfig.from_dict(d).loop_cores == (0,)
    assert cfg(core=0, lcores=[0, 1], streams=c.streams).lcores == (0, 1)  # as TOML/JSON give it
