"""How numbers and metric names read in a report. Formatting only: nothing here computes a metric."""

from __future__ import annotations

import math
from collections.abc import Mapping

_LABELS = {
    "log_loss": "log-loss",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "normalized_entropy": "normalized entropy",
    "ece": "ECE",
    "calibration_ratio": "calibration ratio",
    "f1": "F1",
    "macro_f1": "macro F1",
    "top_k_accuracy": "top-k accuracy",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "ndcg": "NDCG",
    "map": "MAP",
    "mrr": "MRR",
}


def metric_label(name: str, labels: Mapping[str, str] | None = None) -> str:
    """The reader's name of a metric: the evaluation's own label where it gives one (``Evaluation.metric_labels``,
    which says what a ranking metric exactly is), else the usual name.

    >>> metric_label("log_loss"), metric_label("roc_auc"), metric_label("hit_rate")
    ('log-loss', 'ROC AUC', 'hit rate')
    >>> metric_label("ndcg"), metric_label("ndcg", {"ndcg": "ndcg@10 (exp gain)"})
    ('NDCG', 'ndcg@10 (exp gain)')
    """
    if labels and name in labels:
        return labels[name]
    return _LABELS.get(name, name.replace("_", " "))


def is_number(value: float | int | None) -> bool:
    """Whether ``value`` is a finite number (``None`` and NaN are missing)."""
    return value is not None and not isinstance(value, bool) and math.isfinite(value)


def fmt_number(value: float | int | None) -> str:
    """A metric value: three decimals below 10 (four below 0.01), fewer for larger values.

    >>> fmt_number(0.17), fmt_number(0.00123), fmt_number(12.345), fmt_number(1234.5678), fmt_number(float("nan"))
    ('0.170', '0.0012', '12.35', '1,234.6', 'n/a')
    >>> fmt_number(7), fmt_number(0.0)
    ('7', '0')
    """
    if value is None or not is_number(value):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    size = abs(value)
    if size == 0:
        return "0"
    if size < 0.01:
        return f"{value:.4f}" if size >= 1e-4 else f"{value:.2e}"
    if size < 10:
        return f"{value:.3f}"
    if size < 1000:
        return f"{value:.2f}"
    return f"{value:,.1f}" if size < 1e6 else f"{value:,.0f}"


def fmt_label(value: float | None) -> str:
    """A label: whole numbers without decimals (binary labels read 0 and 1), others as metrics.

    >>> fmt_label(1.0), fmt_label(0.0), fmt_label(23.75), fmt_label(None)
    ('1', '0', '23.75', 'n/a')
    """
    if value is not None and is_number(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return fmt_number(value)


def fmt_signed(value: float | None) -> str:
    """A difference with its sign, in fixed decimals so a column of them lines up.

    >>> fmt_signed(0.0312), fmt_signed(-0.00812), fmt_signed(-0.5), fmt_signed(0.0), fmt_signed(None)
    ('+0.031', '-0.008', '-0.500', '0', 'n/a')
    """
    if value is None or not is_number(value):
        return "n/a"
    size = abs(value)
    if size == 0:
        return "0"
    if size < 0.0005:
        return f"{value:+.1e}"
    if size < 10:
        return f"{value:+.3f}"
    return f"{value:+.2f}" if size < 1000 else f"{value:+,.1f}"


def fmt_interval(low: float | None, high: float | None) -> str:
    """A 95% interval in brackets, or an empty string when there is none.

    >>> fmt_interval(0.168, 0.172), fmt_interval(None, None)
    ('[0.168, 0.172]', '')
    """
    if low is None or high is None or not (is_number(low) and is_number(high)):
        return ""
    return f"[{fmt_number(low)}, {fmt_number(high)}]"


def fmt_rate(value: float | None) -> str:
    """A rate in [0, 1] as a percentage.

    >>> fmt_rate(0.0523), fmt_rate(None)
    ('5.23%', 'n/a')
    """
    if value is None or not is_number(value):
        return "n/a"
    return f"{value:.1%}" if abs(value) >= 0.1 else f"{value:.2%}"


def fmt_percent_change(fraction: float | None) -> str:
    """A relative change (a fraction) as a signed percentage.

    >>> fmt_percent_change(0.112), fmt_percent_change(-0.05), fmt_percent_change(float("inf"))
    ('+11.2%', '-5.0%', 'n/a')
    """
    if fraction is None or not is_number(fraction):
        return "n/a"
    return f"{fraction:+.1%}"


def fmt_count(value: int | None) -> str:
    """A count with thousands separators.

    >>> fmt_count(12345), fmt_count(None)
    ('12,345', 'n/a')
    """
    return "n/a" if value is None else f"{value:,}"
