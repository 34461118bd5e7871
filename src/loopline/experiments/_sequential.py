"""Always-valid inference: the mixture sequential probability ratio test (mSPRT).

Johari, Koomen, Pekelis and Walsh, "Always valid inference: continuous monitoring of A/B tests"
(Operations Research, 2022; arXiv 2015/2017). At each look ``n`` the estimate of the difference of
means ``d_n`` (treatment minus control) has variance ``V_n`` (``s_c^2/n_c + s_t^2/n_t``). With a normal
mixing prior ``N(null, tau^2)`` on the effect, the mixture likelihood ratio against ``H0: effect = null`` is

    Lambda_n = sqrt(V_n / (V_n + tau^2)) * exp(tau^2 (d_n - null)^2 / (2 V_n (V_n + tau^2)))

and the always-valid p-value is ``p_n = min(p_{n-1}, 1 / Lambda_n)`` with ``p_0 = 1``. Inverting the
test gives the confidence sequence ``d_n ± sqrt(V_n (V_n + tau^2) / tau^2 * (2 log(1/alpha) +
log((V_n + tau^2) / V_n)))``, intersected over looks. However often one peeks, the chance that
``p_n`` ever falls below ``alpha`` under the null is at most ``alpha`` (asymptotically, since ``V_n`` is
estimated). ``tau^2`` must be fixed before the experiment, e.g. the square of the designed MDE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from loopline._errors import ExperimentError
from loopline.experiments import _checks
from loopline.experiments._result import ResultDict


@dataclass(frozen=True)
class SequentialResult(ResultDict):
    """Per-look always-valid p-values and confidence bounds, and the first look (1-based) to stop at."""

    metric: str
    estimates: tuple[float, ...]
    variances: tuple[float, ...]
    p_values: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    alpha: float
    mixing_variance: float
    null: float
    stop_look: int | None
    rule: str


def _arrays(estimates: ArrayLike, variances: ArrayLike, mixing_variance: float
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    est = np.asarray(estimates, dtype=np.float64)
    var = np.asarray(variances, dtype=np.float64)
    if est.shape != var.shape or est.ndim == 0 or est.shape[-1] == 0:
        raise ExperimentError(
            f"estimates and variances: expected arrays of the same shape with one value per look, got "
            f"shapes {est.shape} and {var.shape}."
        )
    if not np.all(np.isfinite(est)):
        raise ExperimentError("estimates: every look needs a finite estimate; drop looks with no data.")
    if not np.all(np.isfinite(var) & (var > 0)):
        raise ExperimentError(
            "variances: every look needs a positive finite variance of the estimate; a look with zero "
            "variance has too few units or a constant metric in both arms. Start the sequence at a later look."
        )
    tau2 = _checks.positive(mixing_variance, name="mixing_variance")
    return est, var, tau2


def always_valid_p_values(estimates: ArrayLike, variances: ArrayLike, *, mixing_variance: float,
                          null: float = 0.0) -> NDArray[np.float64]:
    """mSPRT always-valid p-values along the last axis (looks); leading axes are independent sequences.

    >>> always_valid_p_values([0.0, 0.5, 0.5], [1.0, 0.04, 0.01], mixing_variance=0.01).round(4)
    array([1.    , 0.5984, 0.0027])
    """
    est, var, tau2 = _arrays(estimates, variances, mixing_variance)
    log_lr = 0.5 * np.log(var / (var + tau2)) + tau2 * (est - null) ** 2 / (2.0 * var * (var + tau2))
    return np.minimum.accumulate(np.exp(-np.maximum(log_lr, 0.0)), axis=-1)


def confidence_sequence(estimates: ArrayLike, variances: ArrayLike, *, mixing_variance: float,
                        alpha: float = 0.05) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper always-valid bounds per look (running intersection along the last axis)."""
    est, var, tau2 = _arrays(estimates, variances, mixing_variance)
    _checks.probability(alpha, name="alpha")
    half = np.sqrt(var * (var + tau2) / tau2 * (2.0 * math.log(1.0 / alpha) + np.log((var + tau2) / var)))
    return np.maximum.accumulate(est - half, axis=-1), np.minimum.accumulate(est + half, axis=-1)


def msprt(estimates: ArrayLike, variances: ArrayLike, *, mixing_variance: float, alpha: float = 0.05,
          null: float = 0.0, metric: str = "metric") -> SequentialResult:
    """Always-valid test of a difference of means from its cumulative estimate and variance at each look.

    ``estimates[k]`` is treatment minus control on all data up to look ``k`` and ``variances[k]`` the
    variance of that estimate. The stopping rule: stop at the first look whose always-valid p-value is
    below ``alpha``; ``stop_look`` is that look's 1-based number, or ``None`` to keep collecting.
    """
    est = np.asarray(estimates, dtype=np.float64)
    if est.ndim != 1:
        raise ExperimentError(
            f"estimates: expected one sequence of looks (1-D), got shape {est.shape}; "
            "use always_valid_p_values for many sequences at once."
        )
    p_values = always_valid_p_values(est, variances, mixing_variance=mixing_variance, null=null)
    low, high = confidence_sequence(est, variances, mixing_variance=mixing_variance, alpha=alpha)
    below = np.flatnonzero(p_values < alpha)
    stop = int(below[0]) + 1 if below.size else None
    rule = (
        f"Stop at the first look whose always-valid p-value is below alpha={alpha:g} (mSPRT, normal mixture "
        f"with tau^2={mixing_variance:g}); until then keep collecting. Looking after every batch is allowed: "
        f"the chance of ever stopping when the true effect is {null:g} stays at most {alpha:g}."
    )
    return SequentialResult(
        metric=metric, estimates=tuple(float(v) for v in est),
        variances=tuple(float(v) for v in np.asarray(variances, dtype=np.float64)),
        p_values=tuple(float(v) for v in p_values), ci_low=tuple(float(v) for v in low),
        ci_high=tuple(float(v) for v in high), alpha=float(alpha), mixing_variance=float(mixing_variance),
        null=float(null), stop_look=stop, rule=rule,
    )
