"""pktlab's command line: run, plot, restore."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__, journal
from .errors import HostError, PktlabError, ScenarioError

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def _run(args) -> int:
    from . import scenario as scenario_mod
    from .runner import Runner

    sc = scenario_mod.load(args.scenario)
    runner = Runner(sc, args.out, args.state_dir, root=str(args.sysfs_root))
    if args.dry_run:
        print(f"scenario {sc.name} ({sc.file}): plan only, nothing is changed\n")
        try:
            runner.hosts.check()  # an unreachable DUT is named before any plan is shown
            print(runner.render_plan())
            try:
                runner.precheck()
                runnable = [p for p in runner.paths if p.unavailable() is None]
                print("\nprecheck: this host can run it" if runnable else
                      "\nprecheck: no data path of it can run on this host (each is recorded as not run)")
            except HostError:
                raise
            except PktlabError as e:
                print(f"\nprecheck: a real run would stop here: {e}")
        finally:
            runner.hosts.close()
        return 0
    runner.run()
    return 0


def _plot(args) -> int:
    from .analysis.charts import plot_results
    from .results import load_results

    results = sorted(load_results(args.results), key=lambda r: r.provenance.utc_time)  # run order
    baseline = args.baseline or next((d["name"] for r in results for d in r.scenario.get("datapaths", [])
                                      if d.get("kind") == "linux-bridge"), None)
    print(plot_results(results, args.output, baseline=baseline))
    return 0


def _compare(args) -> int:
    from .analysis.compare import compare, format_comparison
    from .results import load_results

    c = compare(load_results(args.results), load_results(args.baseline) if args.baseline else None,
                args.tolerance)
    print(format_comparison(c))
    if args.charts:
        from .analysis.charts import frame_size_figure, latency_figure, save_figure

        args.charts.mkdir(parents=True, exist_ok=True)
        for name, fig in (("frame-size", frame_size_figure(c)), ("latency", latency_figure(c))):
            print(save_figure(fig, args.charts / f"compare-{name}.png"))
    # A regression is a verdict a script can act on.
    return EXIT_FAILED if any(v.verdict == "regression" for v in c.verdicts) else 0


def _report(args) -> int:
    from .analysis.report import write_report
    from .results import load_results

    print(write_report(load_results(args.results), args.output,
                       load_results(args.baseline) if args.baseline else None, args.tolerance))
    return 0


def _export(args) -> int:
    from .analysis.export import write_csv
    from .results import load_results

    write_csv(load_results(args.results), args.output if args.output else sys.stdout)
    return 0


def _restore(args) -> int:
    from .context import RunContext

    if not journal.pending(args.state_dir):
        print(f"nothing to restore (no journal under {journal.journal_dir(args.state_dir)})")
        return 0
    errors = journal.restore(args.state_dir, lambda run_id: RunContext(args.state_dir, run_id), force=args.force)
    if errors:
        print("some undo steps failed; fix what they name and run `pktlab restore` again", file=sys.stderr)
        return EXIT_FAILED
    print("host restored")
    return 0


def _doctor(args) -> int:
    from . import scenario as scenario_mod
    from .inventory import doctor

    if args.host:
        return _doctor_remote(args)
    reqs = None
    if args.scenario:
        sc = scenario_mod.load(args.scenario)
        reqs = {sc.name: requirements(sc, str(args.sysfs_root))}
    return doctor.run(reqs, args.json, root=str(args.sysfs_root))


def _doctor_remote(args) -> int:
    from .remote import doctor as remote_doctor
    from .remote.inventory import default_inventory, load_host

    if args.scenario:
        raise ScenarioError(args.scenario, None, "doctor --host judges the host itself; "
                                                 "a scenario's readiness there is not checked yet")
    return remote_doctor.run(load_host(args.host, args.inventory or default_inventory()), args.json)


def requirements(sc, root: str = "/") -> list[dict]:
    """What a scenario needs of the host, as the doctor's requirement data: each data
    path's own (lab paths: IOMMU, vfio-pci, their placement by NUMA node)."""
    from . import datapaths

    reqs: list[dict] = []
    for i, entry in enumerate(sc.datapaths):
        p = datapaths.build(sc, entry, Path("/nonexistent"), f"doctor-{i}", root)
        if sc.hosts.remote:
            p.side = "tester"  # the DUT's half is judged there: `pktlab doctor --host DUT`
        for r in p.requirements():
            if r not in reqs:
                reqs.append(r)
    # 1G pages cannot be counted on at run time: they must be free already. pktlab reserves 2M pages itself.
    if sc.hugepages is not None and sc.hugepages.size == "1G":
        reqs.append({"check": "hugepages", "size": "1G", "count": sc.hugepages.count})
    return reqs


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pktlab", description="Packet-path performance lab for NFV engineers.")
    ap.add_argument("--version", action="version", version=f"pktlab {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every host change as it happens")
    ap.add_argument("--state-dir", type=Path, default=journal.DEFAULT_STATE_DIR,
                    help="where run directories and journals live (default: %(default)s)")
    ap.add_argument("--sysfs-root", type=Path, default=Path("/"),
                    help="read the host (CPUs, NUMA nodes, hugepages, NICs) from a copy of a lab server's "
                         "sysfs/procfs under this directory: `run --dry-run` plans for it, `doctor` judges it; "
                         "a real run needs / (default)")
    sub = ap.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="set up a scenario's data paths, measure, restore the host")
    run.add_argument("scenario", type=Path, help="scenario TOML file")
    run.add_argument("--out", type=Path, default=Path("results"), help="results directory (default: %(default)s)")
    run.add_argument("--dry-run", action="store_true", help="print the plan and its undo; change nothing")
    run.set_defaults(func=_run)

    plot = sub.add_parser("plot", help="chart results side by side")
    plot.add_argument("results", type=Path, nargs="+", help="result JSON files")
    plot.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    plot.add_argument("--baseline", help="data path the fastest is compared with (default: a Linux bridge path)")
    plot.set_defaults(func=_plot)

    comp = sub.add_parser("compare", help="table (and charts) across runs; regression verdicts against a baseline")
    comp.add_argument("results", type=Path, nargs="+", help="result JSON files (or directories of them)")
    comp.add_argument("--baseline", type=Path, nargs="+", help="baseline result files")
    comp.add_argument("--tolerance", type=float, default=0.05, help="regression tolerance (default: %(default)s)")
    comp.add_argument("--charts", type=Path, help="also write Mpps-vs-frame-size and latency charts here")
    comp.set_defaults(func=_compare)

    rep = sub.add_parser("report", help="one self-contained HTML report of runs")
    rep.add_argument("results", type=Path, nargs="+")
    rep.add_argument("-o", "--output", type=Path, required=True, help="HTML file to write")
    rep.add_argument("--baseline", type=Path, nargs="+")
    rep.add_argument("--tolerance", type=float, default=0.05)
    rep.set_defaults(func=_report)

    exp = sub.add_parser("export", help="trials as CSV")
    exp.add_argument("results", type=Path, nargs="+")
    exp.add_argument("-o", "--output", type=Path, help="CSV file (default: standard output)")
    exp.set_defaults(func=_export)

    doctor = sub.add_parser("doctor", help="what this host has, and whether it can run a scenario (reads only)")
    doctor.add_argument("scenario", type=Path, nargs="?", help="scenario TOML file to check readiness for")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--host", help="judge this host of the Ansible inventory instead, over SSH "
                                       "(its own pktlab reads it)")
    doctor.add_argument("--inventory", type=Path, help="Ansible inventory, YAML or INI "
                                                       "(default: $ANSIBLE_INVENTORY, else /etc/ansible/hosts)")
    doctor.set_defaults(func=_doctor)

    guest = sub.add_parser("guest", help="the PVP guest image")
    gsub = guest.add_subparsers(dest="guest_command", required=True)
    gbuild = gsub.add_parser("build", help="build the guest images from Debian packages (reproducibly)")
    from .guest import add_build_arguments, cli_build

    add_build_arguments(gbuild)
    gbuild.set_defaults(func=cli_build)

    from .vlab.cli import add_arguments as add_vlab_arguments

    add_vlab_arguments(sub)

    from .remote.agent import add_arguments as add_step_arguments

    add_step_arguments(sub)

    restore = sub.add_parser("restore", help="undo the host changes of a run that was killed")
    restore.add_argument("--force", action="store_true", help="even if the run that left them seems alive")
    restore.set_defaults(func=_restore)
    return ap


def main(argv=None) -> int:
    # A run's progress lines must reach a log or CI as they happen, not when the
    # run ends: line-buffer stdout and stderr even when they are not a terminal.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["step"] and len(argv) == 2 and argv[1] in ("apply", "undo", "plan"):
        # A tester drives this host step by step over SSH: skip building the whole command
        # line (it imports the guest and vlab modules), which costs seconds on a slow host.
        from .remote.agent import serve

        logging.basicConfig(level=logging.WARNING, format="pktlab: %(message)s")
        return serve(argv[1])
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="pktlab: %(message)s")
    try:
        return args.func(args)
    except (ScenarioError, HostError) as e:
        print(f"pktlab: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PktlabError as e:
        print(f"pktlab: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pktlab: interrupted; the host was restored", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
