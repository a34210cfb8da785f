"""Hosts from a lab's Ansible inventory (YAML or INI), read with Ansible's own parser.

A lab already keeps its servers in an inventory; `host("compute-3", "lab.yml")`
turns one entry into a frozen, validated Host: where to reach it and how
(user, port, identity file, jump hosts), the variables an Ansible SSH
connection would use. ansible-core is imported only when an inventory is read.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import HostError

# Only the static formats: an executable inventory ("script") would run code at parse time.
ENABLED_PLUGINS = ["yaml", "ini"]
# Ansible's variable names, new spelling first (the ansible_ssh_* ones are its older aliases).
ADDRESS, USER, PORT = ("ansible_host", "ansible_ssh_host"), ("ansible_user", "ansible_ssh_user"), \
    ("ansible_port", "ansible_ssh_port")
IDENTITY = ("ansible_ssh_private_key_file", "ansible_private_key_file")
SSH_ARGS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")


class InventoryError(HostError):
    """An inventory that cannot be read, or a host it does not describe well: names the
    inventory file, the host and the reason."""

    def __init__(self, file, host, reason):
        self.file, self.host, self.reason = str(file), host, reason
        super().__init__(f"{self.file}: {host}: {reason}" if host else f"{self.file}: {reason}")


@dataclass(frozen=True)
class Host:
    """One server of the lab, as an SSH connection reaches it."""
    name: str  # the inventory's name for it
    address: str  # what ssh connects to (ansible_host; default: the name)
    user: str | None = None  # ansible_user; None: ssh's own default (ssh config, then the local user)
    port: int = 22
    identity_file: str | None = None  # ansible_ssh_private_key_file
    ssh_args: tuple[str, ...] = ()  # ansible_ssh_common_args + extra_args, passed to OpenSSH as given
    inventory: str | None = None  # the file it came from
    pktlab: str = "pktlab"  # pktlab_command: how to run pktlab there (e.g. a venv's bin/pktlab)

    def __post_init__(self):
        self.validate()

    def validate(self):
        where = self.inventory or "host"
        for key, value in (("name", self.name), ("ansible_host", self.address), ("ansible_user", self.user)):
            if value is None and key == "ansible_user":
                continue
            if not value or not isinstance(value, str) or any(c.isspace() for c in value) or value[0] == "-":
                # A leading "-" would reach ssh as an option.
                raise InventoryError(where, self.name, f"{key}: {value!r} is not a host or user name")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise InventoryError(where, self.name, f"ansible_port: {self.port!r} is not a TCP port (1-65535)")
        if not self.pktlab or self.pktlab[0] == "-":
            raise InventoryError(where, self.name, f"pktlab_command: {self.pktlab!r} is not a command")
        if self.identity_file is not None and not self.identity_file:
            raise InventoryError(where, self.name, "ansible_ssh_private_key_file: empty")

    @property
    def jump(self) -> str | None:
        """The jump host(s) of -o ProxyJump=... or -J ..., if the inventory names any."""
        args = list(self.ssh_args)
        for i, a in enumerate(args):
            if a == "-J" and i + 1 < len(args):
                return args[i + 1]
            if a == "-o" and i + 1 < len(args) and args[i + 1].lower().startswith("proxyjump="):
                return args[i + 1].split("=", 1)[1]
            if a.lower().startswith("-oproxyjump="):
                return a.split("=", 1)[1]
        return None

    def __str__(self):
        where = f"{self.user + '@' if self.user else ''}{self.address}:{self.port}"
        return f"{self.name} ({where}{', via ' + self.jump if self.jump else ''})"


def _first(hvars: dict, names):
    return next((hvars[n] for n in names if hvars.get(n) not in (None, "")), None)


def host_from_vars(name: str, hvars: dict, inventory: str | None = None) -> Host:
    """A Host from one host's Ansible variables (host and group variables merged)."""
    where = inventory or "host"
    for k, v in hvars.items():
        if k.startswith("ansible_") and isinstance(v, str) and "{{" in v:
            raise InventoryError(where, name, f"{k}: templated values ({v!r}) are not supported; "
                                              "write the value itself")
    port = _first(hvars, PORT)
    try:
        port = 22 if port is None else int(port)
    except (TypeError, ValueError):
        raise InventoryError(where, name, f"ansible_port: {port!r} is not a TCP port (1-65535)") from None
    ssh_args: list[str] = []
    for key in SSH_ARGS:
        value = hvars.get(key)
        if value:
            try:
                ssh_args += shlex.split(str(value))
            except ValueError as e:
                raise InventoryError(where, name, f"{key}: {e}") from None
    address, user, identity = _first(hvars, ADDRESS), _first(hvars, USER), _first(hvars, IDENTITY)
    return Host(name=name, address=str(address) if address is not None else name,
                user=None if user is None else str(user), port=port,
                identity_file=None if identity is None else str(Path(str(identity)).expanduser()),
                ssh_args=tuple(ssh_args), inventory=inventory,
                pktlab=str(hvars.get("pktlab_command") or "pktlab"))


def default_inventory() -> str:
    """Ansible's own default: $ANSIBLE_INVENTORY (its first entry), else /etc/ansible/hosts."""
    env = os.environ.get("ANSIBLE_INVENTORY", "").split(",")[0].strip()
    return env or "/etc/ansible/hosts"


def load_host(name: str, inventory: str | Path) -> Host:
    """The Host `name` of an Ansible inventory file (YAML or INI)."""
    path = Path(inventory)
    if not path.is_file():
        raise InventoryError(path, None, "no such inventory file")
    hvars = _ansible_vars(name, path)
    return host_from_vars(name, hvars, str(path))


def _ansible_vars(name: str, path: Path) -> dict:
    import ansible.constants as C  # heavy: only when an inventory is read
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    saved = C.INVENTORY_ENABLED, C.INVENTORY_UNPARSED_IS_FAILED, C.INVENTORY_ANY_UNPARSED_IS_FAILED
    C.INVENTORY_ENABLED, C.INVENTORY_UNPARSED_IS_FAILED, C.INVENTORY_ANY_UNPARSED_IS_FAILED = \
        ENABLED_PLUGINS, True, True
    try:
        loader = DataLoader()
        inv = InventoryManager(loader=loader, sources=[str(path)])
        host = inv.get_host(name)
        if host is None or host.implicit:
            known = sorted(h.name for h in inv.get_hosts())
            raise InventoryError(path, name, "no such host in the inventory"
                                 + (f" (it has: {', '.join(known)})" if known else " (it has no hosts)"))
        hvars = VariableManager(loader=loader, inventory=inv).get_vars(host=host, include_hostvars=False)
    except AnsibleError as e:
        reason = " ".join(str(e).split())
        raise InventoryError(path, None, f"not a YAML or INI Ansible inventory: {reason}") from None
    finally:
        C.INVENTORY_ENABLED, C.INVENTORY_UNPARSED_IS_FAILED, C.INVENTORY_ANY_UNPARSED_IS_FAILED = saved
    return {k: v for k, v in hvars.items() if k.startswith("ansible_") or k == "pktlab_command"}
