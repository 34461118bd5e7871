"""Multiclass metrics against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from loopline._errors import EvaluationError
from loopline.evaluation import compute_metrics
from loopline.evaluation._multiclass import MulticlassScorer

CLASSES = ("cat", "dog", "emu", "fox")


def _data(seed: int, n: int = 600, c: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(c, p=row) for row in proba])
    return y, proba


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 2, 10])
def test_metrics_equal_sklearn(seed: int, k: int) -> None:
    index, proba = _data(seed)
    y = np.array(CLASSES, dtype=object)[index]
    m = compute_metrics("multiclass", y, proba, classes=CLASSES, k=k)
    predicted = np.array(CLASSES, dtype=object)[proba.argmax(axis=1)]
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=list(CLASSES)), abs=1e-9)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted), abs=1e-9)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, predicted, average="macro"), abs=1e-9)
    used_k = min(k, len(CLASSES) - 1)  # the documented choice: never all classes
    assert m["top_k_accuracy"] == pytest.approx(
        skm.top_k_accuracy_score(y, proba, k=used_k, labels=list(CLASSES)), abs=1e-9)


def test_macro_f1_skips_classes_never_seen_nor_predicted_like_sklearn() -> None:
    index, proba = _data(2, c=4)
    proba[:, 3] = 0.0  # class 3 never predicted ...
    proba /= proba.sum(axis=1, keepdims=True)
    keep = index != 3  # ... and never in the labels
    m = compute_metrics("multiclass", index[keep], proba[keep], classes=[0, 1, 2, 3])
    assert m["macro_f1"] == pytest.approx(skm.f1_score(index[keep], proba[keep].argmax(axis=1), average="macro"))


def test_integer_labels_without_classes_are_column_indices() -> None:
    index, proba = _data(3)
    a = compute_metrics("multiclass", index, proba)
    b = compute_metrics("multiclass", np.array(CLASSES, dtype=object)[index], proba, classes=CLASSES)
    assert a == pytest.approx(b)


def test_weights_equal_repeated_rows() -> None:
    index, proba = _data(4, n=200)
    counts = np.random.default_rng(0).poisson(1.0, 200)
    weighted = MulticlassScorer(index, proba, k=2).compute(counts.astype(float))
    repeated = compute_metrics("multiclass", np.repeat(index, counts), np.repeat(proba, counts, axis=0),
                               classes=[0, 1, 2, 3], k=2)
    assert weighted == pytest.approx(repeated, abs=1e-12)


def test_unknown_label_names_the_classes() -> None:
    _, proba = _data(5, n=3)
    with pytest.raises(EvaluationError, match=r"include yak, which the model does not know .*cat, dog, emu, fox"):
        compute_metrics("multiclass", np.array(["cat", "yak", "dog"], dtype=object), proba, classes=CLASSES)


def test_wrong_prediction_shape_is_refused() -> None:
    with pytest.raises(EvaluationError, match=r"shape \(3,\).*expected \(rows, classes\)"):
        compute_metrics("multiclass", np.array([0, 1, 2]), np.array([0.2, 0.3, 0.5]))
