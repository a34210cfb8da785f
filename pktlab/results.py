"""One JSON result per run per data path: what was measured, on what, and how.

A Result stores raw counts (TrialStats from the generator, counter deltas read from
the device under test); rates are derived. Loading validates every key and type so
that a hand-edited or truncated file fails with its name and the offending key,
not with a KeyError three modules later.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pktlab.errors import PktlabError
from pktlab.gen.stats import TrialStats
from pktlab.units import DEFAULT_LINK_SPEED, LineRate, parse_link_speed

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "not-run")


class ResultError(PktlabError):
    """A result file (or dict) that cannot be read: names the file, the key and the reason."""

    def __init__(self, file, key, reason):
        self.file, self.key, self.reason = (None if file is None else str(file)), key, reason
        super().__init__(": ".join(str(p) for p in (self.file, key, reason) if p))


@dataclass(frozen=True)
class Trial:
    """One trial: the generator's view and the DUT's own counters for the same window.

    counters are deltas over the trial per DUT interface, e.g.
    {"vhu0": {"rx_packets": 299980, "tx_packets": 299980, "rx_dropped": 0}}; they let a
    reader check the generator against the switch (a generator bug and a real drop
    look the same from the generator alone).
    """

    stats: TrialStats
    counters: dict[str, dict[str, int]]  # {} when the DUT has none to read
    counters_source: str  # where the counters came from, e.g. "ovsdb:Interface.statistics"

    def __post_init__(self):
        for iface, cs in self.counters.items():
            if not isinstance(iface, str) or not isinstance(cs, dict):
                raise ValueError(f"Trial.counters: {iface!r} must map an interface name to a dict")
            for name, n in cs.items():
                # negative is allowed: it means the DUT reset the counter mid-trial (a vhost
                # port reconnected), and is kept as read for the reader to see, not hidden
                if not isinstance(n, int) or isinstance(n, bool):
                    raise ValueError(f"Trial.counters[{iface!r}][{name!r}] = {n!r}: "
                                     "must be an integer delta")
        if self.counters and not self.counters_source:
            raise ValueError("Trial.counters_source: required when counters are given")
        # copy so that the caller mutating its dict cannot change a frozen Trial
        object.__setattr__(self, "counters", {i: dict(c) for i, c in self.counters.items()})

    def to_dict(self) -> dict:
        # flat: the generator's fields, then the DUT's, so one trial reads as one record
        return {**self.stats.to_dict(),
                "counters": {i: dict(self.counters[i]) for i in sorted(self.counters)},
                "counters_source": self.counters_source}

    @classmethod
    def from_dict(cls, d: dict, where: str = "trial") -> "Trial":
        _check_trial_stats(d, where)
        counters = _get(d, "counters", dict, where)
        for iface, cs in counters.items():
            _get(counters, iface, dict, f"{where}.counters")
            for name in cs:
                _get(cs, name, int, f"{where}.counters.{iface}")
        source = _get(d, "counters_source", str, where)
        return _build(cls, where, stats=TrialStats.from_dict(d), counters=counters,
                      counters_source=source)


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
                **({"nics": copy.deepcopy(self.nics)} if self.nics is not None else {})}

    @classmethod
    def from_dict(cls, d: dict, where: str = "provenance") -> "Provenance":
        kw = {k: _get(d, k, str, where)
              for k in ("host", "kernel", "cpu_model", "pktlab_version", "utc_time")}
        kw |= {k: _get(d, k, str, where, nullable=True)
               for k in ("dpdk_version", "ovs_version", "git_commit")}
        cores = _get(d, "cores_used", dict, where)
        for role in cores:
            for i, _ in enumerate(_get(cores, role, list, f"{where}.cores_used")):
                _get(cores[role], i, int, f"{where}.cores_used.{role}")
        return _build(cls, where, cores_used=cores,
                      numa_nodes=_get(d, "numa_nodes", int, where),
                      guest=_get(d, "guest", dict, where, nullable=True, required=False),
                      nics=_get(d, "nics", list, where, nullable=True, required=False), **kw)


@dataclass(frozen=True)
class Result:
    """One run of one data path of one scenario.

    status "not-run" (could not run on this host) and "failed" carry a reason and
    no made-up numbers; "ok" carries at least one trial.
    """

    schema_version: int
    scenario: dict  # the scenario as loaded, JSON-able; "name" names the result file
    datapath: str
    frame_size: int  # [B] on the wire incl. FCS, excl. preamble/IFG
    flows: int
    provenance: Provenance
    trials: tuple[Trial, ...] = ()
    status: str = "ok"
    reason: str | None = None
    # NDR/PDR search: goals, bounds and which trials did what (indices into trials); None for fixed-rate
    search: dict | None = None
    # what the rates are judged against: link speed x generator ports sending; None: assumed
    # from the scenario as results written before pktlab recorded it were measured
    line_rate: LineRate | None = None

    def __post_init__(self):
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"Result.schema_version = {self.schema_version!r}: "
                             f"this pktlab writes version {SCHEMA_VERSION}")
        name = self.scenario.get("name") if isinstance(self.scenario, dict) else None
        for what, v in (("scenario['name']", name), ("datapath", self.datapath)):
            # both end up in the file name
            if not isinstance(v, str) or not v or "/" in v or "\0" in v or v.startswith("."):
                raise ValueError(f"Result.{what} = {v!r}: "
                                 "must be a non-empty file-name-safe string")
        if self.frame_size < 64:
            raise ValueError(f"Result.frame_size = {self.frame_size}: Ethernet frames are >= 64 B")
        if self.flows < 1:
            raise ValueError(f"Result.flows = {self.flows}: must be >= 1")
        if self.status not in STATUSES:
            raise ValueError(f"Result.status = {self.status!r}: "
                             f"must be one of {', '.join(STATUSES)}")
        if self.status == "ok" and not self.trials:
            raise ValueError("Result: status 'ok' needs at least one trial")
        if self.status != "ok" and not self.reason:
            raise ValueError(f"Result: status {self.status!r} needs a reason")
        if self.status == "not-run" and self.trials:
            raise ValueError("Result: status 'not-run' cannot carry trials")
        try:  # fail here, not when the file is written at the end of a long run
            json.dumps(self.scenario, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Result.scenario: not JSON-able ({e})") from None
        object.__setattr__(self, "scenario", copy.deepcopy(self.scenario))
        object.__setattr__(self, "trials", tuple(self.trials))
        if self.line_rate is None:
            object.__setattr__(self, "line_rate", assumed_line_rate(self.scenario))
        elif not isinstance(self.line_rate, LineRate):
            raise ValueError(f"Result.line_rate = {self.line_rate!r}: must be a LineRate")

    @property
    def name(self) -> str:
        return self.scenario["name"]

    @property
    def best_rx_pps(self) -> float | None:
        """Highest received rate over the trials [pps], None without trials."""
        return max((t.stats.rx_pps for t in self.trials), default=None)

    def to_dict(self) -> dict:
        return {"schema_version": self.schema_version, "scenario": copy.deepcopy(self.scenario),
                "datapath": self.datapath, "frame_size": self.frame_size, "flows": self.flows,
                "status": self.status, "reason": self.reason,
                "provenance": self.provenance.to_dict(),
                "trials": [t.to_dict() for t in self.trials],
                "search": copy.deepcopy(self.search), "line_rate": self.line_rate.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        if not isinstance(d, dict):
            raise ResultError(None, None, f"expected a JSON object, got {type(d).__name__}")
        version = _get(d, "schema_version", int, "")
        if version != SCHEMA_VERSION:
            raise ResultError(None, "schema_version", f"version {version} is not known to this "
                              f"pktlab, which reads version {SCHEMA_VERSION}")
        trials = tuple(Trial.from_dict(_get(d["trials"], i, dict, "trials"), f"trials[{i}]")
                       for i in range(len(_get(d, "trials", list, ""))))
        return _build(cls, "", schema_version=version, scenario=_get(d, "scenario", dict, ""),
                      datapath=_get(d, "datapath", str, ""),
                      frame_size=_get(d, "frame_size", int, ""),
                      flows=_get(d, "flows", int, ""),
                      provenance=Provenance.from_dict(_get(d, "provenance", dict, "")),
                      trials=trials, status=_get(d, "status", str, ""),
                      reason=_get(d, "reason", str, "", nullable=True),
                      search=_get(d, "search", dict, "", nullable=True, required=False),
                      line_rate=_line_rate(_get(d, "line_rate", dict, "", nullable=True, required=False)))


def assumed_line_rate(scenario: dict) -> LineRate:
    """The line-rate basis of a result that does not record one (written before pktlab
    did): the ports its traffic.direction sent on, at its traffic.link_speed (10G unset)."""
    t = scenario.get("traffic") or {}
    ports = 1 if t.get("direction") == "unidirectional" else 2  # as streams_for sends
    try:
        bps = parse_link_speed(t.get("link_speed") or DEFAULT_LINK_SPEED)
    except ValueError:
        bps = parse_link_speed(DEFAULT_LINK_SPEED)
    return LineRate(bps, ports, "assumed: not recorded in the result")


def _line_rate(d: dict | None) -> LineRate | None:
    if d is None:
        return None
    where = "line_rate"
    return _build(LineRate, where, link_bps=_get(d, "link_speed_bps", float, where),
                  ports=_get(d, "sending_ports", int, where),
                  source=_get(d, "link_speed_source", str, where, required=False) or "")


def result_filename(result: Result) -> str:
    """<scenario name>-<datapath>-<UTC yyyymmddThhmmssZ>.json, the time being the run's."""
    return f"{result.name}-{result.datapath}-{result.provenance.time:%Y%m%dT%H%M%SZ}.json"


def write_result(result: Result, out_dir: Path) -> Path:
    """Write result as pretty JSON into out_dir (created), atomically; return the path.

    Never overwrites: a second result with the same name and second gets "-2", "-3"...
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = _dumps(result.to_dict()) + "\n"
    stem = result_filename(result)[:-len(".json")]
    path, n = out_dir / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = out_dir / f"{stem}-{n}.json"
    # temp file in the same directory so os.replace is a rename within one file system:
    # a reader sees either no file or the whole file, even after a crash
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(out_dir)  # make the rename itself durable
    return path


def load_result(path) -> Result:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ResultError(path, None, f"cannot read: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ResultError(path, None, f"not valid JSON: {e}") from None
    try:
        return Result.from_dict(data)
    except ResultError as e:
        raise ResultError(path, e.key, e.reason) from None


def load_results(paths) -> list[Result]:
    """Load each file; a directory stands for the *.json files in it, in name order."""
    files = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return [load_result(f) for f in files]


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               dict: "an object", list: "a list"}


def _get(d, key, kind, where: str, nullable: bool = False, required: bool = True):
    """d[key] checked against kind; ResultError naming <where>.<key> otherwise."""
    name = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key
    if isinstance(d, dict) and key not in d:
        if required:
            raise ResultError(None, name, "missing")
        return None
    v = d[key]
    if v is None and nullable:
        return None
    ok = (isinstance(v, (int, float)) if kind is float else isinstance(v, kind))
    if ok and kind is not bool and isinstance(v, bool):  # JSON true is not 1 here
        ok = False
    if not ok:
        got = "null" if v is None else type(v).__name__
        raise ResultError(None, name, f"expected {_TYPE_NAMES[kind]}"
                          f"{' or null' if nullable else ''}, got {got}")
    return v


def _check_trial_stats(d: dict, where: str) -> None:
    """Type-check what TrialStats.from_dict reads, so errors name the key."""
    _get(d, "offered_pps", float, where, nullable=True)
    for k in ("duration_s", "elapsed_s"):
        _get(d, k, float, where)
    for k in ("tx_packets", "rx_packets", "lost", "duplicates", "reordered"):
        _get(d, k, int, where)
    _get(d, "tx_dropped", int, where, required=False)
    _get(d, "interrupted", bool, where, required=False)
    lat = _get(d, "latency", dict, where, nullable=True)
    if lat is not None:
        for k in ("min_ns", "avg_ns", "p50_ns", "p99_ns", "max_ns"):
            _get(lat, k, float, f"{where}.latency")
    hist = _get(d, "latency_histogram", list, where, required=False) or []
    for i, b in enumerate(hist):
        if not (isinstance(b, list) and len(b) == 2):
            raise ResultError(None, f"{where}.latency_histogram[{i}]",
                              "expected [upper_ns, frames]")
        _get(b, 0, float, f"{where}.latency_histogram[{i}]")
        _get(b, 1, int, f"{where}.latency_histogram[{i}]")
    ports = _get(d, "ports", list, where, required=False) or []
    for i in range(len(ports)):
        p = _get(ports, i, dict, f"{where}.ports")
        _get(p, "name", str, f"{where}.ports[{i}]")
        for k in ("tx_packets", "rx_packets"):
            _get(p, k, int, f"{where}.ports[{i}]")
        _get(p, "rx_foreign", int, f"{where}.ports[{i}]", required=False)
        _get(p, "rx_missed", int, f"{where}.ports[{i}]", required=False)


def _build(cls, where: str, **kw):
    """cls(**kw), turning a validation ValueError into a ResultError naming the object."""
    try:
        return cls(**kw)
    except ValueError as e:
        raise ResultError(None, where or None, str(e)) from None


def _dumps(v, indent: str = "") -> str:
    """JSON, one key per line, but a list of scalars on one line: a histogram bucket or
    a core list reads as [2048.0, 250000], not as four lines."""
    inner = indent + "  "
    if isinstance(v, dict) and v:
        items = (f"{inner}{json.dumps(str(k))}: {_dumps(x, inner)}" for k, x in v.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(v, (list, tuple)) and any(isinstance(x, (dict, list, tuple)) for x in v):
        return "[\n" + ",\n".join(inner + _dumps(x, inner) for x in v) + f"\n{indent}]"
    # allow_nan=False: NaN/Infinity are not JSON; jq or a browser would reject the file
    return json.dumps(v, allow_nan=False)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not every platform/file system lets a directory be opened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
