"""The generator process: ``python -m pktlab.gen.worker --cmd-fd N --evt-fd M``.

One worker per data path: EAL initialises once per process, and a crash in C
cannot take the runner down. stdout/stderr belong to DPDK's log (the parent
points them at a log file); the protocol is JSON lines on two dedicated pipes.
The kernel backend (GenConfig.backend "kernel") speaks the same protocol with
no EAL at all: dpdk_version is null and "backend" says what was set up.

parent -> worker  {"cmd": "config", "config": GenConfig.to_dict()}   (first)
                  {"cmd": "trial", "rate_pps": float|null, "duration_s": s, "drain_s": s,
                   "frames": n (0: no count), "interval_s": s (0: no intervals)}
                  {"cmd": "link"}  {"cmd": "quit"}
worker -> parent  {"event": "ready", "dpdk_version", "backend", "tsc_hz",
                   "ports": [{name, port_id, mac, link_up}]}  (kernel: port_id is the ifindex)
                  {"event": "interval", "interval": {...}}  (interval_s > 0, while it runs;
                   see gen.intervals.interval_record)
                  {"event": "trial", "stats": TrialStats.to_dict(),
                   "loops": [LoopStats.to_dict(), ...]}  (one per poll loop)
                  {"event": "link", "up": [bool, ...]}
                  {"event": "error", "status": int, "reason": str, "fatal": bool}
                  {"event": "bye"}

The first poll loop runs on the main thread, which EAL (or, for the kernel
backends, pg_create) pins to GenConfig.core; the others, if GenConfig.lcores
names more cores, on EAL's worker lcores or threads pinned to them, launched
by the C side for each trial.
EAL init may block (virtio-user in server mode waits for its vhost client);
SIGINT/SIGTERM then kill the worker outright (nothing to clean: --in-memory).
Once the generator exists, a C handler catches them: a running trial ends
early and is reported interrupted, then the worker cleans up and exits.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import select
import signal
import sys
import threading
import traceback

from ..errors import GeneratorError
from .config import FIELDS, ORDERS, GenConfig
from .intervals import IntervalReader
from .readout import trial_stats
from .stats import LoopStats, TrialStats

_INTERVAL_POLL = 0.05  # [s] between reads of the loops' snapshot rings


class CGenerator:
    """The C generator in this process (pktlab._pktgen through cffi): one pg_* API
    whichever backend the config names. Also the seam the unit tests use: the
    same ctx, the same accounting code."""

    def __init__(self, config: GenConfig):
        from .._pktgen import ffi, lib

        self.ffi, self.lib, self.config = ffi, lib, config
        self._keep = []  # C strings the C side points at must outlive it
        self.ctx = None

    # -- set-up ----------------------------------------------------------
    def eal_init(self, argv: list[str]) -> None:
        ffi, lib = self.ffi, self.lib
        args = [ffi.new("char[]", a.encode()) for a in argv]
        self._keep.append(args)
        rc = lib.pg_eal_init(len(args), ffi.new("char *[]", args))
        if rc != 0:
            raise GeneratorError(rc, self._err(None))

    def create(self) -> None:
        ffi, lib, cfg = self.ffi, self.lib, self.config
        c = ffi.new("struct pg_config *")
        names = [ffi.new("char[]", n.encode()) for n in cfg.port_names]
        frames = [ffi.new("uint8_t[]", s.template) for s in cfg.streams]
        self._keep += [c, names, frames]
        c.backend = cfg.io.c_id
        c.nb_ports = len(names)
        for i, n in enumerate(names):
            c.port_names[i] = n
        c.nb_streams = len(cfg.streams)
        for i, s in enumerate(cfg.streams):
            cs = c.streams[i]
            cs.tx_port = s.tx_port
            cs.rx_port = -1 if s.rx_port is None else s.rx_port
            cs.nb_flows = s.flows
            cs.order = ORDERS[s.order]
            fields = s.flow_fields
            cs.nb_fields = len(fields)
            for k, (name, count) in enumerate(fields):
                cs.fields[k].field = FIELDS[name]
                cs.fields[k].count = count
            cs.weight = s.weight
            cs.fixed_pps = s.fixed_pps
            cs.frame_len = len(s.template)
            cs.frame = frames[i]
        c.burst, c.nb_mbufs, c.ring_size = cfg.burst, cfg.nb_mbufs, cfg.ring_size
        c.nb_lcores = len(cfg.loop_cores)
        for i, core in enumerate(cfg.loop_cores):
            c.lcores[i] = core
        pctx = ffi.new("struct pg_ctx **")
        rc = lib.pg_create(c, pctx)
        if rc != 0:
            raise GeneratorError(rc, self._err(None))
        self.ctx = pctx[0]

    def destroy(self) -> None:
        if self.ctx is not None:
            self.lib.pg_destroy(self.ctx)
            self.ctx = None

    def _err(self, ctx) -> str:
        return self.ffi.string(self.lib.pg_errmsg(self.ffi.NULL if ctx is None else ctx)).decode(
            errors="replace")

    def _check(self, rc: int) -> int:
        if rc < 0:
            raise GeneratorError(rc, self._err(self.ctx))
        return rc

    # -- queries -----------------------------------------------------------
    @property
    def dpdk_version(self) -> str | None:
        """DPDK's version when EAL runs here, else None."""
        return self.ffi.string(self.lib.pg_dpdk_version()).decode() if self.config.io.eal else None

    @property
    def backend_info(self) -> str:
        """What runs the ports: the DPDK version, or the kernel mode as set up and the kernel."""
        return self.ffi.string(self.lib.pg_description(self.ctx)).decode(errors="replace")

    @property
    def tsc_hz(self) -> int:
        return int(self.lib.pg_tsc_hz())

    def ports(self) -> list[dict]:
        out = []
        port_id = self.ffi.new("uint32_t *")
        mac = self.ffi.new("uint8_t[6]")
        for i, (name, up) in enumerate(zip(self.config.port_names, self.link_up())):
            self._check(self.lib.pg_port_info(self.ctx, i, port_id, mac))
            out.append({"name": name, "port_id": int(port_id[0]),
                        "mac": ":".join(f"{b:02x}" for b in bytes(mac)), "link_up": up})
        return out

    def link_up(self) -> list[bool]:
        return [bool(self._check(self.lib.pg_link_up(self.ctx, i))) for i in range(len(self.config.ports))]

    def rx_missed(self) -> list[int]:
        """Frames dropped on the way into the generator's receive queues in the last
        trial, per port: the port's imissed + rx_nombuf (DPDK), the kernel's ring drops.
        They are counted lost like any other; this says where."""
        n = self.ffi.new("uint64_t *")
        out = []
        for i in range(len(self.config.ports)):
            self._check(self.lib.pg_port_rx_missed(self.ctx, i, n))
            out.append(int(n[0]))
        return out

    def catch_signals(self, wake_fd: int) -> None:
        self._check(self.lib.pg_catch_signals(self.ctx, wake_fd))

    def signal_caught(self) -> int:
        return int(self.lib.pg_signal_caught())

    # -- trials ------------------------------------------------------------
    def run_trial(self, rate_pps: float | None, duration_s: float, drain_s: float, frames: int = 0,
                  interval_s: float = 0.0, on_interval=None) -> TrialStats:
        """One trial; frames > 0: exactly that many load frames; interval_s > 0: on_interval(dict)
        for every interval, called from a thread while the C loops run (see gen.intervals)."""
        t = self.ffi.new("struct pg_trial *", {"rate_pps": rate_pps or 0.0, "duration_s": duration_s,
                                               "drain_s": drain_s, "frames": frames, "interval_s": interval_s})
        if interval_s <= 0:
            self._check(self.lib.pg_run_trial(self.ctx, t))  # cffi releases the GIL
            return self.trial_stats(rate_pps, duration_s)
        reader, ended, failed = IntervalReader(self), threading.Event(), []

        def drain():
            try:
                while True:
                    last = ended.is_set()
                    for rec in reader.poll():
                        on_interval(rec)
                    if last or reader.finished:
                        return
                    ended.wait(_INTERVAL_POLL)
            except BaseException as e:  # reported by the trial, not lost in a thread
                failed.append(e)

        th = threading.Thread(target=drain, name="pktlab-intervals", daemon=True)
        th.start()
        try:
            self._check(self.lib.pg_run_trial(self.ctx, t))
        finally:
            ended.set()
            th.join()
        if failed:
            raise failed[0]
        return self.trial_stats(rate_pps, duration_s)

    def raw_stats(self):
        st = self.ffi.new("struct pg_stats *")
        self._check(self.lib.pg_read_stats(self.ctx, st))
        return st

    def loop_stats(self) -> list[LoopStats]:
        """Each poll loop's share of the last trial."""
        out = []
        for i, core in enumerate(self.config.loop_cores):
            st = self.ffi.new("struct pg_stats *")
            self._check(self.lib.pg_read_loop_stats(self.ctx, i, st))
            streams = [st.streams[k] for k in range(len(self.config.streams))]
            out.append(LoopStats(lcore=core, tx_packets=sum(s.tx for s in streams),
                                 rx_packets=sum(s.rx for s in streams), elapsed_s=st.tx_cycles / st.tsc_hz))
        return out

    def trial_stats(self, rate_pps: float | None, duration_s: float) -> TrialStats:
        """The counters of the last trial as the results contract wants them."""
        return trial_stats(self.ffi, self.lib, self.raw_stats(), self.config, rate_pps, duration_s,
                           self.rx_missed())

    # -- test seam -----------------------------------------------------------
    def begin_trial(self) -> int:
        return self._check(self.lib.pg_begin_trial(self.ctx))

    def account(self, port_index: int, frame: bytes, now_tsc: int) -> bool:
        return bool(self._check(self.lib.pg_account_frame(self.ctx, port_index, frame, len(frame), now_tsc)))


class _Lines:
    """JSON lines from a pipe, read without blocking past select()."""

    def __init__(self, fd: int):
        self.fd, self.buf, self.eof = fd, b"", False

    def fill(self) -> None:
        data = os.read(self.fd, 1 << 16)
        self.buf += data
        self.eof = not data

    def pop(self) -> dict | None:
        line, sep, rest = self.buf.partition(b"\n")
        if not sep:
            return None
        self.buf = rest
        return json.loads(line)


def _send(fd: int, msg: dict) -> None:
    data = (json.dumps(msg) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def _log(*words) -> None:
    print("pktlab.gen.worker:", *words, flush=True)


def _die_with_parent() -> None:
    """SIGTERM when the parent dies, so a blocked EAL init cannot outlive it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _read_config(lines: _Lines) -> GenConfig:
    while (msg := lines.pop()) is None:
        lines.fill()
        if lines.eof:
            raise GeneratorError(-errno.EPIPE, "parent closed the command pipe before sending the config")
    if msg.get("cmd") != "config":
        raise GeneratorError(-errno.EINVAL, f"first command must be config, got {msg.get('cmd')!r}")
    return GenConfig.from_dict(msg["config"])


def serve(gen: CGenerator, lines: _Lines, evt: int, wake: int) -> None:
    """Answer commands until quit, EOF on the command pipe, or a signal."""
    while not gen.signal_caught():
        msg = lines.pop()
        if msg is None:
            if lines.eof:
                _log("command pipe closed, exiting")
                return
            ready, _, _ = select.select([lines.fd, wake], [], [])
            if wake in ready:
                continue  # the loop condition sees the signal
            lines.fill()
            continue
        cmd = msg.get("cmd")
        try:
            if cmd == "trial":
                frames, interval = int(msg.get("frames", 0)), float(msg.get("interval_s", 0.0))
                _log(f"trial rate={msg.get('rate_pps')} duration={msg['duration_s']} drain={msg['drain_s']}"
                     + (f" frames={frames}" if frames else "") + (f" interval={interval}" if interval else ""))
                stats = gen.run_trial(msg.get("rate_pps"), float(msg["duration_s"]), float(msg["drain_s"]),
                                      frames, interval, lambda rec: _send(evt, {"event": "interval", "interval": rec}))
                _log(f"trial done tx={stats.tx_packets} rx={stats.rx_packets} lost={stats.lost} "
                     f"elapsed={stats.elapsed_s:.6f}s interrupted={stats.interrupted}")
                loops = gen.loop_stats()
                if len(loops) > 1:
                    _log("loops", " ".join(f"lcore{lp.lcore}:tx={lp.tx_packets},rx={lp.rx_packets}" for lp in loops))
                _send(evt, {"event": "trial", "stats": stats.to_dict(), "loops": [lp.to_dict() for lp in loops]})
            elif cmd == "link":
                _send(evt, {"event": "link", "up": gen.link_up()})
            elif cmd == "quit":
                return
            else:
                _send(evt, {"event": "error", "status": -errno.EINVAL, "reason": f"unknown command {cmd!r}",
                            "fatal": False})
        except GeneratorError as e:
            _send(evt, {"event": "error", "status": e.status, "reason": e.reason, "fatal": False})
    _log(f"caught signal {gen.signal_caught()}, exiting")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pktlab.gen.worker")
    ap.add_argument("--cmd-fd", type=int, required=True, help="pipe the parent writes commands to")
    ap.add_argument("--evt-fd", type=int, required=True, help="pipe the worker writes events to")
    args = ap.parse_args(argv)

    # until the C handler is in place a signal must end us, not wait for
    # bytecode that a blocked rte_eal_init would never return to
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    evt, lines = args.evt_fd, _Lines(args.cmd_fd)
    gen, eal_up, status = None, False, 0
    try:
        config = _read_config(lines)
        # EAL pins this thread (the main lcore, which runs the first loop)
        # to the core with -l, and starts a thread on each other lcore; its
        # control threads go to the other CPUs, off the data path (pinning
        # the whole process here cost ~3 %)
        missing = sorted(set(config.loop_cores) - os.sched_getaffinity(0))
        if missing:
            raise GeneratorError(-errno.EINVAL, f"cores {missing} not in this process's CPUs "
                                 f"{sorted(os.sched_getaffinity(0))}")
        gen = CGenerator(config)
        _log(f"{config.io_name} backend, loops on cores {','.join(map(str, config.loop_cores))}:",
             " ".join(config.ports))
        if config.io.eal:
            argv_eal = config.eal_argv()
            _log("EAL", " ".join(argv_eal))
            gen.eal_init(argv_eal)  # may block: virtio-user server=1 waits for its client
            eal_up = True
        gen.create()  # kernel backends pin this thread to core (before the TSC is calibrated)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        gen.catch_signals(wake_w)
        ports = gen.ports()
        _log("ready", gen.backend_info, json.dumps(ports))
        _send(evt, {"event": "ready", "dpdk_version": gen.dpdk_version, "backend": gen.backend_info,
                    "tsc_hz": gen.tsc_hz, "ports": ports})
        serve(gen, lines, evt, wake_r)
    except GeneratorError as e:
        _log(f"error: {e}")
        status = 1
        _try_send(evt, {"event": "error", "status": e.status, "reason": e.reason, "fatal": True})
    except Exception as e:  # a bug: say so on both channels
        traceback.print_exc()
        status = 1
        _try_send(evt, {"event": "error", "status": -1, "reason": f"worker: {e!r}", "fatal": True})
    finally:
        if gen is not None:
            gen.destroy()
        if eal_up:
            gen.lib.pg_eal_cleanup()
        _try_send(evt, {"event": "bye"})
        _log("exit", status)
    return status


def _try_send(fd: int, msg: dict) -> None:
    try:
        _send(fd, msg)
    except OSError:  # the parent is gone or stopped listening
        pass


if __name__ == "__main__":
    sys.exit(main())
