"""Scenario files: TOML in, frozen validated dataclasses out.

  checks.py  the error a table's check() raises, shared name and address rules, frame limits
  tables.py  the scenario's own tables: [hugepages], [cpu], [traffic], [method]
  loader.py  load(): the file, its [scenario] head and [[datapath]] entries, validated

Each data path kind's options table is declared next to its data path
(pktlab/datapaths, e.g. datapaths.kernel.VethOptions); datapaths.KINDS is the one
registry of kinds.
"""
from .checks import AFXDP_MAX_FRAME, HUGEPAGE_SIZES_KB, IMIX, IMIX_MEAN, MAX_FRAME, MIN_FRAME, Invalid
from .loader import DatapathEntry, Scenario, load, load_table
from .tables import Cpu, Hugepages, Method, Traffic

__all__ = ["AFXDP_MAX_FRAME", "HUGEPAGE_SIZES_KB", "IMIX", "IMIX_MEAN", "MAX_FRAME", "MIN_FRAME", "Invalid",
           "DatapathEntry", "Scenario", "load", "load_table", "Cpu", "Hugepages", "Method", "Traffic"]
