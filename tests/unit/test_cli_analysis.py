"""pktlab compare / report / export / plot on result files written by write_result."""
from __future__ import annotations

import csv

from pktlab import cli
from pktlab.results import write_result
from tests.unit.test_analysis_compare import result


def files(tmp_path, *results):
    return [str(write_result(r, tmp_path / "res")) for r in results]


def test_compare_prints_a_table_and_exits_1_on_a_regression(tmp_path, capsys):
    base = files(tmp_path / "b", result("ovs-dpdk", 10.0), result("linux-bridge", 0.4))
    now = files(tmp_path / "n", result("ovs-dpdk", 8.0), result("linux-bridge", 0.41))
    assert cli.main(["compare", *now, "--baseline", *base, "--charts", str(tmp_path / "charts")]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "ovs-dpdk" in out and "-20.0 %" in out
    assert (tmp_path / "charts" / "compare-frame-size.png").stat().st_size > 1000
    assert cli.main(["compare", *now, "--baseline", *now]) == 0


def test_report_writes_one_self_contained_html(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert cli.main(["report", *files(tmp_path, result("ovs-dpdk", 10.0)), "-o", str(out)]) == 0
    html = out.read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html and "lab1" in html


def test_export_writes_one_csv_row_per_trial(tmp_path):
    out = tmp_path / "t.csv"
    assert cli.main(["export", *files(tmp_path, result("ovs-dpdk", 10.0, 5.0)), "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and {r["datapath"] for r in rows} == {"ovs-dpdk"}


def test_plot_draws_the_64b_chart(tmp_path):
    out = tmp_path / "c.png"
    assert cli.main(["plot", *files(tmp_path, result("ovs-dpdk", 10.0), result("linux-bridge", 0.4)),
                     "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_an_emulated_guest_is_named_so_in_the_comparison_table(tmp_path, capsys):
    import dataclasses

    r = result("pvp-bridge", 0.04)
    emulated = dataclasses.replace(r, provenance=dataclasses.replace(
        r.provenance, guest={"accel": {"name": "tcg", "emulated": True}}))
    assert cli.main(["compare", *files(tmp_path, emulated)]) == 0
    assert "pvp-bridge [emulated]" in capsys.readouterr().out
