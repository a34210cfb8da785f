import base64
import re

from pktlab.analysis import render_report, write_report

from .test_analysis_compare import PNG_SIGNATURE, result, stats


def runs():
    return [result("ovs-dpdk-vhost", 11.7, host="lab1", commit="aaaa1111bbbb2222", ndr=10.5e6),
            result("veth", stats(0.78, offered=1e6), host="lab2", commit="cccc3333dddd4444"),
            result("ovs-dpdk-vhost", 8.0, frame_size=128, host="lab1", commit="aaaa1111bbbb2222"),
            result("ovs-kernel", status="not-run", reason="no <openvswitch> module", host="lab3",
                   commit=None)]


def test_report_is_self_contained_and_embeds_pngs(tmp_path):
    path = write_report(runs(), tmp_path / "r" / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # nothing fetched from anywhere: no external src/href, no @import, no url(http...)
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:|//)', text, re.I)
    assert "@import" not in text and "url(" not in text and "<script" not in text
    srcs = re.findall(r'src="([^"]+)"', text)
    assert len(srcs) >= 3  # 64 B bars, Mpps by frame size, latency
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_SIGNATURE)


def test_report_has_each_runs_provenance():
    text = render_report(runs())
    for host in ("lab1", "lab2", "lab3"):
        assert f"<td class=l>{host}</td>" in text
    assert "aaaa1111bbbb2222" in text and "cccc3333dddd4444" in text
    for v in ("AMD EPYC 9454P", "6.18.0", "22.11.11", "3.1.0", "loopback",
              "loopback-veth-20251121T090000Z", "fixed-rate"):
        assert v in text
    assert "no &lt;openvswitch&gt; module" in text  # escaped, not markup
    assert "mlrsearch: 1 trials" in text  # the search that produced the NDR
    assert "10.500" in text  # NDR [Mpps]


def test_report_with_baseline_shows_verdicts():
    base = [result("ovs-dpdk-vhost", 10.0, host="old-lab", commit="eeee5555")]
    text = render_report([result("ovs-dpdk-vhost", 9.0)], baseline=base)
    assert "Against the baseline" in text and 'class="regression">regression<' in text
    assert "-10.0 %" in text and "old-lab" in text and "eeee5555" in text


def test_empty_report():
    text = render_report([])
    assert "No results." in text and "src=" not in text
