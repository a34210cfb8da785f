import MLRsearch
import pytest

from pktlab.search import PRESETS, SearchGoal, goals_for


def test_presets_give_ndr_and_pdr():
    for name in PRESETS:
        ndr, pdr = goals_for(name)
        assert (ndr.name, ndr.loss_ratio) == ("NDR", 0.0)
        assert (pdr.name, pdr.loss_ratio) == ("PDR", 0.005)
        # one search: same trial rules for both, only the loss ratio differs
        assert {k: v for k, v in ndr.to_dict().items() if k not in ("name", "loss_ratio")} == \
               {k: v for k, v in pdr.to_dict().items() if k not in ("name", "loss_ratio")}


def test_rfc2544_is_one_60s_trial_per_load():
    ndr, _ = goals_for("rfc2544")
    assert (ndr.final_trial_duration, ndr.duration_sum, ndr.exceed_ratio) == (60.0, 60.0, 0.0)
    assert ndr.trials_per_load == 1
    assert ndr.relative_width == 0.005


def test_tst009_is_loss_verification_with_two_trials():
    ndr, pdr = goals_for("tst009", pdr_loss_ratio=0.001)
    assert (ndr.final_trial_duration, ndr.duration_sum, ndr.exceed_ratio) == (60.0, 120.0, 0.5)
    assert ndr.trials_per_load == 2  # TST009's r = 2
    assert pdr.loss_ratio == 0.001


def test_quick_is_short_and_coarse():
    ndr, _ = goals_for("quick")
    assert ndr.final_trial_duration == 1.0 and ndr.initial_trial_duration == 0.5
    assert ndr.relative_width == 0.02


def test_final_duration_override_keeps_the_sum_multiple():
    ndr, _ = goals_for("tst009", final_duration=10)
    assert (ndr.final_trial_duration, ndr.duration_sum) == (10.0, 20.0)
    quick, _ = goals_for("quick", final_duration=0.2)
    assert (quick.initial_trial_duration, quick.final_trial_duration) == (0.2, 0.2)


def test_maps_onto_mlrsearch():
    ndr, _ = goals_for("tst009")
    m = ndr.to_mlrsearch()
    assert isinstance(m, MLRsearch.SearchGoal)
    assert (m.loss_ratio, m.exceed_ratio, m.relative_width, m.final_trial_duration,
            m.duration_sum, m.fail_fast) == (0.0, 0.5, 0.005, 60.0, 120.0, False)
    assert SearchGoal.from_dict(ndr.to_dict()) == ndr


@pytest.mark.parametrize("kw, field", [
    (dict(loss_ratio=1.0), "loss_ratio"),
    (dict(loss_ratio=-0.1), "loss_ratio"),
    (dict(exceed_ratio=1.0), "exceed_ratio"),
    (dict(relative_width=0.0), "relative_width"),
    (dict(initial_trial_duration=0), "initial_trial_duration"),
    (dict(initial_trial_duration=2.0, final_trial_duration=1.0, duration_sum=1.0),
     "final_trial_duration"),
    (dict(final_trial_duration=60.0, duration_sum=30.0), "duration_sum"),
    (dict(preceding_targets=0), "preceding_targets"),
    (dict(expansion_coefficient=1), "expansion_coefficient"),
    (dict(loss_ratio="0"), "loss_ratio"),
    (dict(preceding_targets=1.5), "preceding_targets"),
    (dict(relative_width=float("nan")), "relative_width"),
])
def test_validation_names_the_field(kw, field):
    with pytest.raises(ValueError, match=rf"SearchGoal X: {field} = "):
        SearchGoal("X", **kw)


def test_bad_preset_arguments():
    with pytest.raises(ValueError, match="unknown preset 'fast'.*rfc2544, tst009, quick"):
        goals_for("fast")
    with pytest.raises(ValueError, match="pdr_loss_ratio = 0"):
        goals_for("quick", pdr_loss_ratio=0)
    with pytest.raises(ValueError, match="final_duration = -1"):
        goals_for("quick", final_duration=-1)
    with pytest.raises(ValueError, match="SearchGoal.name"):
        SearchGoal("")
