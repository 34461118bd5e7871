"""Explanations add up to the raw score and are grouped by source column; importance by source column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.special import expit

from tests.models.conftest import Trained
from tests.models.samples import FEATURES


@pytest.mark.parametrize("task", ["binary", "regression", "ranking", "multiclass"])
def test_lightgbm_contributions_sum_to_the_booster_raw_score(task: str, trained: Callable[[str], Trained]) -> None:
    found = trained(task)
    model: Any = found.models["lightgbm"]
    rows = found.splits.test.iloc[:80]
    explained = model.explain(rows)
    assert set(explained.features) == set(FEATURES) and explained.contributions.shape == (80, 4)
    raw = model.scorer.booster.predict(model.scorer.preprocessor.transform(rows), raw_score=True)
    if task == "multiclass":  # the predicted class's margin
        raw = raw[np.arange(80), np.argmax(model.predict(rows), axis=1)]
    assert np.allclose(explained.base + explained.contributions.sum(axis=1), raw, rtol=0, atol=1e-6)
    if task in ("regression", "ranking"):
        assert np.allclose(explained.base + explained.contributions.sum(axis=1), model.predict(rows), atol=1e-6)


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_linear_contributions_are_coefficient_times_input(task: str, trained: Callable[[str], Trained]) -> None:
    found = trained(task)
    model: Any = found.models["linear"]
    rows = found.splits.test.iloc[:50]
    explained = model.explain(rows)
    scorer = model.scorer
    x = scorer.preprocessor.transform(rows)
    k = np.argmax(model.predict(rows), axis=1) if task == "multiclass" else np.zeros(50, dtype=int)
    sources = np.array(scorer.preprocessor.source_columns_)
    assert (sources == "colour").sum() > 1  # one-hot columns ...
    for j, name in enumerate(explained.features):  # ... summed back to their source column
        expected = (x[:, sources == name] * scorer.coef[k][:, sources == name]).sum(axis=1)
        assert np.allclose(explained.contributions[:, j], expected, atol=1e-12), name
    assert np.allclose(explained.base, scorer.intercept[k])
    total = explained.base + explained.contributions.sum(axis=1)
    if task == "binary":
        assert model.calibration is None
        assert np.allclose(expit(total), model.predict(rows), atol=1e-12)
    elif task == "regression":
        assert np.allclose(total, model.predict(rows), atol=1e-9)
    else:
        assert np.allclose(total, model.raw_score(rows)[np.arange(50), k], atol=1e-9)


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass", "ranking"])
def test_importance_is_grouped_normalised_and_sensible(task: str, trained: Callable[[str], Trained]) -> None:
    for name in ("linear", "lightgbm"):
        importance = trained(task).models[name].importance()
        assert importance is not None and set(importance) == set(FEATURES)
        assert abs(sum(importance.values()) - 1) < 1e-9 and min(importance.values()) >= 0
        assert max(importance, key=lambda k: importance[k]) == "x1", (name, importance)
        assert importance["noise"] < importance["x2"], (name, importance)
