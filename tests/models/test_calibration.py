"""Calibration is kept exactly when cross-fitting on validation says it lowers the log-loss."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from loopline.models import train_candidates
from loopline.models._calibration import EPS, choose_calibrator, fit_calibrator
from tests.models.samples import make_spec, make_splits


def _outcomes(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    return z, (rng.random(n) < expit(z)).astype(float)


def _oracle(setting: str, p: np.ndarray, y: np.ndarray, seed: int) -> dict[str, float]:
    """Cross-fitted log-loss of each method, fitted with scikit-learn directly on the same halves."""
    half = np.random.default_rng(seed).random(len(y)) < 0.5
    out = {"none": log_loss(y, p)}
    z = logit(np.clip(p, EPS, 1 - EPS))  # Platt works on the log-odds of p clipped to [EPS, 1 - EPS]
    for method in (["isotonic", "platt"] if setting == "auto" else [setting]):
        total = 0.0
        for fit, score in ((half, ~half), (~half, half)):
            if method == "isotonic":
                model = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(p[fit], y[fit])
                q = model.predict(p[score])
            else:
                lr = LogisticRegression(C=1e6, max_iter=1000).fit(z[fit].reshape(-1, 1), y[fit])
                q = lr.predict_proba(z[score].reshape(-1, 1))[:, 1]
            total += log_loss(y[score], np.clip(q, EPS, 1 - EPS), labels=[0, 1]) * score.sum()
        out[method] = total / len(y)
    return out


@pytest.mark.parametrize(("sharpness", "kept"), [(3.0, True), (0.4, True), (1.0, False)])
def test_a_calibrator_is_kept_exactly_when_it_lowers_cross_fitted_log_loss(sharpness: float, kept: bool) -> None:
    z, y = _outcomes()
    p = expit(sharpness * z)  # 3: overconfident, 0.4: underconfident, 1: calibrated
    chosen, losses = choose_calibrator("auto", p, y, seed=7)
    oracle = _oracle("auto", p, y, seed=7)
    assert losses.keys() == oracle.keys() and all(np.isclose(losses[k], oracle[k], rtol=1e-6) for k in oracle)
    best = min(oracle, key=lambda k: oracle[k])
    assert (chosen is not None) == kept == (best != "none")
    if chosen is not None:
        assert chosen.method == best
        assert log_loss(y, chosen.apply(p)) < log_loss(y, p)


def test_the_setting_limits_what_is_tried() -> None:
    z, y = _outcomes()
    p = expit(3 * z)
    assert choose_calibrator("none", p, y, seed=0) == (None, {})
    chosen, losses = choose_calibrator("platt", p, y, seed=0)
    assert set(losses) == {"none", "platt"} and chosen is not None and chosen.method == "platt"
    # Platt on an exactly 3x too sharp logit recovers a slope of about 1/3.
    assert abs(chosen.params["coef"] - 1 / 3) < 0.03


def test_stored_parameters_reproduce_scikit_learn() -> None:
    z, y = _outcomes(2000, seed=3)
    p = expit(2 * z)
    iso = fit_calibrator("isotonic", p, y)
    reference = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(p, y)
    grid = np.r_[-0.1, np.linspace(0, 1, 501), 1.1]
    assert np.allclose(iso.apply(grid), np.clip(reference.predict(np.clip(grid, 0, 1)), EPS, 1 - EPS), atol=1e-12)
    assert set(iso.params) == {"X_thresholds_", "y_thresholds_"}
    platt = fit_calibrator("platt", p, y)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit(p).reshape(-1, 1), y)
    assert np.allclose(platt.apply(p), lr.predict_proba(logit(p).reshape(-1, 1))[:, 1], atol=1e-6)


def test_undeclared_downsampling_keeps_the_training_rate_and_declared_downsampling_is_corrected() -> None:
    """Negatives were dropped from train but the model is not told: validation's rate differs from training's, which
    calibration cannot tell from a seasonal dip, so it is fitted for its shape only (the data stage says why);
    declared with sampling.negative_rate, the same rows give predictions at validation's rate."""
    sampled = make_splits("binary", n=4000, negative_rate=0.2)
    hidden = type(sampled)(**{**sampled.__dict__, "negative_rate": None})
    auto, off = (train_candidates(hidden, make_spec("binary", models={"candidates": ["lightgbm"], "calibration": c}))[0]
                 for c in ("auto", "none"))
    valid, y = hidden.valid, hidden.valid["y"].to_numpy()
    assert off.calibration is None and off.predict(valid).mean() > y.mean() + 0.1
    assert auto.params["calibration"]["shape_only"] is True
    assert abs(auto.predict(valid).mean() - off.predict(valid).mean()) < 0.01
    declared = train_candidates(sampled, make_spec("binary", models={"candidates": ["lightgbm"],
                                                                     "calibration": "none"}))[0]
    assert abs(declared.predict(valid).mean() - y.mean()) < 0.03
    assert log_loss(y, declared.predict(valid)) < log_loss(y, off.predict(valid))
