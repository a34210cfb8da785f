import csv
import io

import pytest

from pktlab.analysis import CSV_COLUMNS, to_csv, trial_rows, write_csv

from .test_analysis_compare import result, stats


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_one_row_per_trial_with_columns_and_values():
    results = [result("ovs-dpdk-vhost", stats(11.0, lost=1100, offered=11.2e6), 9.0),
               result("veth", stats(0.5, latency=False), frame_size=128),
               result("ovs-kernel", status="not-run", reason="no module")]
    text = to_csv(results)
    header = text.splitlines()[0].split(",")
    assert header[:len(CSV_COLUMNS)] == list(CSV_COLUMNS)
    assert header[len(CSV_COLUMNS):] == ["dut_rx_packets", "dut_tx_packets", "dut_rx_dropped",
                                         "dut_tx_dropped"]
    rows = rows_of(text)
    assert len(rows) == 3  # the not-run result has no trials
    r = rows[0]
    assert r["run"] == "loopback-ovs-dpdk-vhost-20251121T090000Z"
    assert (r["scenario"], r["datapath"], r["frame_size"], r["flows"], r["trial"]) == \
           ("loopback", "ovs-dpdk-vhost", "64", "1", "0")
    assert float(r["offered_pps"]) == 11.2e6
    assert int(r["tx_packets"]) == 11_001_100 and int(r["lost"]) == 1100
    assert float(r["rx_pps"]) == 11e6 and float(r["tx_pps"]) == 11_001_100
    assert float(r["loss_ratio"]) == pytest.approx(1100 / 11_001_100)
    assert (float(r["link_speed_bps"]), r["sending_ports"]) == (10e9, "2")  # rx_pps is of both ports
    assert float(r["lat_min_ns"]) == 900.0 and float(r["lat_max_ns"]) == 900_000.0
    assert 1000 <= float(r["lat_p50_ns"]) <= 1001 and 5000 <= float(r["lat_p99_ns"]) <= 5005
    # DUT counters summed over vhu0 and vhu1, per direction
    assert (r["dut_rx_packets"], r["dut_tx_packets"], r["dut_rx_dropped"], r["dut_tx_dropped"]) \
        == ("190", "190", "1", "2")
    assert rows[1]["offered_pps"] == "max" and rows[1]["trial"] == "1"
    assert rows[2]["lat_p50_ns"] == "" and rows[2]["frame_size"] == "128"
    assert rows[0]["search_phase"] == "" and rows[0]["generator_limited"] == ""


def test_search_columns_and_extra_counters(tmp_path):
    r = result("dp", 1.0, 2.0, ndr=1.0e6)
    rows = trial_rows([r])
    assert [(x["search_phase"], x["generator_limited"]) for x in rows] == \
           [("search", "true"), ("search", "false")]
    path = write_csv([r], tmp_path / "out" / "trials.csv")
    assert rows_of(path.read_text())[0]["generator_limited"] == "true"


def test_write_to_a_stream():
    buf = io.StringIO()
    assert write_csv([result("dp", 1.0)], buf) is None
    assert buf.getvalue().startswith("run,scenario,datapath,")
