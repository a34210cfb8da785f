"""Tools for analysts: latency percentiles, CSV export, comparisons, charts and HTML reports.

    results = load_results(["results/"])
    c = compare(results, baseline=load_results(["baseline/"]), tolerance=0.05)
    print(format_comparison(c))
    save_figure(frame_size_figure(c), "sizes.png")
    write_report(results, "report.html", baseline=...)
    write_csv(results, "trials.csv")

Every figure lives in charts.py, the only module here that imports matplotlib; the
charts and the report are loaded when first named, so importing the numbers
(compare, export, latency) does not load matplotlib.
"""
from .compare import (Comparison, PathLatency, PathRate, Verdict, compare, format_comparison,
                      judge, label, search_of)
from .export import CSV_COLUMNS, to_csv, trial_rows, write_csv
from .latency import (LatencyPercentiles, decode_histogram, encode_histogram,
                      histogram_from_buckets, merge, percentiles, trial_histogram,
                      trial_percentiles)

_LAZY = {"bars_64b": "charts", "figure_64b": "charts", "frame_size_figure": "charts",
         "latency_figure": "charts", "plot_results": "charts", "save_figure": "charts", "soak_figure": "charts",
         "speedup": "charts", "render_report": "report", "write_report": "report"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CSV_COLUMNS", "Comparison", "LatencyPercentiles", "PathLatency", "PathRate", "Verdict",
           "bars_64b", "compare", "decode_histogram", "encode_histogram", "figure_64b",
           "format_comparison", "frame_size_figure", "histogram_from_buckets", "judge", "label",
           "latency_figure", "merge", "percentiles", "plot_results", "render_report",
           "save_figure", "search_of", "soak_figure", "speedup", "to_csv", "trial_histogram",
           "trial_percentiles", "trial_rows", "write_csv", "write_report"]
