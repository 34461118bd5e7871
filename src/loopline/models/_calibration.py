"""Calibration on the validation split: isotonic or Platt, kept only when it helps.

Whether a calibrator helps is judged by cross-fitting on validation: the rows are split in two
halves at random (seeded), the calibrator is fitted on one half and scored (log-loss) on the other,
then the halves swap; the row-weighted average is compared with the uncalibrated log-loss of the
same rows. A calibrator that does not lower it is dropped, whatever ``models.calibration`` asked
for; the one kept is refitted on all of validation.

The fitted calibrator is plain numbers (isotonic breakpoints; Platt's slope and intercept on the
log-odds of the probability clipped to [1e-6, 1 - 1e-6]) applied with ``np.interp`` or the logistic
formula, so a stored model holds no scikit-learn object.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import expit, logit
from sklearn.exceptions import ConvergenceWarning
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from loopline._errors import ModelError

Method = Literal["isotonic", "platt"]
METHODS: tuple[Method, ...] = ("isotonic", "platt")
EPS = 1e-6


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from probabilities to calibrated probabilities."""

    method: Method
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, p: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            out = np.interp(p, self.params["X_thresholds_"], self.params["y_thresholds_"])
        else:
            out = expit(self.params["coef"] * _logit(p) + self.params["intercept"])
        clipped: np.ndarray = np.clip(np.asarray(out, dtype=np.float64), EPS, 1 - EPS)
        return clipped

    def state(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Calibrator:
        method = state.get("method")
        if method not in METHODS:
            raise ModelError(f"model.json: unknown calibration method {method!r}; expected one of {list(METHODS)}")
        return cls(method=method, params=dict(state["params"]))


def fit_calibrator(method: Method, p: np.ndarray, y: np.ndarray) -> Calibrator:
    """``method`` fitted to map probabilities ``p`` to 0/1 outcomes ``y``."""
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(p, y)
        return Calibrator("isotonic", {"X_thresholds_": [float(v) for v in iso.X_thresholds_],
                                       "y_thresholds_": [float(v) for v in iso.y_thresholds_]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one feature: lbfgs is at the optimum anyway
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p).reshape(-1, 1), y)
    return Calibrator("platt", {"coef": float(lr.coef_[0, 0]), "intercept": float(lr.intercept_[0])})


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary log-loss with probabilities clipped to [EPS, 1 - EPS]."""
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def choose_calibrator(setting: str, p: np.ndarray, y: np.ndarray, *,
                      seed: int) -> tuple[Calibrator | None, dict[str, float]]:
    """The calibrator to keep (or None) and the cross-fitted validation log-loss of each option tried.

    ``setting`` is ``models.calibration``: ``'none'``, ``'isotonic'``, ``'platt'`` or ``'auto'`` (both).
    """
    methods: tuple[Method, ...] = METHODS if setting == "auto" else tuple(m for m in METHODS if m == setting)
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if not methods or len(np.unique(y)) < 2:
        return None, {}
    half = np.random.default_rng(seed).random(len(y)) < 0.5
    parts = [(fit, ~fit) for fit in (half, ~half) if len(np.unique(y[fit])) == 2 and (~fit).any()]
    if len(parts) < 2:
        return None, {}
    losses = {"none": log_loss(y, p)}
    for method in methods:
        total = sum(log_loss(y[score], fit_calibrator(method, p[fit], y[fit]).apply(p[score])) * score.sum()
                    for fit, score in parts)
        losses[method] = float(total / len(y))
    best = min(losses, key=lambda k: (losses[k], k != "none"))
    if best == "none":
        return None, losses
    return fit_calibrator("isotonic" if best == "isotonic" else "platt", p, y), losses


def _logit(p: np.ndarray) -> np.ndarray:
    out: np.ndarray = logit(np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS))
    return out
