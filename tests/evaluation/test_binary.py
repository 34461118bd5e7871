"""Binary metrics against scikit-learn, naive oracles, and invariances."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from sklearn import metrics as skm

from loopline._errors import EvaluationError
from loopline.evaluation import compute_metrics
from loopline.evaluation._binary import BinaryScorer, confusion, ece_bins
from loopline.spec import METRICS


def _data(seed: int, n: int = 700, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    y = (rng.random(n) < p).astype(int)
    if ties:
        p = np.round(p, 1)  # many tied scores, some exactly on the threshold and on bin edges
    return y, p


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_metrics_equal_sklearn(seed: int, ties: bool, threshold: float) -> None:
    y, p = _data(seed, ties=ties)
    m = compute_metrics("binary", y, p, threshold=threshold)
    chosen = (p >= threshold).astype(int)
    expected = {
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
        "precision": skm.precision_score(y, chosen),
        "recall": skm.recall_score(y, chosen),
        "f1": skm.f1_score(y, chosen),
        "accuracy": skm.accuracy_score(y, chosen),
    }
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1e-9), name
    tn, fp, fn, tp = skm.confusion_matrix(y, chosen).ravel()
    assert confusion(y, p, threshold) == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def test_every_binary_metric_is_computed_in_spec_order() -> None:
    y, p = _data(0)
    assert tuple(compute_metrics("binary", y, p)) == METRICS["binary"]
    assert list(compute_metrics("binary", y, p, names=["f1", "roc_auc"])) == ["f1", "roc_auc"]


def _oracle_bin(p: float) -> int:
    """Bin k of [k/10, (k+1)/10), the last one closed, for the decimal a float stands for (its repr)."""
    return min(math.floor(Fraction(repr(float(p))) * 10), 9)


def _ece_oracle(y: np.ndarray, p: np.ndarray) -> float:
    """Sum over bins of |sum of (p - y)| / n, in exact rational arithmetic."""
    gaps: dict[int, Fraction] = {}
    for label, prob in zip(y.tolist(), p.tolist(), strict=True):
        k = _oracle_bin(prob)
        gaps[k] = gaps.get(k, Fraction(0)) + Fraction(prob) - Fraction(label)
    return float(sum(abs(g) for g in gaps.values()) / len(p))


def _edges_and_neighbours() -> np.ndarray:
    edges = [k / 10 for k in range(11)] + [float(f"0.{k}") for k in range(10)]
    near = [np.nextafter(e, -np.inf) for e in edges if e > 0] + [np.nextafter(e, np.inf) for e in edges if e < 1]
    return np.array(sorted(set(edges + near)))


def test_ece_bins_put_every_edge_where_the_rule_says() -> None:
    p = _edges_and_neighbours()
    assert ece_bins(p).tolist() == [_oracle_bin(v) for v in p]
    assert ece_bins(np.array([0.3, 0.6, 0.7, 1.0])).tolist() == [3, 6, 7, 9]
    assert ece_bins(np.array([np.nextafter(0.3, 0.0), np.nextafter(1.0, 0.0)])).tolist() == [2, 9]


def test_ece_at_exact_edges_counts_each_prediction_in_its_own_bin() -> None:
    # 0.25 belongs to [0.2, 0.3) and 0.3 to [0.3, 0.4): |0.25 - 0| + |0.3 - 1| over 2 rows.
    assert compute_metrics("binary", np.array([0, 1]), np.array([0.25, 0.3]))["ece"] == pytest.approx(0.475)
    rng = np.random.default_rng(5)
    p = rng.choice(_edges_and_neighbours(), 600)
    y = (rng.random(600) < p).astype(int)
    assert compute_metrics("binary", y, p)["ece"] == pytest.approx(_ece_oracle(y, p), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_ece_equals_slow_loop(ties: bool) -> None:
    y, p = _data(3, ties=ties)
    p = np.r_[p, 0.0, 1.0, 0.1, 0.9]
    y = np.r_[y, 0, 1, 1, 0]
    assert compute_metrics("binary", y, p)["ece"] == pytest.approx(_ece_oracle(y, p), abs=1e-12)


def test_normalized_entropy_and_calibration_ratio_by_formula() -> None:
    y, p = _data(4)
    m = compute_metrics("binary", y, p)
    rate = y.mean()
    assert m["normalized_entropy"] == pytest.approx(
        skm.log_loss(y, p) / -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate)), abs=1e-12)
    assert m["calibration_ratio"] == pytest.approx(p.sum() / y.sum(), abs=1e-12)


def test_predicting_the_label_rate_has_normalized_entropy_one() -> None:
    y, _ = _data(5)
    m = compute_metrics("binary", y, np.full(len(y), y.mean()))
    assert m["normalized_entropy"] == pytest.approx(1.0, abs=1e-12)
    assert m["roc_auc"] == 0.5
    assert m["calibration_ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize("ties", [False, True])
def test_row_order_does_not_change_any_metric(ties: bool) -> None:
    y, p = _data(6, ties=ties)
    order = np.random.default_rng(1).permutation(len(y))
    a = compute_metrics("binary", y, p)
    b = compute_metrics("binary", y[order], p[order])
    for name in a:
        assert a[name] == pytest.approx(b[name], abs=1e-12), name


def test_auc_unchanged_by_a_monotone_transform() -> None:
    y, p = _data(7, ties=True)
    squashed = p**3 / 2 + 0.1
    assert compute_metrics("binary", y, squashed, names=["roc_auc", "pr_auc"]) == pytest.approx(
        compute_metrics("binary", y, p, names=["roc_auc", "pr_auc"]), abs=1e-12)


def test_auc_equals_pairwise_count() -> None:
    y, p = _data(8, n=150, ties=True)
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert compute_metrics("binary", y, p)["roc_auc"] == pytest.approx(pairs / (len(pos) * len(neg)), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_weights_equal_repeated_rows(ties: bool) -> None:
    """A bootstrap resample is a weighting: counts as weights equal the metrics of the repeated rows."""
    y, p = _data(9, n=300, ties=ties)
    counts = np.random.default_rng(2).poisson(1.0, len(y))
    weighted = BinaryScorer(y.astype(float), p, threshold=0.4).compute(counts.astype(float))
    repeated = compute_metrics("binary", np.repeat(y, counts), np.repeat(p, counts), threshold=0.4)
    for name in repeated:
        assert weighted[name] == pytest.approx(repeated[name], abs=1e-12), name


def test_a_score_on_the_threshold_is_positive() -> None:
    m = compute_metrics("binary", np.array([0, 1, 1]), np.array([0.2, 0.5, 0.7]), threshold=0.5)
    assert m["recall"] == 1.0 and m["precision"] == 1.0


def test_nothing_predicted_positive_gives_precision_zero_like_sklearn() -> None:
    m = compute_metrics("binary", np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert m["precision"] == 0.0 and m["f1"] == 0.0 and m["recall"] == 0.0


def test_log_loss_of_certain_predictions_is_clipped_like_sklearn() -> None:
    y, p = np.array([0, 1, 1, 0]), np.array([0.0, 1.0, 0.0, 0.3])
    assert compute_metrics("binary", y, p)["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=1e-9)


def test_one_class_refuses_auc_with_a_clear_message() -> None:
    with pytest.raises(EvaluationError, match=r"only one class, 0 \(negative\), in all 3 rows.*roc_auc, pr_auc"):
        compute_metrics("binary", np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    # metrics that stay defined can still be asked for
    assert compute_metrics("binary", np.array([0, 0]), np.array([0.5, 0.5]), names=["brier"]) == {"brier": 0.25}


def test_all_positive_labels_still_have_average_precision() -> None:
    with pytest.raises(EvaluationError, match=r"1 \(positive\).*roc_auc, normalized_entropy"):
        compute_metrics("binary", np.array([1, 1]), np.array([0.2, 0.9]))
    assert compute_metrics("binary", np.array([1, 1]), np.array([0.2, 0.9]), names=["pr_auc"]) == {"pr_auc": 1.0}


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "binary labels of the data must be 0/1, got values like 2"),
        ([0, 1], [0.1, 0.2, 0.3], "returned 3 predictions for the 2 rows of the data"),
        ([0, 1], [0.1, np.nan], "NaN or infinite predictions for 1 of 2 rows"),
        ([0, 1], [0.1, 1.5], r"outside \[0, 1\]"),
        ([0, np.nan], [0.1, 0.2], "missing in 1 of 2 rows"),
        ([], [], "no rows to evaluate"),
    ],
)
def test_bad_inputs_are_refused(y: list[float], p: list[float], message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        compute_metrics("binary", np.array(y), np.array(p))


def test_unknown_metric_names_the_choices() -> None:
    with pytest.raises(EvaluationError, match="'rmse' is not a binary metric; choose from log_loss, roc_auc"):
        compute_metrics("binary", np.array([0, 1]), np.array([0.2, 0.7]), names=["rmse"])


def test_boolean_labels_are_accepted() -> None:
    m = compute_metrics("binary", np.array([False, True, True]), np.array([0.2, 0.7, 0.6]))
    assert m["roc_auc"] == 1.0
