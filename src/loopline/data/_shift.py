"""Label rates that differ between the splits beyond sampling noise, and the warning that says what it means.

A validation period with its own label rate (a seasonal dip, a campaign) is fitted on by the calibrator and
judges early stopping; a test period with its own rate moves log-loss and calibration whatever the model does.
Either is worth knowing before reading a single metric, so the data stage says it with the three rates.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from loopline.data._leakage import Finding


def rates_differ(positives_a: float, n_a: float, positives_b: float, n_b: float, *, alpha: float = 1e-3,
                 min_odds_ratio: float = 1.1) -> bool:
    """Whether two label rates differ beyond sampling noise: a two-proportion z-test below ``alpha`` and odds
    that differ by more than ``min_odds_ratio`` (so a tiny but significant shift on millions of rows is let be)."""
    if min(n_a, n_b) <= 0:
        return False
    ra, rb = positives_a / n_a, positives_b / n_b
    pooled = (positives_a + positives_b) / (n_a + n_b)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return False
    p_value = 2 * norm.sf(abs(ra - rb) / se)
    odds = abs(_logit(ra) - _logit(rb))
    return bool(p_value < alpha and odds > np.log(min_odds_ratio))


def split_rates(rates: dict[str, tuple[float, float]]) -> list[Finding]:
    """A finding when the binary label rate of train, validation and test (``positives, rows`` each, train counted
    before negative downsampling) differs between two of them beyond sampling noise."""
    train, valid, test = rates["train"], rates["valid"], rates["test"]
    shown = " / ".join(f"{p / n:.1%}" if n else "-" for p, n in (train, valid, test))
    head = f"label rate {shown} (train / validation / test) differs between splits beyond sampling noise"
    if rates_differ(*train, *valid):
        return [Finding("label_shift", None,
                        f"{head}: a calibrator fitted on validation would pull predictions toward "
                        f"{valid[0] / valid[1]:.1%}, so calibration is fitted for its shape only and keeps the "
                        "training rate. If the training rows were downsampled, declare sampling.negative_rate; if "
                        "validation's rate is the one to expect from now on, move split.valid_start.")]
    if rates_differ(*valid, *test) or rates_differ(*train, *test):
        return [Finding("label_shift", None,
                        f"{head}: the test period's rate moves its log-loss and calibration whatever the model "
                        "does; read them beside the baselines' on the same rows.")]
    return []


def _logit(rate: float) -> float:
    q = min(max(rate, 1e-6), 1 - 1e-6)
    return math.log(q / (1 - q))
