import io

from pktlab.search import ProgressLine, goals_for, run_search

from .test_search_mlr import MAX_LOAD, Dut


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_plain_stream_gets_one_line_per_trial():
    out = io.StringIO()
    result = run_search(Dut(gen_cap=2e6), goals_for("quick"), MAX_LOAD, progress=ProgressLine(out))
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == result.n_trials
    assert lines[0].startswith("trial 1  14.8800 Mpps x 0.5 s  loss ")
    assert "GENERATOR-LIMITED (sent 2.0000 Mpps)" in lines[0]
    assert "NDR in [?, 14.8800] Mpps" in lines[0]
    assert lines[-1].split("|")[-1].strip().startswith(f"{result.n_trials} done  0:00:0")


def test_tty_rewrites_one_line():
    out = Tty()
    with ProgressLine(out) as progress:
        result = run_search(Dut(), goals_for("quick"), MAX_LOAD, progress=progress)
    text = out.getvalue()
    assert text.count("\r") == 2 * result.n_trials  # before and after each trial
    assert text.endswith("\n") and text.count("\n") == 1
    assert "running" in text
    # the running bounds close in on the NDR (3 Mpps)
    last = text.rsplit("\r", 1)[1]
    lo, hi = (float(x) for x in last.split("NDR in [")[1].split("]")[0].split(", "))
    assert lo <= 3.0 < hi


def test_binary_progress_names_the_goal():
    from pktlab.search import binary_search
    out = io.StringIO()
    binary_search(Dut(), goals_for("quick"), MAX_LOAD, progress=ProgressLine(out, tty=False))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[NDR] trial 1") and lines[-1].startswith("[PDR] trial")
    assert "PDR in [" in lines[-1]
