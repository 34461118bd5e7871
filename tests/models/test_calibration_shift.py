"""A validation period with its own label rate: the default calibration must not make test worse than none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from loopline.data import split_by_time
from loopline.data._shift import rates_differ, split_rates
from loopline.models import train_candidates
from loopline.models._calibration import choose_calibrator, fit_calibrator, shape_only
from tests.models.samples import make_frame, make_spec, make_splits


def seasonal(n: int = 12_000, seed: int = 0) -> pd.DataFrame:
    """The sample table with a base rate of about 25% in the train and test periods and 15% in validation
    (60/20/20 by time): the same features and effects throughout, only the intercept dips."""
    frame = make_frame("binary", n, seed)
    rng = np.random.default_rng(seed + 100)
    red = (frame["colour"] == "red").to_numpy(dtype=float)
    score = 0.9 * frame["x1"].to_numpy() + 0.6 * np.nan_to_num(frame["x2"].to_numpy()) + 0.5 * red
    position = np.arange(n) / n
    intercept = np.where((position >= 0.6) & (position < 0.8), -2.15, -1.45)
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-(score + intercept)))).astype(np.int64)
    return frame


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_is_not_worse_on_test_than_no_calibration_under_a_validation_dip(seed: int) -> None:
    frame = seasonal(seed=seed)
    splits = make_splits("binary", frame=frame)
    rates = [float(part["y"].mean()) for part in (splits.train, splits.valid, splits.test)]
    assert rates[0] > 0.22 and rates[1] < 0.18 and rates[2] > 0.22  # the planted dip
    losses = {}
    for setting in ("auto", "none"):
        spec = make_spec("binary", models={"candidates": ["lightgbm", "linear"], "calibration": setting})
        for model in train_candidates(splits, spec):
            losses[(model.name, setting)] = log_loss(splits.test["y"], model.predict(splits.test))
            if setting == "auto":
                assert model.params["calibration"]["shape_only"] is True
    for name in ("lightgbm", "linear"):
        assert losses[(name, "auto")] <= losses[(name, "none")] + 1e-3, losses


def test_a_validation_calibrator_without_the_guard_learns_the_dip() -> None:
    """What the guard prevents: fitted plainly on the dipped validation, Platt makes test worse than none."""
    frame = seasonal(seed=0)
    splits = make_splits("binary", frame=frame)
    spec = make_spec("binary", models={"candidates": ["linear"], "calibration": "none"})
    [model] = train_candidates(splits, spec)
    p_valid, p_test = model.predict(splits.valid), model.predict(splits.test)
    plain = fit_calibrator("platt", p_valid, splits.valid["y"].to_numpy())
    guarded = shape_only(plain, p_valid)
    y_test = splits.test["y"].to_numpy()
    assert log_loss(y_test, plain.apply(p_test)) > log_loss(y_test, p_test) + 0.01
    assert log_loss(y_test, guarded.apply(p_test)) < log_loss(y_test, plain.apply(p_test))
    assert np.mean(guarded.apply(p_valid)) == pytest.approx(np.mean(p_valid), abs=1e-9)


def test_the_halves_are_earlier_and_later_when_times_are_given() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 4000)
    y = (rng.random(4000) < p).astype(float)
    times = np.arange(4000)[::-1]  # reversed: the later half is the first 2000 rows
    _, by_time = choose_calibrator("platt", p, y, seed=0, times=times)
    earlier, later = times >= 2000, times < 2000
    expected = (log_loss(y[later], fit_calibrator("platt", p[earlier], y[earlier]).apply(p[later])) * 2000
                + log_loss(y[earlier], fit_calibrator("platt", p[later], y[later]).apply(p[earlier])) * 2000) / 4000
    assert by_time["platt"] == pytest.approx(expected, rel=1e-12)


def test_rates_differ_against_a_two_proportion_test_and_the_warning_names_the_three_rates() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    _, p_value = proportions_ztest([250, 150], [1000, 1000])
    assert p_value < 1e-3 and rates_differ(250, 1000, 150, 1000)
    assert not rates_differ(250, 1000, 240, 1000)
    assert not rates_differ(2_500_000, 10_000_000, 2_510_000, 10_000_000)  # significant, but odds within 10%
    [finding] = split_rates({"train": (256, 1000), "valid": (151, 1000), "test": (250, 1000)})
    assert finding.message.startswith("label rate 25.6% / 15.1% / 25.0% (train / validation / test) differs between "
                                      "splits beyond sampling noise: a calibrator fitted on validation would pull "
                                      "predictions toward 15.1%")
    assert split_rates({"train": (250, 1000), "valid": (245, 1000), "test": (255, 1000)}) == []
    assert split_by_time is not None
