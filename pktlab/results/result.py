"""A Result: one run of one data path of one scenario, what was measured, on what, and how.

A Result stores raw counts (TrialStats from the generator, counter deltas read from
the device under test); rates are derived. Loading validates every key and type so
that a hand-edited or truncated file fails with its name and the offending key,
not with a KeyError three modules later.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from pktlab.units import DEFAULT_LINK_SPEED, LineRate, parse_link_speed

from .fields import ResultError, build, get
from .back_to_back import BackToBackRecord
from .provenance import Provenance
from .search import SearchRecord
from .soak import SoakRecord
from .trial import Trial

SCHEMA_VERSION = 1
# interrupted: Ctrl-C or SIGTERM in a soak, whose intervals measured until then are kept
STATUSES = ("ok", "failed", "not-run", "interrupted")


@dataclass(frozen=True)
class Result:
    """One run of one data path of one scenario.

    status "not-run" (could not run on this host) and "failed" carry a reason and
    no made-up numbers; "ok" carries at least one trial; "interrupted" (a soak
    stopped by Ctrl-C) a reason and what was measured until then.
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
    search: SearchRecord | None = None
    # what the rates are judged against: link speed x generator ports sending; None: assumed
    # from the scenario as results written before pktlab recorded it were measured
    line_rate: LineRate | None = None
    soak: SoakRecord | None = None  # method "soak": the intervals file and what it adds up to
    back_to_back: BackToBackRecord | None = None  # method "back-to-back": the burst searches

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
        if self.search is not None:
            if not isinstance(self.search, SearchRecord):
                raise ValueError(f"Result.search: must be a SearchRecord, not {type(self.search).__name__}")
            self.search.check_trials(len(self.trials))
        for key, kind in (("soak", SoakRecord), ("back_to_back", BackToBackRecord)):
            v = getattr(self, key)
            if v is not None and not isinstance(v, kind):
                raise ValueError(f"Result.{key}: must be a {kind.__name__}, not {type(v).__name__}")
        if self.soak is not None and self.soak.trial is not None and not 0 <= self.soak.trial < len(self.trials):
            raise ValueError(f"Result.soak.trial = {self.soak.trial}: the result has {len(self.trials)} trials")
        if self.back_to_back is not None:
            self.back_to_back.check_trials(len(self.trials))
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
                "search": None if self.search is None else self.search.to_dict(), "line_rate": self.line_rate.to_dict(),
                **{k: getattr(self, k).to_dict() for k in ("soak", "back_to_back") if getattr(self, k) is not None}}

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        if not isinstance(d, dict):
            raise ResultError(None, None, f"expected a JSON object, got {type(d).__name__}")
        version = get(d, "schema_version", int, "")
        if version != SCHEMA_VERSION:
            raise ResultError(None, "schema_version", f"version {version} is not known to this "
                              f"pktlab, which reads version {SCHEMA_VERSION}")
        trials = tuple(Trial.from_dict(get(d["trials"], i, dict, "trials"), f"trials[{i}]")
                       for i in range(len(get(d, "trials", list, ""))))
        return build(cls, "", schema_version=version, scenario=get(d, "scenario", dict, ""),
                      datapath=get(d, "datapath", str, ""),
                      frame_size=get(d, "frame_size", int, ""),
                      flows=get(d, "flows", int, ""),
                      provenance=Provenance.from_dict(get(d, "provenance", dict, "")),
                      trials=trials, status=get(d, "status", str, ""),
                      reason=get(d, "reason", str, "", nullable=True),
                      search=_search(get(d, "search", dict, "", nullable=True, required=False)),
                      line_rate=_line_rate(get(d, "line_rate", dict, "", nullable=True, required=False)),
                      soak=_opt(SoakRecord, get(d, "soak", dict, "", nullable=True, required=False), "soak"),
                      back_to_back=_opt(BackToBackRecord, get(d, "back_to_back", dict, "", nullable=True,
                                                              required=False), "back_to_back"))


def method_fields(record) -> dict:
    """The Result keyword a method's record goes in: search, soak or back_to_back (None: none)."""
    for key, kind in (("search", SearchRecord), ("soak", SoakRecord), ("back_to_back", BackToBackRecord)):
        if isinstance(record, kind):
            return {key: record}
    if record is not None:
        raise ValueError(f"no Result field holds a {type(record).__name__}")
    return {}


def _opt(kind, d: dict | None, where: str):
    return None if d is None else kind.from_dict(d, where)


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


def _search(d: dict | None) -> SearchRecord | None:
    return None if d is None else SearchRecord.from_dict(d)


def _line_rate(d: dict | None) -> LineRate | None:
    if d is None:
        return None
    where = "line_rate"
    return build(LineRate, where, link_bps=get(d, "link_speed_bps", float, where),
                  ports=get(d, "sending_ports", int, where),
                  source=get(d, "link_speed_source", str, where, required=False) or "")
