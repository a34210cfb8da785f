"""One JSON result per run per data path: what was measured, on what, and how.

A Result stores raw counts (TrialStats from the generator, counter deltas read from
the device under test); rates are derived. Loading validates every key and type so
that a hand-edited or truncated file fails with its name and the offending key,
not with a KeyError three modules later.

  fields.py      reading JSON key by key; ResultError
  trial.py       Trial: the generator's counts and the DUT's counters of one trial
  provenance.py  Provenance: host, versions, cores, NICs, guest
  search.py      SearchRecord: what a search looked for, found, and which trial was what
  soak.py        SoakRecord, SoakInterval: a soak and its intervals file
  back_to_back.py BackToBackRecord: RFC 2544 back-to-back burst searches
  result.py      Result: one data path's run
  files.py       writing and loading result files
"""
from .fields import ResultError
from .files import load_result, load_results, result_filename, write_result
from .provenance import Provenance
from .back_to_back import BackToBackRecord, BurstSearch
from .result import SCHEMA_VERSION, STATUSES, Result, assumed_line_rate, method_fields
from .soak import SoakInterval, SoakRecord, load_intervals
from .search import GoalRecord, GoalSpec, LatencyRecord, ProbeRecord, SearchRecord
from .trial import Trial

__all__ = ["ResultError", "load_result", "load_results", "result_filename", "write_result", "Provenance",
           "SCHEMA_VERSION", "STATUSES", "Result", "assumed_line_rate", "GoalRecord", "GoalSpec",
           "LatencyRecord", "ProbeRecord", "SearchRecord", "Trial", "BackToBackRecord", "BurstSearch",
           "method_fields", "SoakInterval", "SoakRecord", "load_intervals"]
