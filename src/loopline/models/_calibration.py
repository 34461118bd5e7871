"""Calibration on the validation split: isotonic or Platt, kept only when it helps.

The decision is made by cross-fitting on validation: fit the calibrator on one half, score the
other half's log-loss, swap, average, and compare with the uncalibrated log-loss of the same rows.
A calibrator that does not lower it is dropped. The kept one is refitted on all of validation. Its
parameters are plain numbers (isotonic breakpoints, Platt's slope and intercept), applied with
``np.interp`` or a formula, so a stored model holds no fitted scikit-learn object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

Method = Literal["isotonic", "platt"]
_EPS = 1e-6


@dataclass(frozen=True)
class Calibrator:
    method: Method
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, p: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            out = np.interp(p, self.params["x"], self.params["y"])
        else:
            out = _sigmoid(self.params["slope"] * _logit(p) + self.params["intercept"])
        clipped: np.ndarray = np.clip(np.asarray(out, dtype=float), _EPS, 1 - _EPS)
        return clipped

    def state(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Calibrator:
        return cls(method=state["method"], params=dict(state["params"]))


def fit_calibrator(method: Method, p: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit ``method`` mapping probabilities ``p`` to outcomes ``y``."""
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=_EPS, y_max=1 - _EPS).fit(p, y)
        return Calibrator("isotonic", {"x": [float(v) for v in iso.X_thresholds_],
                                       "y": [float(v) for v in iso.y_thresholds_]})
    lr = LogisticRegression(C=1e6).fit(_logit(p).reshape(-1, 1), y)
    return Calibrator("platt", {"slope": float(lr.coef_[0, 0]), "intercept": float(lr.intercept_[0])})


def choose_calibrator(setting: str, p: np.ndarray, y: np.ndarray, *,
                      seed: int) -> tuple[Calibrator | None, dict[str, float]]:
    """The calibrator to keep (or None) and the cross-fitted validation log-loss of each option."""
    methods: list[Method] = ["isotonic", "platt"] if setting == "auto" else (
        [] if setting == "none" else [setting])  # type: ignore[list-item]
    if not methods or len(np.unique(y)) < 2:
        return None, {}
    rng = np.random.default_rng(seed)
    half = rng.random(len(y)) < 0.5
    scores = {"none": float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1]))}
    for method in methods:
        losses, weights = [], []
        for fit_part in (half, ~half):
            other = ~fit_part
            if len(np.unique(y[fit_part])) < 2 or other.sum() == 0:
                continue
            calibrated = fit_calibrator(method, p[fit_part], y[fit_part]).apply(p[other])
            losses.append(log_loss(y[other], calibrated, labels=[0, 1]))
            weights.append(other.sum())
        if losses:
            scores[method] = float(np.average(losses, weights=weights))
    best = min(scores, key=lambda k: scores[k])
    if best == "none":
        return None, scores
    return fit_calibrator(best, p, y), scores  # type: ignore[arg-type]


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)), dtype=float)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=float)
