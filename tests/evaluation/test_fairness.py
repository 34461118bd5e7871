"""Fairness per group, cross-checked against a direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline.evaluation._fairness import fairness


def test_group_rates_and_differences_match_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    group = pd.Series(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]))
    p = np.clip(rng.beta(2, 3, n) + np.where(group == "a", 0.15, 0.0), 0, 1)
    y = (rng.random(n) < p).astype(float)
    found = fairness("country", group, y, p, 0.4)

    direct = pd.DataFrame({"g": group, "y": y, "p": p, "s": p >= 0.4}).groupby("g").agg(
        rows=("y", "size"), selection=("s", "mean"),
        tpr=("s", lambda s: s[y[s.index] == 1].mean()), fpr=("s", lambda s: s[y[s.index] == 0].mean()),
        ratio=("p", lambda q: q.sum() / y[q.index].sum()))
    assert found.attribute == "country"
    assert [g.group for g in found.groups] == ["a", "b", "c"]
    for g in found.groups:
        row = direct.loc[g.group]
        assert g.rows == row.rows and g.selection_rate == pytest.approx(row.selection)
        assert g.true_positive_rate == pytest.approx(row.tpr)
        assert g.false_positive_rate == pytest.approx(row.fpr)
        assert g.calibration_ratio == pytest.approx(row.ratio)
    assert found.demographic_parity_difference == pytest.approx(direct.selection.max() - direct.selection.min())
    assert found.equalized_odds_difference == pytest.approx(
        max(direct.tpr.max() - direct.tpr.min(), direct.fpr.max() - direct.fpr.min()))
    assert found.demographic_parity_difference > 0.1  # group a is favoured by construction


def test_a_group_without_positives_has_no_tpr_and_is_left_out_of_the_tpr_range() -> None:
    group = pd.Series(["a", "a", "a", "a", "b", "b"])
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.1])
    found = fairness("g", group, y, p, 0.5)
    b = found.groups[1]
    assert (b.true_positive_rate, b.calibration_ratio, b.false_positive_rate) == (None, None, 0.5)
    assert found.equalized_odds_difference == pytest.approx(0.0)  # FPR 0.5 in both; TPR only in a
    assert found.demographic_parity_difference == 0.0
