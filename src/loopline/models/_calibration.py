"""Calibration on the validation split: isotonic or Platt, kept only when it helps elsewhere in time.

Whether a calibrator helps is judged by time-ordered cross-fitting on validation: the rows, in event
time order, are cut into an earlier and a later half; the calibrator is fitted on one half and scored
(log-loss) on the other, then the halves swap; the row-weighted average is compared with the
uncalibrated log-loss of the same rows. (Without times, the halves are drawn at random, seeded.) A
calibrator that does not lower it is dropped, whatever ``models.calibration`` asked for; the one kept
is refitted on all of validation. Judged on another period than the one it was fitted on, a
calibrator that only learnt a passing label rate does not survive a rate that moves within validation.

**A validation period with its own label rate.** When validation's rate differs from training's beyond
sampling noise (:func:`loopline.data.rates_differ`), a calibrator fitted there would learn the validation prior and
pull every prediction toward it, which is wrong as soon as the rate returns (a seasonal dip). Then
each calibrator is fitted for its shape only: its log-odds are shifted by a constant so that its
mean prediction on the rows it was fitted on equals the uncalibrated model's (``params["shift"]``),
keeping the rate the model learnt from training. The data stage warns about such splits.

The fitted calibrator is plain numbers (isotonic breakpoints; Platt's slope and intercept on the
log-odds of the probability clipped to [1e-6, 1 - 1e-6]) applied with ``np.interp`` or the logistic
formula, so a stored model holds no scikit-learn object.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.optimize import brentq
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
        shift = float(self.params.get("shift", 0.0))
        if shift:
            out = expit(_logit(out) + shift)
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


def shape_only(calibrator: Calibrator, p: np.ndarray) -> Calibrator:
    """``calibrator`` shifted on the log-odds scale so that its mean prediction on ``p`` equals ``p``'s mean."""
    target = float(np.mean(p))
    z = _logit(Calibrator(calibrator.method, {k: v for k, v in calibrator.params.items() if k != "shift"}).apply(p))

    def gap(s: float) -> float:
        return float(np.mean(expit(z + s))) - target

    shift = float(brentq(gap, -30.0, 30.0, xtol=1e-12))
    return Calibrator(calibrator.method, {**calibrator.params, "shift": shift})


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary log-loss with probabilities clipped to [EPS, 1 - EPS]."""
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def choose_calibrator(setting: str, p: np.ndarray, y: np.ndarray, *, seed: int, times: np.ndarray | None = None,
                      shape_only_fit: bool = False) -> tuple[Calibrator | None, dict[str, float]]:
    """The calibrator to keep (or None) and the cross-fitted validation log-loss of each option tried.

    ``setting`` is ``models.calibration``: ``'none'``, ``'isotonic'``, ``'platt'`` or ``'auto'`` (both). ``times``
    (the rows' event times) makes the halves an earlier and a later period; ``shape_only_fit`` fits every
    calibrator for its shape only (see the module docstring).
    """
    methods: tuple[Method, ...] = METHODS if setting == "auto" else tuple(m for m in METHODS if m == setting)
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if not methods or len(np.unique(y)) < 2:
        return None, {}
    if times is not None and len(times) == len(y):
        rank = np.empty(len(y), dtype=np.int64)
        rank[np.argsort(np.asarray(times), kind="stable")] = np.arange(len(y))
        half = rank < len(y) // 2
    else:
        half = np.random.default_rng(seed).random(len(y)) < 0.5
    parts = [(fit, ~fit) for fit in (half, ~half) if len(np.unique(y[fit])) == 2 and (~fit).any()]
    if len(parts) < 2:
        return None, {}

    def fitted(method: Method, rows: np.ndarray) -> Calibrator:
        found = fit_calibrator(method, p[rows], y[rows])
        return shape_only(found, p[rows]) if shape_only_fit else found

    losses = {"none": log_loss(y, p)}
    for method in methods:
        total = sum(log_loss(y[score], fitted(method, fit).apply(p[score])) * score.sum() for fit, score in parts)
        losses[method] = float(total / len(y))
    best = min(losses, key=lambda k: (losses[k], k != "none"))
    if best == "none":
        return None, losses
    return fitted("isotonic" if best == "isotonic" else "platt", np.ones(len(y), dtype=bool)), losses


def _logit(p: np.ndarray) -> np.ndarray:
    out: np.ndarray = logit(np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS))
    return out
