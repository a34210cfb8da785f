"""What a search's answer promises: the width it stops at and what short deciding trials miss."""
from __future__ import annotations

import pytest

from pktlab.search import deciding_trials_caveat, goals_for


def test_precision_sets_the_width_of_both_goals():
    """Before: quick goals were always 2 % wide, so the NDR could sit 2 % low whatever the scenario asked."""
    ndr, pdr = goals_for("quick", relative_width=0.005)
    assert ndr.relative_width == pdr.relative_width == 0.005
    assert goals_for("quick")[0].relative_width == 0.02


@pytest.mark.parametrize("preset,final,says", [("quick", None, "1 s"), ("rfc2544", 10.0, "10 s")])
def test_short_deciding_trials_carry_a_caveat(preset, final, says):
    ndr, _ = goals_for(preset, final_duration=final)
    c = deciding_trials_caveat(ndr)
    assert c is not None and says in c and "60 s" in c


def test_rfc2544_trials_need_no_caveat():
    ndr, pdr = goals_for("rfc2544")
    assert deciding_trials_caveat(ndr) is None and deciding_trials_caveat(pdr) is None
