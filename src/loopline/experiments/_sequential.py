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
estimated). ``tau^2`` must be fixed before the experiment: loopline takes the square of the absolute
minimum detectable effect the experiment is designed for (:func:`design_mixing_variance`), which the
design stores as ``Design.mixing_variance`` and the experiment spec as ``mixing_variance``; it is never
re-estimated from the data at a look.

Power (:func:`msprt_power`). Rejecting at look ``k`` means ``Lambda_k >= 1/alpha``, that is
``|d_k| / sqrt(V_k) >= c_k`` with ``c_k^2 = (1 + V_k / tau^2) (2 log(1/alpha) + log(1 + tau^2 / V_k))``.
On the information scale ``I_k = 1 / V_k`` the statistic ``W_k = I_k d_k`` is a Brownian motion with
drift ``delta`` (the true effect) read at ``I_1 < I_2 < ...``, so the chance of ever rejecting by the
last look is a crossing probability of a Brownian motion through the boundary ``+-c_k sqrt(I_k)``,
computed by the usual recursion over looks on the continuation region (Armitage, McPherson and Rowe,
1969; Jennison and Turnbull, ch. 19) with Simpson's rule. With one look it is the closed form
``Phi(delta sqrt(I) - c) + Phi(-delta sqrt(I) - c)``; more looks only add chances to reject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

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


_GRID_STEP = 0.25  # grid spacing of the power recursion, in standard deviations of one look's increment
_TAIL_SDS = 10.0  # the recursion ignores W_k farther than this from its mean (a share below 1e-22)


def design_mixing_variance(mde: float) -> float:
    """The mixing variance ``tau^2`` fixed at design time: the square of the absolute MDE.

    A normal mixture centred on no effect with the spread of the effect the experiment is sized for
    weighs most the alternatives that matter; over ``tau^2 / V`` from 2 to 50 at the last look the
    units needed move by a few percent at most, so the choice is robust and needs no data.

    >>> design_mixing_variance(-0.002)
    4e-06
    """
    if not math.isfinite(mde) or mde == 0:
        raise ExperimentError(f"mde: expected a non-zero finite effect to fix the mixing variance, got {mde!r}.")
    return float(mde) ** 2


def rejection_boundary(variances: ArrayLike, *, mixing_variance: float, alpha: float = 0.05) -> NDArray[np.float64]:
    """The ``|z|`` (estimate over its standard error) above which the mSPRT rejects at each look.

    >>> rejection_boundary([1e-6], mixing_variance=1e-5).round(3)
    array([3.038])
    """
    var = np.asarray(variances, dtype=np.float64)
    tau2 = _checks.positive(mixing_variance, name="mixing_variance")
    _checks.probability(alpha, name="alpha")
    return np.asarray(np.sqrt((1.0 + var / tau2) * (2.0 * math.log(1.0 / alpha) + np.log1p(tau2 / var))),
                      dtype=np.float64)


def _simpson(size: int, step: float) -> NDArray[np.float64]:
    weights = np.ones(size)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return weights * (step / 3.0)


def msprt_power(effect: float, variances: ArrayLike, *, mixing_variance: float, alpha: float = 0.05) -> float:
    """Chance that the mSPRT rejects at one of the looks when the true difference is ``effect``.

    ``variances[k]`` is the variance of the estimate at look ``k`` (strictly decreasing: every look
    adds units); the estimate is taken as normal with independent increments between looks, as for
    cumulative means of independent units. See the module docstring for the recursion.

    >>> round(msprt_power(0.1, [0.0005], mixing_variance=0.01), 4)  # one look: the closed form
    0.918
    >>> round(msprt_power(0.1, [0.001, 0.0005], mixing_variance=0.01), 4)  # a look half-way adds power
    0.9228
    """
    var = np.asarray(variances, dtype=np.float64)
    if var.ndim != 1 or var.size == 0 or not np.all(np.isfinite(var) & (var > 0)):
        raise ExperimentError(f"variances: expected one positive finite variance per look, got {var.tolist()!r}.")
    if var.size > 1 and not np.all(np.diff(var) < 0):
        raise ExperimentError("variances: each look must add units, so the variances must strictly decrease; "
                              "drop looks that added no units.")
    if not math.isfinite(effect):
        raise ExperimentError(f"effect: expected a finite difference, got {effect!r}.")
    info = 1.0 / var
    bound = rejection_boundary(var, mixing_variance=mixing_variance, alpha=alpha) * np.sqrt(info)
    drift = abs(float(effect))
    grid = weights = density = np.empty(0)
    before = 0.0
    for k in range(var.size):
        gain = float(info[k] - before)
        sd = math.sqrt(gain)
        # the continuation region, clipped where W_k is more than 10 standard deviations from its mean
        spread = _TAIL_SDS * math.sqrt(float(info[k]))
        low, high = max(-bound[k], drift * info[k] - spread), min(bound[k], drift * info[k] + spread)
        if low >= high:
            return 1.0
        size = max(51, math.ceil((high - low) / (_GRID_STEP * sd)))
        size += 1 - size % 2  # Simpson's rule needs an odd number of points
        points = np.linspace(low, high, size)
        if k == 0:
            density = stats.norm.pdf(points, loc=drift * gain, scale=sd)
        else:
            z = (points[:, None] - grid[None, :] - drift * gain) / sd
            kernel = np.exp(-0.5 * z * z) / (sd * math.sqrt(2.0 * math.pi))
            density = kernel @ (weights * density)
        grid, weights, before = points, _simpson(size, float(points[1] - points[0])), float(info[k])
    return min(1.0, max(0.0, 1.0 - float(np.sum(weights * density))))
