"""Scenario files: TOML in, frozen validated dataclasses out.

Every table is declared once as a dataclass; `load_table` checks unknown keys,
missing keys and types against it, and each class's `check()` adds the rules
that types cannot say. Every error names the file, the dotted key and the
reason, and is raised before anything on the host is touched.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ScenarioError
from .checks import IMIX_MEAN, LABEL, Invalid
from .hosts import Hosts
from .tables import Cpu, Hugepages, Method, Traffic


@dataclass(frozen=True)
class DatapathEntry:
    """One [[datapath]] table: its kind, its label and its options (the kind's Options)."""

    kind: str
    name: str  # label in results and charts
    options: typing.Any  # the kind's option dataclass


@dataclass(frozen=True)
class Scenario:
    file: Path
    name: str
    description: str
    hugepages: Hugepages | None  # only data paths that use DPDK need them
    cpu: Cpu
    traffic: Traffic
    method: Method
    datapaths: tuple[DatapathEntry, ...]
    raw: dict = field(repr=False, compare=False)  # the TOML as read, for results
    hosts: Hosts = Hosts()  # [hosts]: the tester (local) and the DUT's host

    def at_size(self, size: int | str) -> "Scenario":
        """This scenario at one frame size of its sweep ("imix": the mix, named by its mean)."""
        imix = size == "imix"
        return dataclasses.replace(self, traffic=dataclasses.replace(
            self.traffic, frame_size=IMIX_MEAN if imix else size, frame_sizes=(), imix=imix))

    def as_dict(self) -> dict:
        """The scenario as loaded (defaults filled in), JSON-able, for results."""

        def plain(v):
            if dataclasses.is_dataclass(v):
                return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
            if isinstance(v, (tuple, list)):
                return [plain(x) for x in v]
            return str(v) if isinstance(v, Path) else v

        d = plain(self)
        d.pop("raw")
        return d


def _type_ok(value, tp) -> bool:
    """Does a TOML value fit a dataclass field type? (bool is not an int here.)"""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if origin is tuple:
        (item, _) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, tp.__name__)


def load_table(cls, table, file: Path, prefix: str):
    """Build `cls` from a TOML table, or raise ScenarioError naming file and key."""
    if not isinstance(table, dict):
        raise ScenarioError(file, prefix, "must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            moved = getattr(cls, "MOVED", {}).get(key)
            raise ScenarioError(file, f"{prefix}.{key}", f"unknown key (known keys: {known})"
                                + (f"; it moved to {moved}" if moved else ""))
    kwargs = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ScenarioError(file, f"{prefix}.{name}", "missing (required)")
            continue
        value = table[name]
        if not _type_ok(value, hints[name]):
            raise ScenarioError(file, f"{prefix}.{name}",
                                f"must be {_type_name(hints[name])}, not {type(value).__name__} {value!r}")
        kwargs[name] = tuple(value) if isinstance(value, list) else value
    obj = cls(**kwargs)
    try:
        obj.check()
    except Invalid as e:
        raise ScenarioError(file, f"{prefix}.{e.key}", e.reason) from None
    return obj


_TOP = {"scenario", "hugepages", "cpu", "traffic", "method", "datapath", "hosts"}


def load(path) -> Scenario:
    """Read and validate a scenario file."""
    from ..datapaths import KINDS  # each kind's options live with its data path

    file = Path(path)
    try:
        with open(file, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError(file, None, "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(file, None, "is a directory, not a scenario file") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(file, None, f"not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(file, None, f"not UTF-8 text (a TOML file must be): byte {e.start} "
                                        f"is {e.object[e.start:e.start + 1]!r}") from None

    for key in raw:
        if key not in _TOP:
            raise ScenarioError(file, key, f"unknown table (known: {', '.join(sorted(_TOP))})")
    for key in ("scenario", "datapath"):
        if key not in raw:
            raise ScenarioError(file, key, "missing (required)")

    head = raw["scenario"]
    if not isinstance(head, dict):
        raise ScenarioError(file, "scenario", "must be a table")
    for key in head:
        if key not in ("name", "description"):
            raise ScenarioError(file, f"scenario.{key}", "unknown key (known keys: description, name)")
    name = head.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ScenarioError(file, "scenario.name", "required: letters, digits, '_', '.' or '-' (used in file names)")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(file, "scenario.description", "must be a string")

    entries = raw["datapath"]
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(file, "datapath", "must be one or more [[datapath]] tables")
    datapaths = []
    for i, entry in enumerate(entries):
        where = f"datapath[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(file, where, "must be a table")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ScenarioError(file, f"{where}.kind",
                                f"unknown data path {kind!r} (known: {', '.join(sorted(KINDS))})")
        label = entry.get("name", kind)
        if not isinstance(label, str) or not LABEL.fullmatch(label) or ".." in label:
            raise ScenarioError(file, f"{where}.name", f"{label!r} is not a safe file name: up to 64 letters, "
                                                       "digits, spaces, '_', '.', '+' or '-', starting with a "
                                                       "letter or digit, no '..' (it names the result file)")
        options = {k: v for k, v in entry.items() if k not in ("kind", "name")}
        datapaths.append(DatapathEntry(kind, label, load_table(KINDS[kind].Options, options, file, where)))
    labels = [d.name for d in datapaths]
    if len(set(labels)) != len(labels):
        raise ScenarioError(file, "datapath", f"data path names must be unique: {labels}")

    cpu = load_table(Cpu, raw.get("cpu", {}), file, "cpu")
    loopback = [d.kind for d in datapaths if not KINDS[d.kind].lab]
    if loopback and cpu.generator is None:
        raise ScenarioError(file, "cpu.generator", f"missing: data path kind {loopback[0]} runs the generator "
                                                   "on the core named here (only lab paths place it themselves)")
    traffic = load_table(Traffic, raw.get("traffic", {}), file, "traffic")
    for i, d in enumerate(datapaths):
        limit, why = getattr(d.options, "frame_limit", lambda: (None, ""))()
        if limit is not None and traffic.max_frame > limit:
            raise ScenarioError(file, "traffic.frame_size" if not traffic.frame_sizes else "traffic.frame_sizes",
                                f"{traffic.max_frame}-byte frames do not fit data path {d.name!r}: {why}")
        # each flow is sent by one generator loop: fewer flows than loops leave a loop idle
        lab = KINDS[d.kind].lab
        if lab and d.options.gen_lcores > traffic.flows:
            raise ScenarioError(file, f"datapath[{i}].gen_lcores",
                                f"{d.options.gen_lcores} generator lcores need at least as many flows "
                                f"(traffic.flows is {traffic.flows}): each flow is sent by one lcore")
        if lab and cpu.generator is not None and d.options.gen_lcores != 1:
            raise ScenarioError(file, f"datapath[{i}].gen_lcores",
                                f"cpu.generator pins one generator lcore, gen_lcores asks {d.options.gen_lcores}; "
                                "leave cpu.generator out to have them placed")
    hosts = load_table(Hosts, raw.get("hosts", {}), file, "hosts")
    for i, d in enumerate(datapaths):
        if hosts.remote and not KINDS[d.kind].two_hosts:
            two = ", ".join(sorted(k for k, c in KINDS.items() if c.two_hosts))
            raise ScenarioError(file, f"datapath[{i}].kind", f"{d.kind} runs on one host; with [hosts].dut "
                                                             f"(the DUT on {hosts.dut}) use {two}")
        if getattr(d.options, "reads_dut", False) and not hosts.remote:
            raise ScenarioError(file, f"datapath[{i}].counters",
                                f"{d.options.counters!r} counters are read over SSH from the DUT: name its host "
                                "in [hosts] (dut = \"<inventory name>\", inventory = \"<file>\")")
    return Scenario(
        hosts=hosts,
        file=file,
        name=name,
        description=description,
        hugepages=load_table(Hugepages, raw["hugepages"], file, "hugepages") if "hugepages" in raw else None,
        cpu=cpu,
        traffic=traffic,
        method=load_table(Method, raw.get("method", {}), file, "method"),
        datapaths=tuple(datapaths),
        raw=raw,
    )
