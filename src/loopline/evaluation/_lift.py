"""Relative improvement of a model over a baseline, signed so that positive is better.

For a higher-is-better metric it is ``(model - baseline) / |baseline|``, for a lower-is-better one
``(baseline - model) / |baseline|``, and for ``calibration_ratio`` (best at 1) the relative shrinkage
of ``|ratio - 1|``. A baseline at zero (within 1e-12, as the ECE of a constant prior is) gives NaN,
an infinite relative change, unless the model is equal to it.

>>> round(lift({"roc_auc": 0.8, "log_loss": 0.3}, {"roc_auc": 0.5, "log_loss": 0.4})["log_loss"], 4)
0.25
"""

from __future__ import annotations

from collections.abc import Mapping

from loopline.spec import higher_is_better

_ZERO = 1e-12


def relative_improvement(model: float, baseline: float, metric: str) -> float:
    if metric == "calibration_ratio":
        model, baseline = -abs(model - 1.0), -abs(baseline - 1.0)
    better = model - baseline if higher_is_better(metric) or metric == "calibration_ratio" else baseline - model
    if better == 0:
        return 0.0
    return better / abs(baseline) if abs(baseline) > _ZERO else float("nan")


def lift(model: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """Per metric present in both, the model's relative improvement over the baseline."""
    return {m: relative_improvement(v, baseline[m], m) for m, v in model.items() if m in baseline}
