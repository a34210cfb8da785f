"""The [hosts] table: where the generator runs (the tester) and where the device
under test is (the DUT), by the names of a lab's Ansible inventory.

    [hosts]
    tester = "local"            # the generator's host: this one (the only choice so far)
    dut = "compute-3"           # the DUT's host, reached over SSH; absent: this host too
    inventory = "lab.yml"       # Ansible inventory (YAML or INI), relative to the scenario file;
                                # default: $ANSIBLE_INVENTORY, else /etc/ansible/hosts

Loading checks the shape only; the inventory is read, and the DUT reached, by
the runner before anything changes (remote/inventory.py, remote/ssh.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checks import Invalid

LOCAL = "local"
ROLES = ("tester", "dut")  # a step's `host` is one of these


@dataclass(frozen=True)
class Hosts:
    tester: str = LOCAL  # only "local": pktlab runs where the generator runs
    dut: str | None = None  # inventory host name; None: the DUT is this host
    inventory: str | None = None  # Ansible inventory file; relative paths are the scenario file's

    def check(self):
        if self.tester != LOCAL:
            raise Invalid("tester", f"{self.tester!r}: the tester is the host pktlab runs on (\"local\"); "
                                    "run pktlab on the generator's host")
        if self.dut is not None and (not self.dut or self.dut[0] == "-" or any(c.isspace() for c in self.dut)):
            raise Invalid("dut", f"{self.dut!r} is not an inventory host name")
        if self.dut == LOCAL:
            raise Invalid("dut", "leave dut out for a DUT on this host")
        if self.inventory is not None and self.dut is None:
            raise Invalid("inventory", "names an inventory, but no dut host to look up in it")
        if self.inventory == "":
            raise Invalid("inventory", "empty path")

    @property
    def remote(self) -> bool:
        return self.dut is not None

    def inventory_path(self, scenario_file: Path) -> str:
        from ..remote.inventory import default_inventory

        if self.inventory is None:
            return default_inventory()
        p = Path(self.inventory).expanduser()
        return str(p if p.is_absolute() else Path(scenario_file).parent / p)

    def dut_host(self, scenario_file: Path):
        """The DUT's remote.inventory.Host, read from the inventory, or None when the DUT is
        this host; ScenarioError naming hosts.dut (or hosts.inventory), the inventory and why."""
        if self.dut is None:
            return None
        from ..errors import ScenarioError
        from ..remote.inventory import InventoryError, load_host

        try:
            return load_host(self.dut, self.inventory_path(scenario_file))
        except InventoryError as e:  # the scenario's key that led there, then the inventory's own words
            raise ScenarioError(scenario_file, "hosts.dut" if e.host else "hosts.inventory", str(e)) from None
