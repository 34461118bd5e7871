"""Binned distributions: the grid against numpy's quantiles and a repeat-the-rows oracle, counts against a
naive loop, chunked counting, the JSON round trip and the errors."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline import FeatureError
from loopline import _json as loopline_json
from loopline.features import _binning
from loopline.features._binning import Binned, bin_values, grid_edges, merge


def _naive_counts(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> list[float]:
    """One value at a time, straight from the definition in Binned's docstring."""
    m = len(edges) - 1
    counts = [0.0] * (m + 2)
    for i, v in enumerate(values):
        if np.isnan(v):
            continue
        w = 1.0 if weights is None else float(weights[i])
        if v < edges[0]:
            counts[0] += w
        elif v > edges[-1]:
            counts[m + 1] += w
        elif v == edges[-1]:
            counts[m] += w
        else:
            cell = next(j for j in range(1, m + 1) if edges[j - 1] <= v < edges[j])
            counts[cell] += w
    return counts


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_binning)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("cells", [1, 7, 100, 1000])
def test_unweighted_grid_is_numpys_inverted_cdf_quantiles_deduplicated(cells: int) -> None:
    rng = np.random.default_rng(cells)
    for values in (rng.normal(size=2500), rng.poisson(3.0, 2500).astype(float), rng.lognormal(size=17)):
        expected = np.unique(np.quantile(values, np.linspace(0, 1, cells + 1), method="inverted_cdf"))
        got = grid_edges(values, cells=cells)
        if expected.size == 1:
            expected = np.repeat(expected, 2)
        np.testing.assert_array_equal(got, expected)
        assert got[0] == values.min() and got[-1] == values.max()


def test_weighted_grid_equals_the_grid_of_rows_repeated_by_integer_weights() -> None:
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=400), 1)  # ties on purpose
    weights = rng.integers(0, 6, size=400).astype(float)
    repeated = np.repeat(values, weights.astype(int))
    for cells in (5, 50, 1000):
        np.testing.assert_array_equal(grid_edges(values, cells=cells, weights=weights),
                                      grid_edges(repeated, cells=cells))


def test_ties_become_one_edge_and_few_distinct_values_give_their_values() -> None:
    values = np.array([0.0] * 900 + [1.0, 2.0, 3.0] * 30 + [np.nan] * 50)
    assert grid_edges(values).tolist() == [0.0, 1.0, 2.0, 3.0]
    binned = bin_values(values, grid_edges(values))
    assert binned.counts.tolist() == [0.0, 900.0, 30.0, 60.0, 0.0]
    assert grid_edges(np.array([2.5, np.nan, np.inf, 2.5])).tolist() == [2.5, 2.5]


def test_binning_matches_a_naive_loop_including_edges_tails_nan_and_infinity() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(size=300)
    edges = grid_edges(reference, cells=20)
    values = np.concatenate([rng.normal(scale=1.5, size=500), edges, [np.nan, np.inf, -np.inf, edges[-1]]])
    binned = bin_values(values, edges)
    assert binned.counts.tolist() == _naive_counts(values, edges)
    assert binned.n == binned.n_eff == values.size - 1
    weights = rng.uniform(0.0, 3.0, values.size)
    weighted = bin_values(values, edges, weights=weights)
    np.testing.assert_allclose(weighted.counts, _naive_counts(values, edges, weights), rtol=1e-12)
    present = ~np.isnan(values)
    kish = weights[present].sum() ** 2 / (weights[present] ** 2).sum()
    assert weighted.n_eff == pytest.approx(kish, rel=1e-12)


def test_constant_grid_counts_below_at_and_above_the_value() -> None:
    binned = bin_values(np.array([1.0, 2.0, 2.0, 3.0]), np.array([2.0, 2.0]))
    assert binned.counts.tolist() == [1.0, 2.0, 1.0]
    assert binned.cdf_at_edges().tolist() == [0.25, 0.75]


def test_cdf_at_edges_is_the_share_below_each_edge_and_at_or_below_the_last() -> None:
    rng = np.random.default_rng(3)
    values = rng.exponential(size=1000)
    edges = grid_edges(values[:300], cells=10)
    cdf = bin_values(values, edges).cdf_at_edges()
    expected = [np.mean(values < e) for e in edges[:-1]] + [np.mean(values <= edges[-1])]
    np.testing.assert_allclose(cdf, expected, rtol=1e-12)


def test_chunks_merged_equal_the_whole_window() -> None:
    rng = np.random.default_rng(4)
    values = rng.gamma(2.0, size=3000)
    weights = rng.uniform(0.5, 10.0, 3000)
    edges = grid_edges(values[:1000], cells=50)
    whole = bin_values(values, edges)
    parts = [bin_values(chunk, edges) for chunk in np.array_split(values, 3)]
    merged = merge(merge(parts[0], parts[1]), parts[2])
    assert merged == whole and merged.n_eff == 3000.0
    weighted_whole = bin_values(values, edges, weights=weights)
    weighted = merge(bin_values(values[:1700], edges, weights=weights[:1700]),
                     bin_values(values[1700:], edges, weights=weights[1700:]))
    np.testing.assert_allclose(weighted.counts, weighted_whole.counts, rtol=1e-12)
    assert weighted.n_eff == pytest.approx(weighted_whole.n_eff, rel=1e-12)
    assert weighted.n_eff < 3000  # Kish: unequal weights lower the effective size


def test_merging_an_empty_chunk_changes_nothing() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    full = bin_values(np.array([0.5, 1.5, 1.5]), edges, weights=np.array([1.0, 2.0, 2.0]))
    empty = bin_values(np.array([np.nan]), edges)
    assert empty.n == empty.n_eff == 0.0
    assert merge(full, empty) == full


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60), st.integers(1, 30),
       st.integers(0, 60))
def test_counts_add_up_and_chunking_never_matters(values: list[float], cells: int, cut: int) -> None:
    x = np.array(values)
    edges = grid_edges(x, cells=cells)
    whole = bin_values(x, edges)
    assert whole.n == x.size and whole.counts[0] == 0.0 and whole.counts[-1] == 0.0  # the grid spans the data
    assert merge(bin_values(x[:cut], edges), bin_values(x[cut:], edges)) == whole
    assert np.all(np.diff(whole.cdf_at_edges()) >= 0) and whole.cdf_at_edges()[-1] == 1.0


def test_json_round_trip_is_exact() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=2000) / 3.0
    weights = rng.uniform(0.1, 10.0, 2000)
    binned = bin_values(values, grid_edges(values, weights=weights), weights=weights)
    for text in (json.dumps(binned.to_dict()), loopline_json.dumps(binned.to_dict())):
        back = Binned.from_dict(json.loads(text))
        assert back == binned
        assert back.edges.tobytes() == binned.edges.tobytes() and back.n_eff == binned.n_eff
    assert hash(back) == hash(binned)


def test_arrays_are_read_only_copies() -> None:
    edges = np.array([0.0, 1.0])
    counts = np.array([0.0, 2.0, 0.0])
    binned = Binned(edges, counts, 2.0)
    counts[1] = 5.0
    assert binned.counts[1] == 2.0
    with pytest.raises(ValueError, match="read-only"):
        binned.counts[1] = 3.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: Binned(np.array([0.0, 2.0, 1.0]), np.zeros(4), 0.0),
     "Binned edges: expected strictly increasing edges (only a constant column may use [v, v]), got 2.0 then "
     "1.0 at positions 1 and 2."),
    (lambda: Binned(np.array([0.0, 1.0, 1.0]), np.zeros(4), 0.0), "got 1.0 then 1.0 at positions 1 and 2"),
    (lambda: Binned(np.array([1.0]), np.zeros(2), 0.0), "expected a flat list of at least 2 increasing numbers"),
    (lambda: Binned(np.array([0.0, np.inf]), np.zeros(3), 0.0), "Binned edges: expected finite numbers, got inf"),
    (lambda: Binned(np.array([0.0, 1.0]), np.zeros(4), 0.0),
     "Binned counts: expected len(edges) + 1 = 3 counts (below the first edge, one per cell, above the last "
     "edge), got shape (4,)."),
    (lambda: Binned(np.array([0.0, 1.0]), np.array([1.0, -2.0, 0.0]), 1.0),
     "Binned counts: expected finite counts >= 0, got -2.0 at position 1."),
    (lambda: Binned(np.array([0.0, 1.0]), np.array([1.0, 2.0, 0.0]), 0.0), "> 0 when the counts hold mass"),
    (lambda: Binned.from_dict({"edges": [0.0, 1.0], "counts": [0, 1, 0]}), "missing ['n_eff']"),
    (lambda: bin_values(np.array([1.0, 2.0]), np.array([3.0, 2.0])), "bin_values edges: expected strictly"),
    (lambda: bin_values(np.array([1.0, 2.0]), np.array([0.0, 3.0]), weights=np.array([1.0])),
     "bin_values weights: expected one weight per value (2), got 1."),
    (lambda: bin_values(np.array([1.0, 2.0]), np.array([0.0, 3.0]), weights=np.array([1.0, -1.0])),
     "bin_values weights: expected finite weights >= 0, got -1.0 at position 1."),
    (lambda: merge(bin_values(np.array([1.0]), np.array([0.0, 2.0])),
                   bin_values(np.array([1.0]), np.array([0.0, 3.0]))),
     "merge: the two distributions were counted on different edges"),
    (lambda: grid_edges(np.array([np.nan, np.nan])), "grid_edges: no present value among 2"),
    (lambda: grid_edges(np.array([1.0, 2.0]), weights=np.array([0.0, 0.0])), "grid_edges: no present value"),
    (lambda: grid_edges(np.array([1.0, 2.0]), cells=0), "grid_edges cells: expected a whole number >= 1, got 0."),
    (lambda: Binned(np.array([0.0, 1.0]), np.zeros(3), 0.0).cdf_at_edges(), "the counts are empty"),
])
def test_errors_say_what_to_fix(call: object, message: str) -> None:
    with pytest.raises(FeatureError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)
