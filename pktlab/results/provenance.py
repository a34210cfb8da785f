"""Where and with what a result was measured (pktlab.provenance collects it)."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timezone

from .fields import build, get


@dataclass(frozen=True)
class Provenance:
    """Where and with what a result was measured, so two numbers can be compared honestly."""

    host: str
    kernel: str  # release, as `uname -r`
    cpu_model: str
    cores_used: dict[str, list[int]]  # role -> CPU ids, e.g. {"generator": [0], "ovs_pmd": [1]}
    numa_nodes: int
    dpdk_version: str | None
    ovs_version: str | None
    pktlab_version: str
    git_commit: str | None  # of the pktlab checkout; "-dirty" suffix when tracked files changed
    utc_time: str  # ISO 8601 with "Z", when this was collected; also names the result file
    # PVP: the guest's kernel, forwarder, vCPUs and their host cores, acceleration (KVM or emulated)
    guest: dict | None = None
    # Lab paths: each NIC the run took (role, PCI address, vendor:device, kernel driver,
    # DPDK PMD, NUMA node, link speed), as it was before the run
    nics: list | None = None
    # The DUT on another host ([hosts].dut): that host's name, kernel, CPU, NUMA nodes, NICs
    # and versions, as it described itself; `host` and the rest above are then the tester's
    dut: dict | None = None
    # Two hosts: which tester NIC is cabled to which DUT NIC ([{"tester": ..., "dut": ...}])
    cabling: list | None = None

    def __post_init__(self):
        for role, cores in self.cores_used.items():
            if not isinstance(role, str) or not isinstance(cores, (list, tuple)) or not all(
                    isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cores):
                raise ValueError(f"Provenance.cores_used[{role!r}] = {cores!r}: "
                                 "must be a list of CPU ids")
        if not isinstance(self.numa_nodes, int) or self.numa_nodes < 1:
            raise ValueError(f"Provenance.numa_nodes = {self.numa_nodes!r}: must be >= 1")
        if not (isinstance(self.utc_time, str) and self.utc_time.endswith("Z")):
            raise ValueError(f"Provenance.utc_time = {self.utc_time!r}: "
                             "must be ISO 8601 UTC ending in Z")
        try:
            datetime.fromisoformat(self.utc_time)
        except ValueError:
            raise ValueError(f"Provenance.utc_time = {self.utc_time!r}: not ISO 8601") from None
        object.__setattr__(self, "cores_used", {r: list(c) for r, c in self.cores_used.items()})

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.utc_time).astimezone(timezone.utc)

    def to_dict(self) -> dict:
        return {"host": self.host, "kernel": self.kernel, "cpu_model": self.cpu_model,
                "cores_used": {r: list(c) for r, c in self.cores_used.items()},
                "numa_nodes": self.numa_nodes, "dpdk_version": self.dpdk_version,
                "ovs_version": self.ovs_version, "pktlab_version": self.pktlab_version,
                "git_commit": self.git_commit, "utc_time": self.utc_time,
                **({"guest": copy.deepcopy(self.guest)} if self.guest is not None else {}),
                **({"nics": copy.deepcopy(self.nics)} if self.nics is not None else {}),
                **({"dut": copy.deepcopy(self.dut)} if self.dut is not None else {}),
                **({"cabling": copy.deepcopy(self.cabling)} if self.cabling is not None else {})}

    @classmethod
    def from_dict(cls, d: dict, where: str = "provenance") -> "Provenance":
        kw = {k: get(d, k, str, where)
              for k in ("host", "kernel", "cpu_model", "pktlab_version", "utc_time")}
        kw |= {k: get(d, k, str, where, nullable=True)
               for k in ("dpdk_version", "ovs_version", "git_commit")}
        cores = get(d, "cores_used", dict, where)
        for role in cores:
            for i, _ in enumerate(get(cores, role, list, f"{where}.cores_used")):
                get(cores[role], i, int, f"{where}.cores_used.{role}")
        return build(cls, where, cores_used=cores,
                      numa_nodes=get(d, "numa_nodes", int, where),
                      guest=get(d, "guest", dict, where, nullable=True, required=False),
                      nics=get(d, "nics", list, where, nullable=True, required=False),
                      dut=get(d, "dut", dict, where, nullable=True, required=False),
                      cabling=get(d, "cabling", list, where, nullable=True, required=False), **kw)
