"""Holm and Benjamini-Hochberg against statsmodels.multipletests, plus the laws they obey."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from loopline import ExperimentError
from loopline.experiments import adjust_pvalues

P_VALUES = st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.05, 1.0])), min_size=1, max_size=30)


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
@pytest.mark.parametrize("seed", range(5))
def test_matches_statsmodels(ours: str, theirs: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.05, 8), rng.uniform(0, 1, 12), [0.02, 0.02, 0.0, 1.0]])
    rng.shuffle(p)
    result = adjust_pvalues(p, method=ours, alpha=0.05)  # type: ignore[arg-type]
    rejected, adjusted, _, _ = multipletests(p, alpha=0.05, method=theirs)
    np.testing.assert_allclose(result.adjusted, adjusted, rtol=0, atol=1e-12)
    assert result.rejected == tuple(bool(r) for r in rejected)
    assert result.p_values == tuple(p)


@given(P_VALUES)
def test_adjusted_p_values_obey_their_laws(p: list[float]) -> None:
    holm = np.array(adjust_pvalues(p, method="holm").adjusted)
    bh = np.array(adjust_pvalues(p, method="bh").adjusted)
    raw = np.array(p)
    assert np.all(raw <= holm + 1e-15) and np.all(holm <= 1)
    assert np.all(raw <= bh + 1e-15) and np.all(bh <= holm + 1e-15)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(holm[order]) >= 0) and np.all(np.diff(bh[order]) >= 0)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)  # statsmodels' Holm takes ~40 ms a call
@given(P_VALUES)
def test_matches_statsmodels_on_any_input(p: list[float]) -> None:
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        np.testing.assert_allclose(adjust_pvalues(p, method=ours).adjusted,  # type: ignore[arg-type]
                                   multipletests(p, method=theirs)[1], rtol=0, atol=1e-12)


def test_names_travel_with_the_values() -> None:
    result = adjust_pvalues([0.001, 0.2], names=["ctr", "revenue"])
    assert result.names == ("ctr", "revenue")
    assert result.to_dict()["rejected"] == [True, False]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: adjust_pvalues([0.1, 1.2]), "every p-value must lie in [0, 1]; got [1.2]"),
    (lambda: adjust_pvalues([0.1, float("nan")]), "every p-value must lie in [0, 1]"),
    (lambda: adjust_pvalues([]), "expected a non-empty list of p-values"),
    (lambda: adjust_pvalues([0.1], method="hs"), "method: expected 'holm' or 'bh'"),
    (lambda: adjust_pvalues([0.1], names=["a", "b"]), "names: expected 1 names"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
