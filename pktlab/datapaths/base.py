"""What the runner needs from a data path."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import PrecheckError
from ..plan import Plan
from ..units import LineRate
from .streams import sending_ports


class DataPath:
    """A data path kind: `kind` names it in scenarios, `Options` is its [[datapath]]
    table (a frozen dataclass with check()), `lab` says it places its own cores and
    hugepages by NUMA node on physical NICs. The registry is datapaths.KINDS."""

    kind: str = ""
    Options: type = type(None)
    lab: bool = False
    two_hosts: bool = False  # can run with the DUT on another host ([hosts].dut)

    def __init__(self, scenario, entry, run_dir: Path, run_id: str, root: str = "/"):
        self.scenario, self.entry = scenario, entry
        self.options = entry.options
        self.run_dir, self.run_id = Path(run_dir), run_id
        self.root = str(root)  # where host facts are read: "/" or a copy of a lab server's sysfs

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def where(self) -> str:
        """This path's table in the scenario, as error messages name its keys."""
        return f"datapath[{self.scenario.datapaths.index(self.entry)}]"

    def unavailable(self) -> str | None:
        """Why this data path cannot run on this host at all (recorded as not run), or None."""
        return None

    def precheck(self) -> None:
        """Read-only checks; raise PrecheckError naming file, key and reason."""
        if os.geteuid() != 0:
            self.fail(None, "pktlab run changes the host (hugepages, daemons, interfaces): run it as root")
        usable = os.sched_getaffinity(0)
        for key, cores in self.cores_used().items():
            for c in cores:
                if c not in usable:
                    self.fail(f"cpu.{key}", f"core {c} does not exist or is not usable here "
                                            f"(usable: {sorted(usable)})")

    def line_rate(self) -> LineRate:
        """What this path's rates are judged against: link speed x generator ports sending.
        A loopback path has no NIC: its link speed is the scenario's traffic.link_speed."""
        t = self.scenario.traffic
        return LineRate(t.link_bps, len(sending_ports(t)),
                        "traffic.link_speed" if t.link_speed else "traffic.link_speed unset: 10G")

    def explain(self) -> str:
        """Why the plan looks as it does (placement choices and warnings), for --dry-run."""
        return ""

    def requirements(self) -> list[dict]:
        """What `pktlab doctor <scenario>` checks of the host for this path (doctor's requirement data)."""
        cores = sorted({c for cs in self.cores_used().values() for c in cs})
        return [{"check": "cores", "cpus": cores}] if cores else []

    def fail(self, key, reason):
        raise PrecheckError(self.scenario.file, key, reason)

    def plan(self) -> Plan:
        """Every host change of this path in order, the generator's start included."""
        plan = self.host_plan()
        plan.add(self.generator_step())
        return plan

    def host_plan(self) -> Plan:
        """The path itself, built before the generator starts."""
        raise NotImplementedError

    def generator_step(self):
        """The step that starts the generator on this path's ports."""
        raise NotImplementedError

    def wait_ready(self, ctx) -> None:
        """Block until traffic can flow end to end."""

    def counters(self, ctx):
        """The device under test's own counters (snapshot(), settled(), source)."""
        raise NotImplementedError

    def cores_used(self) -> dict[str, list[int]]:
        raise NotImplementedError

    def versions(self, ctx) -> dict:
        return {}
