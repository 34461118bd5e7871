"""Importance, explanations of extreme rows and the most confident mistakes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline._errors import EvaluationError
from loopline.evaluation._explain import (
    explain_rows,
    extreme_rows,
    mistake_rows,
    mistakes,
    signed_coefficients,
    top_importance,
)
from loopline.models._types import Explanation
from tests.evaluation.fakes import FakeModel, binary_frame, good_binary


def test_importance_is_sorted_by_magnitude_and_capped_at_30() -> None:
    coef = {f"f{i}": float(i) * (-1) ** i for i in range(40)}
    model = FakeModel("m", lambda f: np.zeros(len(f)), coef=coef)
    model.importance = lambda: coef  # type: ignore[method-assign]
    found = top_importance(model)
    assert len(found) == 30
    assert found[0] == ("f39", -39.0) and found[1] == ("f38", 38.0)
    assert top_importance(FakeModel("none", lambda f: np.zeros(len(f)))) == []


def test_extreme_rows_are_five_highest_then_five_lowest() -> None:
    score = np.array([0.5, 0.9, 0.1, 0.95, 0.2, 0.8, 0.3, 0.7, 0.05, 0.6, 0.4, 0.65])
    assert extreme_rows(score).tolist() == [3, 1, 5, 7, 11, 8, 2, 4, 6, 10]
    assert sorted(extreme_rows(score[:6]).tolist()) == [0, 1, 2, 3, 4, 5]  # no row twice


def test_explanations_keep_the_six_largest_contributions() -> None:
    frame = pd.DataFrame({f"x{i}": np.arange(3.0) + i for i in range(8)})
    model = FakeModel("m", lambda f: np.zeros(len(f)), coef={f"x{i}": (-1) ** i * i for i in range(8)})
    rows = np.array([2, 0])
    found = explain_rows(model, frame, rows, np.array([0.1, 0.2, 0.3]), [1.0, 0.0])
    assert [e.row for e in found] == [2, 0]
    assert (found[0].prediction, found[0].label) == (0.3, 1.0)
    assert [name for name, _ in found[0].contributions] == ["x7", "x6", "x5", "x4", "x3", "x2"]
    assert found[0].contributions[0] == ("x7", -7.0 * 9.0)


def test_a_model_that_cannot_explain_gives_no_explanations() -> None:
    frame = binary_frame(50)
    assert explain_rows(FakeModel("m", lambda f: np.zeros(len(f))), frame, np.array([1]), np.zeros(50), [0.0]) == []


def test_malformed_contributions_name_the_model() -> None:
    frame = binary_frame(20)
    model = good_binary()
    model.explain = lambda f: Explanation(("a", "b"), np.zeros((len(f), 3)), np.zeros(len(f)))  # type: ignore[method-assign,assignment]
    with pytest.raises(EvaluationError, match=r"model 'good' explained 2 rows with contributions of shape \(2, 3\)"):
        explain_rows(model, frame, np.array([0, 1]), np.zeros(20), [0.0, 1.0])


def test_binary_mistakes_are_wrong_decisions_most_confident_first() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    p = np.array([0.95, 0.2, 0.05, 0.9, 0.55, 0.45, 0.6, 0.3])
    rows, size = mistake_rows("binary", y.astype(float), p, threshold=0.5, count=10)
    assert rows.tolist() == [0, 2, 7, 6, 4, 5]  # ties keep row order
    assert size.tolist() == pytest.approx([0.95, 0.95, 0.7, 0.6, 0.55, 0.55])


def test_regression_and_multiclass_mistakes() -> None:
    rows, _ = mistake_rows("regression", np.array([1.0, 2.0, 3.0]), np.array([1.5, 0.0, 3.1]), threshold=0.5)
    assert rows.tolist() == [1, 0, 2]
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1]])
    rows, size = mistake_rows("multiclass", np.array([0, 0, 0, 1]).astype(float), proba, threshold=0.5)
    assert rows.tolist() == [1, 2] and size.tolist() == pytest.approx([0.9, 0.6])


def test_mistake_values_follow_the_largest_contributions_then_the_inputs() -> None:
    frame = binary_frame(400, seed=1)
    model = good_binary(coef={"x2": -0.8, "x1": 1.2})
    y = frame["label"].to_numpy(dtype=float)
    p = model.predict(frame)
    found = mistakes(model, frame, "binary", y, p, threshold=0.4, label="label")
    assert len(found) == 10
    confidence = [abs(m.label - m.prediction) for m in found]
    assert confidence == sorted(confidence, reverse=True)
    for m in found:
        assert m.prediction == p[m.row] and m.label == y[m.row]
        contrib = {"x1": abs(1.2 * frame["x1"].iloc[m.row]), "x2": abs(0.8 * frame["x2"].iloc[m.row])}
        assert list(m.values) == [*sorted(contrib, key=lambda c: -contrib[c]), "plan"]
        assert m.values["plan"] == frame["plan"].iloc[m.row]


def test_mistake_values_without_explanations_are_the_first_columns_at_most_eight() -> None:
    frame = pd.DataFrame({f"c{i}": [float(i), np.nan] for i in range(12)} | {"label": [1, 0]})
    model = FakeModel("m", lambda f: np.array([0.1, 0.9]))
    found = mistakes(model, frame, "binary", np.array([1.0, 0.0]), np.array([0.1, 0.9]), threshold=0.5, label="label")
    assert [list(m.values) for m in found] == [[f"c{i}" for i in range(8)]] * 2
    assert found[0].values["c3"] == "3" and found[1].values["c3"] == "(missing)"


def test_mistakes_carry_the_entity_id_when_the_spec_names_one() -> None:
    frame = binary_frame(200, seed=2).assign(user=lambda f: [f"u{i}" for i in range(len(f))])
    model = good_binary()
    y = frame["label"].to_numpy(dtype=float)
    found = mistakes(model, frame, "binary", y, model.predict(frame), threshold=0.4, label="label", entity="user")
    assert found and all(m.entity == f"u{m.row}" for m in found)
    plain = mistakes(model, frame, "binary", y, model.predict(frame), threshold=0.4, label="label")
    assert all(m.entity is None for m in plain)


def test_a_linear_model_shows_signed_coefficients_on_its_standardized_inputs() -> None:
    from sklearn.linear_model import LogisticRegression

    from loopline.models import train_candidates
    from tests.models.samples import make_spec, make_splits

    splits = make_splits("binary", 3000)
    model = train_candidates(splits, make_spec("binary", models={"candidates": ["linear"]}))[0]
    found = dict(signed_coefficients(model))
    scorer: Any = getattr(model, "scorer")  # noqa: B009
    names = list(scorer.preprocessor.feature_names_out_)
    assert set(found) == set(names) and len(found) <= 30
    assert [abs(v) for v in found.values()] == sorted((abs(v) for v in found.values()), reverse=True)
    # the label rises with x1 and with red, and not with blue or green (signal = 1.2 x1 + 0.8 x2 + red)
    red = next(n for n in names if "red" in n)
    green = next(n for n in names if "green" in n)
    assert found["x1"] > 0 and found[red] > 0 > found[green]
    # the same numbers as scikit-learn's logistic regression on the preprocessed (standardized) matrix
    x = scorer.preprocessor.transform(splits.train)
    assert np.asarray(x[:, names.index("x1")]).std() == pytest.approx(1.0, abs=0.01)
    assert [found[n] for n in names] == scorer.coef[0].tolist()
    # the numeric inputs' coefficients as scikit-learn fits them on that matrix (one-hot ones are only
    # identified up to a shift shared with the intercept, so they are compared by their differences)
    reference = LogisticRegression(C=model.params["C"], max_iter=5000, tol=1e-8).fit(x, splits.train["y"]).coef_[0]
    for name in ("x1", "noise"):
        assert found[name] == pytest.approx(reference[names.index(name)], abs=0.01)
    assert found[red] - found[green] == pytest.approx(reference[names.index(red)] - reference[names.index(green)],
                                                      abs=0.01)
    assert signed_coefficients(good_binary()) == []  # not a linear model
