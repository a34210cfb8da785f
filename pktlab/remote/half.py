"""The DUT's half of a data path, planned by the DUT's own pktlab (`pktlab step plan`).

The tester plans its own half (the generator's NICs, lcores, hugepages) from its
own sysfs; the DUT's half (its NICs, OVS, PMDs on its NICs' nodes) is planned
there, from the DUT's sysfs, and comes back as steps tagged host "dut" plus
what the tester needs to drive it (interface names, the OVS directory) and to
describe it in results (that host's CPU, kernel, NICs, versions).
"""
from __future__ import annotations

import functools
import json

from ..errors import PrecheckError, StepError
from ..plan import Step

PLAN_TIMEOUT = 300.0  # [s] planning reads sysfs and the DPDK PMD index there


class DutHalf:
    def __init__(self, path, connection):
        """path: the tester's half (a DataPath with side "tester"); connection: a callable
        returning the run's open remote.ssh.Connection to the DUT."""
        self.path, self._connection = path, connection

    @property
    def run_dir(self) -> str:
        return f"{self.path.run_dir}-dut"  # distinct from the tester's, should both share a filesystem

    @functools.cached_property
    def doc(self) -> dict:
        p = self.path
        conn = self._connection()
        request = {"scenario": p.scenario.file.read_text(), "file": str(p.scenario.file),
                   "datapath": p.scenario.datapaths.index(p.entry), "size": _size(p.scenario.traffic),
                   "run_id": p.run_id, "run_dir": self.run_dir}
        r = conn.run([conn.host.pktlab, "step", "plan"], input=json.dumps(request), check=False,
                     timeout=PLAN_TIMEOUT)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            said = (r.stderr.strip().splitlines() or ["no message"])[-1]
            raise StepError(f"host {conn.host}: `{conn.host.pktlab} step plan` failed (exit {r.returncode}): "
                            f"{said}") from None
        err = doc.get("error")
        if err:
            raise PrecheckError(p.scenario.file, err.get("key"), f"on the DUT, host {conn.host.name}: "
                                                                 f"{err.get('reason')}")
        return doc

    def steps(self) -> list[Step]:
        return [Step.from_dict(d) for d in self.doc["steps"]]

    @property
    def explain(self) -> str:
        return self.doc.get("explain") or ""

    @property
    def export(self) -> dict:
        return self.doc.get("export") or {}

    @property
    def facts(self) -> dict:
        return self.doc.get("facts") or {}


def _size(traffic):
    return "imix" if traffic.imix else traffic.frame_size
