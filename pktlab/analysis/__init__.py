"""Tools for analysts: latency percentiles, CSV export, comparisons and HTML reports.

    results = load_results(["results/"])
    c = compare(results, baseline=load_results(["baseline/"]), tolerance=0.05)
    print(format_comparison(c))
    write_report(results, "report.html", baseline=...)
    write_csv(results, "trials.csv")
"""
from .compare import (LINK_BPS, Comparison, PathLatency, PathRate, Verdict, compare,
                      format_comparison, frame_size_figure, judge, latency_figure, save_figure,
                      search_of)
from .export import CSV_COLUMNS, to_csv, trial_rows, write_csv
from .latency import (LatencyPercentiles, decode_histogram, encode_histogram,
                      histogram_from_buckets, merge, percentiles, trial_histogram,
                      trial_percentiles)
from .report import render_report, write_report

__all__ = ["CSV_COLUMNS", "LINK_BPS", "Comparison", "LatencyPercentiles", "PathLatency",
           "PathRate", "Verdict", "compare", "decode_histogram", "encode_histogram",
           "format_comparison", "frame_size_figure", "histogram_from_buckets", "judge",
           "latency_figure", "merge", "percentiles", "render_report", "save_figure",
           "search_of", "to_csv", "trial_histogram", "trial_percentiles", "trial_rows",
           "write_csv", "write_report"]
