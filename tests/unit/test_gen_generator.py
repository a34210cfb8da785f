"""GeneratorProcess plumbing without DPDK: a fake worker, stale sockets, runtime dirs."""
import socket
import stat
import sys

import pytest

from pktlab.errors import GeneratorError
from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec
from pktlab.gen.generator import _remove_stale_sockets, _server_socket, runtime_dir


def config(ports=("net_ring0",), eal=()):
    return GenConfig(eal_args=eal, ports=ports, streams=(StreamSpec(0, 0, bytes(60)),), core=0)


def fake_python(tmp_path, body):
    """An executable that stands in for `python -m pktlab.gen.worker ...`."""
    exe = tmp_path / "fake-python"
    exe.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def test_a_dying_worker_is_a_generator_error_with_its_log(tmp_path):
    py = fake_python(tmp_path, "print('EAL: something broke', flush=True); sys.exit(3)")
    with GeneratorProcess(config(), tmp_path / "gen.log", python=py) as gen:
        with pytest.raises(GeneratorError) as err:
            gen.wait_ready(10)
    assert err.value.status == 3
    assert "exit status 3" in err.value.reason and "EAL: something broke" in err.value.reason


def test_a_silent_worker_times_out_and_close_kills_it(tmp_path):
    py = fake_python(tmp_path, "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)")
    gen = GeneratorProcess(config(), tmp_path / "gen.log", python=py)
    gen.start()
    with pytest.raises(GeneratorError, match="no ready"):
        gen.wait_ready(0.5)
    gen.close(timeout=0.5)  # ignores SIGTERM: SIGKILL
    assert gen._proc.returncode == -9


def test_server_socket_is_found_in_devargs():
    assert str(_server_socket("net_virtio_user0,path=/run/a.sock,server=1,queue_size=1024")) == "/run/a.sock"
    assert _server_socket("net_virtio_user0,path=/run/a.sock,server=0") is None
    assert _server_socket("net_ring0") is None


def test_stale_sockets_are_removed_but_not_other_files(tmp_path):
    sock, plain = tmp_path / "a.sock", tmp_path / "b.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    plain.write_text("not a socket")
    _remove_stale_sockets(config(ports=(f"net_virtio_user0,path={sock},server=1",
                                        f"net_virtio_user1,path={plain},server=1")))
    assert not sock.exists() and plain.exists()


def test_runtime_dir_follows_the_file_prefix():
    assert runtime_dir(config(eal=("--file-prefix=p1",))).name == "p1"
    assert runtime_dir(config(eal=("--file-prefix", "p2"))).name == "p2"
    assert runtime_dir(config()).name == "rte"
