"""`pktlab vlab ...`: the virtual lab server from the command line.

    pktlab vlab show                     its hardware: nodes, NICs (PCI addresses), cables
    pktlab vlab run SCENARIO [--out D]   boot, `pktlab run SCENARIO --out D` inside, power off
    pktlab vlab doctor [SCENARIO]        boot, `pktlab doctor` inside, power off
    pktlab vlab start [--out D]          boot and leave it running (one at a time)
    pktlab vlab exec -- CMD...           run a command in the running one (exit code passes through)
    pktlab vlab stop                     power the running one off

The server is a journaled plan step: `pktlab restore` stops one whose runner died.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .. import journal
from ..context import RunContext
from ..errors import PktlabError, PrecheckError
from ..guest.qemu import COMM
from ..host import process
from ..plan import Applied, undo_all
from .channel import Channel
from .step import StartVlab
from .topology import DEFAULT

COMMAND_TIMEOUT = 3600.0  # [s] one command inside


def add_arguments(sub) -> None:
    vlab = sub.add_parser("vlab", help="a virtual lab server (QEMU: 2 NUMA nodes, IOMMU, igb NICs with SR-IOV) "
                                       "that runs lab scenarios for real")
    vsub = vlab.add_subparsers(dest="vlab_command", required=True)
    vsub.add_parser("show", help="its hardware: NUMA nodes, NICs and PCI addresses, cables").set_defaults(
        func=_show)
    run = vsub.add_parser("run", help="boot it, run a scenario inside, bring the results out, power it off")
    run.add_argument("scenario", type=Path)
    run.add_argument("--out", type=Path, default=Path("results"), help="results directory (default: %(default)s)")
    run.set_defaults(func=_run)
    doc = vsub.add_parser("doctor", help="boot it and run `pktlab doctor` inside")
    doc.add_argument("scenario", type=Path, nargs="?")
    doc.set_defaults(func=_doctor)
    start = vsub.add_parser("start", help="boot it and leave it running for `vlab exec`")
    start.add_argument("--out", type=Path, default=Path("results"),
                       help="directory writable inside, at the same path (default: %(default)s)")
    start.add_argument("--tap", action="append", default=[], metavar="NIC=TAP",
                       help="cable the server's NIC (dut0, dut1, gen0, gen1) to a tap TAP on this host instead "
                            "of its peer inside (a tester here drives it); repeatable")
    start.add_argument("--ssh-port", type=int, default=0,
                       help="forward 127.0.0.1:PORT here to the server's port 22 (for an sshd inside: the "
                            "server as a remote DUT)")
    start.set_defaults(func=_start)
    ex = vsub.add_parser("exec", help="run a command in the running server")
    ex.add_argument("argv", nargs="+", help="the command (put -- before it)")
    ex.set_defaults(func=_exec)
    vsub.add_parser("stop", help="power the running server off").set_defaults(func=_stop)
    for p in (run, doc, start):
        p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                       help="KVM where it really works, else TCG (default: %(default)s)")


def _show(args) -> int:
    print(DEFAULT.describe())
    return 0


def _current_file(state_dir: Path) -> Path:
    return Path(state_dir) / "vlab" / "current.json"


def boot(args, out: Path, run_id: str) -> tuple[Applied, StartVlab]:
    ctx = RunContext(args.state_dir, run_id)
    taps = dict(t.split("=", 1) for t in getattr(args, "tap", []) if "=" in t)
    if len(taps) != len(getattr(args, "tap", [])):
        raise PrecheckError("--tap", "", "takes NIC=TAP (e.g. dut0=pkt0)")
    step = StartVlab(name=run_id, run_dir=str(ctx.run_dir / "vm"), out_dir=str(out.resolve()),
                     accel=getattr(args, "accel", "auto"), taps=taps, ssh_port=getattr(args, "ssh_port", 0))
    step.precheck()
    applied = Applied(journal.Journal.create(args.state_dir, run_id), ctx)
    try:
        applied.apply(step)
    except BaseException:
        applied.__exit__(None, None, None)
        raise
    print(f"pktlab vlab: {run_id} ready after {step.state['boot_s']} s ({step.state['accel']['name']})",
          file=sys.stderr)
    return applied, step


def in_vm(args, out: Path, argv: list[str]) -> int:
    """Boot, run argv inside, power off; the exit code of argv (and the console's last lines if it failed)."""
    run_id = f"vlab-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    applied, step = boot(args, out, run_id)
    with applied:
        pid = step.state["pid"]
        t0 = time.monotonic()
        rc = Channel(step.io_dir).call(argv, COMMAND_TIMEOUT, alive=lambda: process.is_running(pid, COMM),
                                       cwd=os.getcwd())
        print(f"pktlab vlab: `{' '.join(argv)}` exited {rc} after {time.monotonic() - t0:.1f} s", file=sys.stderr)
        if rc:
            print(step.failure(f"`{' '.join(argv)}` exited {rc}", 15), file=sys.stderr)
    if applied.undo_errors:
        raise PktlabError("; ".join(applied.undo_errors))
    return rc


def _run(args) -> int:
    from .. import scenario as scenario_mod
    from .check import check

    sc = scenario_mod.load(args.scenario)
    check(sc)
    return in_vm(args, args.out, ["pktlab", "run", str(args.scenario.resolve()), "--out", str(args.out.resolve())])


def _doctor(args) -> int:
    argv = ["pktlab", "doctor"]
    if args.scenario:
        from .. import scenario as scenario_mod
        from .check import check

        check(scenario_mod.load(args.scenario))
        argv.append(str(args.scenario.resolve()))
    import tempfile

    # doctor writes nothing: its results share is a scratch directory, gone afterwards
    with tempfile.TemporaryDirectory(prefix="vlab-doctor-") as scratch:
        return in_vm(args, Path(scratch), argv)


def _start(args) -> int:
    cur = _current_file(args.state_dir)
    if cur.is_file():
        doc = json.loads(cur.read_text())
        if process.is_running(doc["pid"], COMM):
            raise PktlabError(f"a virtual lab server is running already ({doc['run_id']}): `pktlab vlab stop` first")
    run_id = f"vlab-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    _, step = boot(args, args.out, run_id)
    cur.parent.mkdir(parents=True, exist_ok=True)
    cur.write_text(json.dumps({"run_id": run_id, "pid": step.state["pid"], "io_dir": str(step.io_dir),
                               "run_dir": step.run_dir, "out": step.out_dir}))
    print(f"{run_id} running; results directory {step.out_dir}; `pktlab vlab exec -- CMD`, `pktlab vlab stop`")
    return 0


def _running(args) -> dict:
    cur = _current_file(args.state_dir)
    try:
        doc = json.loads(cur.read_text())
    except (OSError, ValueError):
        raise PktlabError("no virtual lab server is running (`pktlab vlab start`)") from None
    if not process.is_running(doc["pid"], COMM):
        cur.unlink(missing_ok=True)
        raise PktlabError(f"virtual lab server {doc['run_id']} is not running any more (`pktlab restore` cleans up)")
    return doc


def _exec(args) -> int:
    doc = _running(args)
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    return Channel(doc["io_dir"]).call(argv, COMMAND_TIMEOUT, alive=lambda: process.is_running(doc["pid"], COMM),
                                       cwd=os.getcwd())


def _stop(args) -> int:
    doc = _running(args)
    path = journal.journal_dir(args.state_dir) / f"{doc['run_id']}.json"
    j, steps = journal.Journal.load(path)
    ctx = RunContext(args.state_dir, doc["run_id"])
    try:
        errors = undo_all(steps, ctx, j)
    finally:
        ctx.close()
    _current_file(args.state_dir).unlink(missing_ok=True)
    if errors:
        raise PktlabError("; ".join(errors))
    print(f"{doc['run_id']} powered off")
    return 0
