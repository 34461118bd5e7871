"""The metric names a spec may ask for, per task, and which way each one is better."""

from __future__ import annotations

from typing import Literal

Task = Literal["binary", "multiclass", "regression", "ranking"]

METRICS: dict[str, tuple[str, ...]] = {
    "binary": (
        "log_loss", "roc_auc", "pr_auc", "brier", "normalized_entropy", "ece", "calibration_ratio",
        "precision", "recall", "f1", "accuracy",
    ),
    "multiclass": ("log_loss", "accuracy", "macro_f1", "top_k_accuracy"),
    "regression": ("rmse", "mae", "r2"),
    "ranking": ("ndcg", "map", "mrr", "roc_auc", "log_loss"),
}

DEFAULT_PRIMARY: dict[str, str] = {
    "binary": "log_loss",
    "multiclass": "log_loss",
    "regression": "rmse",
    "ranking": "ndcg",
}

LOWER_IS_BETTER = frozenset(
    {"log_loss", "brier", "normalized_entropy", "ece", "rmse", "mae"}
)


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (``calibration_ratio`` is best at 1).

    >>> higher_is_better("roc_auc"), higher_is_better("log_loss")
    (True, False)
    """
    return metric not in LOWER_IS_BETTER and metric != "calibration_ratio"
