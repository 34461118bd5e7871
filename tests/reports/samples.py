"""Hand-built evaluations for the report tests: a binary one with every section, a small regression one.

The curves come from seeded data through scikit-learn so the pictures look like real ones; the
headline numbers are set by hand so the tests can assert their exact formatting.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve
from statsmodels.stats.proportion import proportion_confint

from loopline.data._types import SplitSummary
from loopline.evaluation import (
    Curve,
    Evaluation,
    FairnessSummary,
    GroupFairness,
    MetricValue,
    Mistake,
    ModelScores,
    PairedDifference,
    RowExplanation,
    SliceRow,
    TimePoint,
)

SPLITS = (
    SplitSummary("train", 30_000, "2024-01-01T00:00:00+00:00", "2024-02-29T23:59:00+00:00", 0.061, 4_100),
    SplitSummary("valid", 8_000, "2024-03-01T00:00:00+00:00", "2024-03-15T23:59:00+00:00", 0.058, 2_900),
    SplitSummary("test", 8_000, "2024-03-16T00:00:00+00:00", "2024-03-31T23:59:00+00:00", 0.055, 2_950),
)
WARNINGS = (
    "feature 'days_since_last_order' alone reaches ROC AUC 0.97 on validation: check it is known at prediction time.",
    "312 entities appear in both train and test <script>alert('x')</script>",
)
FACTS = {
    "model version": "7",
    "spec hash": "3f2a9c1b0d4e",
    "data fingerprint": "a91c0e7f55d2",
    "calibration": "isotonic",
    "AUC of simulator's true probabilities": "0.8123",
}


def _mv(value: float, half: float | None = None) -> MetricValue:
    if half is None:
        return MetricValue(value)
    return MetricValue(value, value - half, value + half)


def _binary_curves(seed: int = 0) -> dict[str, Curve]:
    rng = np.random.default_rng(seed)
    n = 4000
    score = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(score * 1.6 - 3.0)))
    y = (rng.random(n) < p).astype(int)
    fpr, tpr, roc_t = roc_curve(y, p)
    precision, recall, pr_t = precision_recall_curve(y, p)
    observed, predicted = calibration_curve(y, p, n_bins=20, strategy="quantile")
    counts = np.full(len(observed), n // len(observed))
    positives = np.round(observed * counts)
    low, high = proportion_confint(positives, counts, alpha=0.05, method="jeffreys")
    low, high = np.where(positives == 0, 0.0, low), np.where(positives == counts, 1.0, high)
    others = {"logistic": 1 / (1 + np.exp(-(score * 1.3 - 2.9 + rng.normal(0, 0.4, n)))),
              "constant": np.full(n, y.mean()),
              "heuristic": 1 / (1 + np.exp(-(score * 0.6 - 3.0 + rng.normal(0, 1.0, n))))}
    other_curves = {}
    for name, q in others.items():
        o_fpr, o_tpr, _ = roc_curve(y, q)
        o_precision, o_recall, _ = precision_recall_curve(y, q)
        other_curves[f"roc:{name}"] = Curve(x=o_fpr.tolist(), y=o_tpr.tolist())
        other_curves[f"pr:{name}"] = Curve(x=o_recall[::-1].tolist(), y=o_precision[::-1].tolist())
    thresholds = np.round(np.arange(1, 100) / 100, 2)
    cost = np.array([((p >= t) & (y == 0)).sum() * 1.0 + ((p < t) & (y == 1)).sum() * 5.0 for t in thresholds]) / n
    return {
        "roc": Curve(x=fpr.tolist(), y=tpr.tolist(), thresholds=np.minimum(roc_t, 1.0).tolist()),
        "pr": Curve(x=recall[::-1].tolist(), y=precision[::-1].tolist(),
                    thresholds=[1.0, *pr_t[::-1].tolist()]),
        "reliability": Curve(x=predicted.tolist(), y=observed.tolist(), counts=[int(c) for c in counts],
                             low=low.tolist(), high=high.tolist()),
        "cost": Curve(x=thresholds.tolist(), y=cost.tolist(), thresholds=thresholds.tolist()),
        **other_curves,
    }


def binary_evaluation() -> Evaluation:
    """A binary evaluation with every section filled."""
    model = ModelScores("lightgbm", "model", {
        "log_loss": _mv(0.170, 0.002), "roc_auc": _mv(0.7912, 0.011), "pr_auc": _mv(0.2431, 0.02),
        "brier": _mv(0.0483, 0.001), "ece": _mv(0.0041, 0.0012), "calibration_ratio": _mv(1.012, 0.03),
        "precision": _mv(0.311, 0.03), "recall": _mv(0.402, 0.03), "f1": _mv(0.351, 0.025),
        "accuracy": _mv(0.921, 0.006),
    })
    linear = ModelScores("logistic", "candidate", {
        "log_loss": _mv(0.1762, 0.002), "roc_auc": _mv(0.7711, 0.012), "pr_auc": _mv(0.2210, 0.02),
        "brier": _mv(0.0490, 0.001), "ece": _mv(0.0035, 0.0011), "calibration_ratio": _mv(0.996, 0.03),
        "precision": _mv(0.290, 0.03), "recall": _mv(0.380, 0.03), "f1": _mv(0.329, 0.025),
        "accuracy": _mv(0.925, 0.006),
    })
    constant = ModelScores("constant", "baseline", {
        "log_loss": _mv(0.1914, 0.0015), "roc_auc": _mv(0.5), "pr_auc": _mv(0.055, 0.003),
        "brier": _mv(0.0520, 0.001), "ece": _mv(0.0021, 0.001), "calibration_ratio": _mv(1.0, 0.02),
        "precision": _mv(float("nan")), "recall": _mv(0.0), "f1": _mv(0.0), "accuracy": _mv(0.945, 0.005),
    })
    heuristic = ModelScores("heuristic", "baseline", {
        "log_loss": _mv(0.2250, 0.004), "roc_auc": _mv(0.6412, 0.015), "pr_auc": _mv(0.1010, 0.01),
        "brier": _mv(0.0560, 0.001), "ece": _mv(0.0300, 0.004), "calibration_ratio": _mv(1.31, 0.05),
        "precision": _mv(0.150, 0.02), "recall": _mv(0.300, 0.03), "f1": _mv(0.200, 0.02),
        "accuracy": _mv(0.880, 0.007),
    })
    truth = ModelScores("true_probability", "reference", {
        "log_loss": _mv(0.1650), "roc_auc": _mv(0.8123), "pr_auc": _mv(0.2650),
    })
    slices = [
        SliceRow("plan", "basic", 4000, 0.071, {"log_loss": 0.2010}, 0.0310, 0.0190, 0.0440),
        SliceRow("plan", "pro", 2400, 0.041, {"log_loss": 0.1480}, -0.0220, -0.0390, -0.0060),
        SliceRow("plan", "team", 1600, 0.032, {"log_loss": 0.1290}, -0.0410, -0.0600, -0.0200),
        SliceRow("country", "de", 2000, 0.052, {"log_loss": 0.1690}, -0.0010, -0.0150, 0.0140),
        SliceRow("country", "us", 3000, 0.060, {"log_loss": 0.1820}, 0.0120, 0.0010, 0.0240),
        SliceRow("country", "(missing)", 12, 0.083, {"log_loss": 0.4100}, 0.2400, judged=False),
    ]
    return Evaluation(
        model="lightgbm", split="test", task="binary", rows=8000, primary_metric="log_loss",
        scores=[constant, model, heuristic, linear, truth],
        lift={
            "constant": {"log_loss": 0.112, "roc_auc": 0.5824, "pr_auc": 3.42, "brier": 0.0712},
            "heuristic": {"log_loss": 0.2444, "roc_auc": 0.2339, "pr_auc": 1.407, "brier": 0.1375},
        },
        threshold=0.2137,
        confusion={"tn": 7230, "fp": 330, "fn": 263, "tp": 177},
        curves=_binary_curves(),
        slices=slices,
        worst_slices=[slices[0], slices[4]],
        fairness=[
            FairnessSummary("gender", 0.0213, 0.0481, [
                GroupFairness("female", 4100, 0.061, 0.421, 0.041, 0.981),
                GroupFairness("male", 3700, 0.082, 0.389, 0.062, 1.034),
                GroupFairness("(missing)", 200, 0.070, None, 0.055, None),
            ]),
            FairnessSummary("age_band", 0.0455, None, [
                GroupFairness("<30", 2500, 0.090, 0.45, 0.07, 1.10),
                GroupFairness("30+", 5500, 0.0445, 0.37, 0.04, 0.97),
            ]),
        ],
        importance=[(f"feature_{i:02d}", 1000.0 / (i + 1)) for i in range(25)],
        explanations=[
            RowExplanation(101, 0.912, 1.0, [("tickets_30d", 1.21), ("tenure_months", -0.43), ("plan", 0.22)]),
            RowExplanation(2044, 0.013, 0.0, [("tenure_months", -1.62), ("tickets_30d", -0.31), ("country", 0.05)]),
            RowExplanation(5120, 0.480, None, [("plan", 0.61), ("tickets_30d", 0.12)]),
        ],
        mistakes=[
            Mistake(7001 + i, 0.97 - i * 0.02, 0.0,
                    {"plan": "basic", "tickets_30d": str(9 - i), **({"country": "us"} if i % 3 else {"tenure": "4"})},
                    entity=f"cust-{4410 + 7 * i}")
            for i in range(14)
        ],
        over_time=[TimePoint(f"2024-03-{16 + 2 * i:02d}", 1000, 0.165 + 0.002 * i, f"2024-03-{17 + 2 * i:02d}",
                             0.155 + 0.002 * i, 0.176 + 0.002 * i) for i in range(8)],
        champion=PairedDifference("champion v3", "log_loss", 0.170, 0.1762, 0.0062, 0.0031, 0.0094),
    )


def regression_evaluation() -> Evaluation:
    """A regression evaluation with few sections: metrics, lift and importance only."""
    return Evaluation(
        model="linear", split="test", task="regression", rows=1234, primary_metric="rmse",
        scores=[
            ModelScores("linear", "model", {"rmse": _mv(12.34, 0.41), "mae": _mv(9.02, 0.3), "r2": _mv(0.412, 0.02)}),
            ModelScores("mean", "baseline", {"rmse": _mv(16.1, 0.5), "mae": _mv(12.9, 0.4), "r2": _mv(0.0)}),
        ],
        lift={"mean": {"rmse": 0.2335, "mae": 0.3008}},
        importance=[("size_m2", 4.2), ("age_years", -1.3), ("rooms", 0.8)],
        coefficients=[("size_m2", 9.1), ("age_years", -3.4), ("rooms", 1.2), ("district=north", -0.7)],
        curves={"predicted_actual": _regression_points()},
    )


def _regression_points(n: int = 600, seed: int = 0) -> Curve:
    rng = np.random.default_rng(seed)
    predicted = rng.normal(60.0, 15.0, n)
    return Curve(x=predicted.tolist(), y=(predicted + rng.normal(0, 12.0, n)).tolist())


# Section ids of the page, in order; the summary box is always there.
ALL_SECTIONS = ("warnings", "facts", "metrics", "lift", "splits", "curves", "reliability", "threshold", "slices",
                "fairness", "importance", "explanations", "mistakes", "over-time")
