"""Data paths: each turns a scenario entry into a plan of host steps, a generator
configuration and a reader of the device under test's own counters."""
from __future__ import annotations

from .base import DataPath
from .ovs_dpdk_vhost import OvsDpdkVhostPath

KINDS: dict[str, type[DataPath]] = {
    "ovs-dpdk-vhost": OvsDpdkVhostPath,
}


def build(scenario, entry, run_dir, run_id) -> DataPath:
    return KINDS[entry.kind](scenario, entry, run_dir, run_id)
