"""The worker process's life: failures become GeneratorError with its log lines,
signals end a trial early and cleanly, close() always leaves nothing behind."""
import _thread
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pktlab.errors import GeneratorError
from pktlab.gen import GenConfig, GeneratorProcess, StreamSpec, build_frame
from pktlab.gen.generator import runtime_dir

pytestmark = pytest.mark.root

CORE = max(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def root():
    if os.geteuid() != 0:
        pytest.skip("needs root: DPDK EAL in the worker")


def config(tag, ports=("net_ring0",), template=None, extra=()):
    return GenConfig(eal_args=("--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry",
                               f"--file-prefix=pktlab-test-{tag}-{os.getpid()}", *extra),
                     ports=ports, streams=(StreamSpec(0, 0, template or build_frame(64)),), core=CORE)


def assert_gone(gen):
    assert gen._proc.poll() is not None, "worker still running"
    assert not Path(f"/proc/{gen.pid}").exists()
    assert not runtime_dir(gen.config).exists(), f"{runtime_dir(gen.config)} left behind"


def later(seconds, fn, *args):
    t = threading.Timer(seconds, fn, args)
    t.start()
    return t


def test_sigint_mid_trial_reports_an_interrupted_trial_and_exits(tmp_path):
    gen = GeneratorProcess(config("sigint"), tmp_path / "gen.log")
    try:
        gen.start()
        gen.wait_ready(60)
        later(0.5, os.kill, gen.pid, signal.SIGINT)
        t0 = time.monotonic()
        s = gen.trial(1_000_000, 30.0)
        assert time.monotonic() - t0 < 10
        assert s.interrupted and 0.2 < s.elapsed_s < 10
        assert s.tx_packets > 0
        assert gen._proc.wait(timeout=10) == 0  # it cleans up and exits on its own
        assert "caught signal 2" in (tmp_path / "gen.log").read_text()
    finally:
        gen.close()
    assert_gone(gen)


def test_sigterm_while_idle_exits_cleanly(tmp_path):
    with GeneratorProcess(config("sigterm"), tmp_path / "gen.log") as gen:
        gen.wait_ready(60)
        os.kill(gen.pid, signal.SIGTERM)
        assert gen._proc.wait(timeout=10) == 0
        with pytest.raises(GeneratorError, match="worker"):
            gen.trial(1000, 0.1)
    assert_gone(gen)


def test_worker_death_is_a_generator_error_with_its_log(tmp_path):
    gen = GeneratorProcess(config("kill"), tmp_path / "gen.log")
    try:
        gen.start()
        gen.wait_ready(60)
        later(0.5, os.kill, gen.pid, signal.SIGKILL)
        with pytest.raises(GeneratorError) as err:
            gen.trial(100_000, 30.0)
        assert err.value.status == -signal.SIGKILL
        assert "killed by signal 9" in err.value.reason
        assert "pktlab.gen.worker: trial rate=100000" in err.value.reason  # its last log lines
    finally:
        gen.close()
    assert_gone(gen)  # close() removed the runtime dir the killed EAL left


def test_ctrl_c_in_the_parent_then_close(tmp_path):
    gen = GeneratorProcess(config("ctrlc"), tmp_path / "gen.log")
    try:
        gen.start()
        gen.wait_ready(60)
        later(0.5, _thread.interrupt_main)
        with pytest.raises(KeyboardInterrupt):
            gen.trial(1_000_000, 30.0)
    finally:
        t0 = time.monotonic()
        gen.close()
        assert time.monotonic() - t0 < 5  # SIGTERM ends the trial, not the 30 s
    assert_gone(gen)
    gen.close()  # idempotent


def test_eal_failure_carries_the_eal_log(tmp_path):
    gen = GeneratorProcess(config("eal", extra=("--no-such-eal-option",)), tmp_path / "gen.log")
    with gen, pytest.raises(GeneratorError) as err:
        gen.wait_ready(60)
    assert "rte_eal_init failed" in err.value.reason
    assert "EAL:" in err.value.reason and "last lines of" in err.value.reason
    assert_gone(gen)


def test_bad_template_is_refused_at_create(tmp_path):
    arp = bytes(12) + b"\x08\x06" + bytes(46)
    gen = GeneratorProcess(config("tmpl", template=arp), tmp_path / "gen.log")
    with gen, pytest.raises(GeneratorError, match="template ethertype 0x0806"):
        gen.wait_ready(60)
    assert_gone(gen)


def test_vhost_server_port_blocks_until_a_client_comes(tmp_path):
    """virtio-user in server mode waits in EAL init for its vhost client (OVS):
    wait_ready times out, close() ends it at once and removes its socket."""
    sock = tmp_path / "vu.sock"
    gen = GeneratorProcess(config("vu", ports=(f"net_virtio_user0,path={sock},server=1,queue_size=1024",)),
                           tmp_path / "gen.log")
    try:
        gen.start()
        with pytest.raises(GeneratorError, match="no ready") as err:
            gen.wait_ready(1.5)
        assert "waiting for client connection" in err.value.reason
        assert sock.is_socket()
    finally:
        t0 = time.monotonic()
        gen.close()
        assert time.monotonic() - t0 < 5
    assert_gone(gen)
    assert not sock.exists()


def test_commands_after_close_fail(tmp_path):
    with GeneratorProcess(config("closed"), tmp_path / "gen.log") as gen:
        gen.wait_ready(60)
    assert_gone(gen)
    with pytest.raises(GeneratorError, match="closed"):
        gen.trial(1000, 0.1)
