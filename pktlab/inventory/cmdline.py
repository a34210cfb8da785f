"""The kernel command line, and which cores it isolates from the scheduler.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .attrs import parse_cpulist


@dataclass(frozen=True)
class Cmdline:
    """/proc/cmdline as (key, value) pairs, in order; value None for a bare flag.
    Arguments after " -- " go to init, not the kernel, and are left out."""

    raw: str
    params: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, raw: str) -> "Cmdline":
        params = []
        for tok in raw.split():
            if tok == "--":
                break
            key, eq, value = tok.partition("=")
            params.append((key, value.strip('"') if eq else None))
        return cls(raw.strip(), tuple(params))

    def get(self, key: str) -> str | None:
        """The last value given for `key` (the kernel takes the last), "" for a bare flag, None if absent."""
        found = None
        for k, v in self.params:
            if k == key:
                found = "" if v is None else v
        return found

    def all(self, key: str) -> list[str]:
        return ["" if v is None else v for k, v in self.params if k == key]

    def cpus(self, key: str, nr_cpus: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """(CPUs, flags) of isolcpus=/nohz_full=/rcu_nocbs=. isolcpus takes flags before
        its list ("isolcpus=nohz,domain,managed_irq,2-7"); a bare rcu_nocbs means all CPUs."""
        value = self.get(key)
        if value is None:
            return (), ()
        if value == "":
            return (tuple(range(nr_cpus)) if key == "rcu_nocbs" else ()), ()
        flags = []
        parts = value.split(",")
        while parts and re.fullmatch(r"[a-z_]+", parts[0]) and parts[0] not in ("all",):
            flags.append(parts.pop(0))
        try:
            return parse_cpulist(",".join(parts), nr_cpus), tuple(flags)
        except ValueError:
            return (), tuple(flags)


@dataclass(frozen=True)
class Isolation:
    """Which CPUs the kernel keeps other work off. isolcpus/nohz_full/rcu_nocbs as booted;
    kernel_isolated is /sys/devices/system/cpu/isolated (what the kernel applied)."""

    isolcpus: tuple[int, ...]
    isolcpus_flags: tuple[str, ...]
    nohz_full: tuple[int, ...]
    rcu_nocbs: tuple[int, ...]
    kernel_isolated: tuple[int, ...]

    @property
    def isolated(self) -> frozenset[int]:
        return frozenset(self.isolcpus) | frozenset(self.kernel_isolated)

    def missing(self, cpu: int) -> list[str]:
        """The isolation parameters `cpu` is not in ([] if fully isolated)."""
        out = [] if cpu in self.isolated else ["isolcpus"]
        out += [] if cpu in self.nohz_full else ["nohz_full"]
        out += [] if cpu in self.rcu_nocbs else ["rcu_nocbs"]
        return out
