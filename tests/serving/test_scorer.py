"""Scorer: loading, input checking with errors that name the field, and scores equal to ``Model.predict``."""

from __future__ import annotations

import doctest
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopline import InputError
from loopline.models import save_model
from loopline.registry import Registry
from loopline.serving import _columns
from loopline.serving._columns import columns_from_rows
from loopline.serving._scorer import Scorer
from loopline.workspace import Workspace
from tests.models.conftest import Trained, trained  # noqa: F401  (the session fixture)

TASKS = ("binary", "multiclass", "regression", "ranking")
FAMILIES = ("constant", "random", "heuristic", "linear", "lightgbm")


def _inputs(frame: pd.DataFrame) -> dict[str, object]:
    """The same rows as a frame, a dict of arrays, an Arrow table and JSON-like rows."""
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]
    return {"frame": frame, "arrays": {c: frame[c].to_numpy() for c in frame.columns},
            "arrow": pa.Table.from_pandas(frame, preserve_index=False), "rows": rows}


@pytest.mark.parametrize("task", TASKS)
def test_scores_equal_model_predict_for_every_family_and_input(task: str,
                                                               trained: Callable[[str], Trained]) -> None:  # noqa: F811
    found = trained(task)
    test = found.splits.test.iloc[:200].reset_index(drop=True)
    for family in FAMILIES:
        model = found.models[family]
        scorer = Scorer.from_model(model)
        expected = model.predict(test)
        assert scorer.family == family and scorer.task == task and scorer.features == model.features
        for kind, data in _inputs(test).items():
            got = scorer.score(data)
            assert got.shape == expected.shape, (family, kind)
            tolerance = 1e-6 if scorer.backend not in ("numpy", "lightgbm", "duckdb", "pandas") else 1e-9
            np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance, err_msg=f"{family} on {kind}")


def test_binary_scorer_decides_at_the_threshold(trained: Callable[[str], Trained]) -> None:  # noqa: F811
    model = trained("binary").models["lightgbm"]
    scorer = Scorer.from_model(model)
    assert model.threshold is not None and scorer.threshold == model.threshold
    scores = np.array([model.threshold - 1e-9, model.threshold, model.threshold + 0.1])
    decided = scorer.decide(scores)
    assert decided is not None and decided.tolist() == [False, True, True]
    assert Scorer.from_model(trained("regression").models["lightgbm"]).decide(scores) is None


def test_explain_matches_the_model(trained: Callable[[str], Trained]) -> None:  # noqa: F811
    found = trained("binary")
    test = found.splits.test.iloc[:20].reset_index(drop=True)
    model = found.models["linear"]
    got, expected = Scorer.from_model(model).explain(_inputs(test)["rows"]), model.explain(test)
    assert got is not None and expected is not None and got.features == expected.features
    np.testing.assert_allclose(got.contributions, expected.contributions, atol=1e-12)


def test_load_reads_the_version_behind_an_alias(tmp_path: Path, trained: Callable[[str], Trained]) -> None:  # noqa: F811
    found = trained("binary")
    model = found.models["lightgbm"]
    sha = save_model(model, tmp_path / "saved")
    registry = Registry(Workspace.open(tmp_path / "ws", env={}))
    run = registry.start_run(spec_name="m", spec_hash="s", data_fingerprint="d", params={}, code_version="t")
    registry.register_model(name="m", run_id=run.run_id, artifact_dir=tmp_path / "saved", sha256=sha,
                            family="lightgbm", task="binary", features=list(model.features), metrics={},
                            baselines_beaten=[], spec_hash="s", data_fingerprint="d", code_version="t",
                            profile=None, alias="champion", reason="test")
    scorer = Scorer.load(registry, "m")
    assert (scorer.name, scorer.version, scorer.family) == ("m", 1, "lightgbm")
    test = found.splits.test.iloc[:50]
    np.testing.assert_allclose(scorer.score(test), model.predict(test), atol=1e-9, rtol=0)


# -- checking -----------------------------------------------------------------------------------

@pytest.fixture
def linear(trained: Callable[[str], Trained]) -> Scorer:  # noqa: F811
    return Scorer.from_model(trained("binary").models["linear"])


ROW = {"x1": 0.5, "x2": None, "colour": "red", "noise": 1.0}


def test_check_coerces_json_values(linear: Scorer) -> None:
    checked = linear.check([ROW, {**ROW, "x1": "2.5", "colour": 3.0, "extra": "ignored"}])
    assert sorted(checked) == sorted(linear.features)
    assert checked["x1"].dtype == np.float64 and checked["x1"].tolist() == [0.5, 2.5]
    assert np.isnan(checked["x2"]).all() and checked["colour"].tolist() == ["red", "3"]


@pytest.mark.parametrize(("row", "field", "words"), [
    ({k: v for k, v in ROW.items() if k != "x2"}, "x2", "row 0 lacks the feature 'x2'"),
    ({**ROW, "x1": "abc"}, "x1", "feature 'x1' is numeric but row 0 holds 'abc'"),
    ({**ROW, "noise": float("inf")}, "noise", "feature 'noise' is inf in row 0"),
    ({**ROW, "colour": ["red"]}, "colour", "feature 'colour' is categorical but row 0 holds ['red']"),
])
def test_check_errors_name_the_field(linear: Scorer, row: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")) as caught:
        linear.score([row])
    assert caught.value.field == field


def test_check_errors_for_columns(linear: Scorer) -> None:
    arrays = {"x1": np.array([0.0, np.inf]), "x2": np.zeros(2), "colour": np.array(["a", "b"]), "noise": np.zeros(2)}
    with pytest.raises(InputError, match=r"feature 'x1' is inf in row 11") as caught:
        linear.check(arrays, offset=10)
    assert caught.value.field == "x1"
    with pytest.raises(InputError, match=r"lacks the feature column\(s\) \['noise'\]") as caught:
        linear.check(pa.table({k: v for k, v in arrays.items() if k != "noise"}))
    assert caught.value.field == "noise"
    with pytest.raises(InputError, match="different lengths") as caught:
        linear.check({**arrays, "noise": np.zeros(3)})


def test_columns_from_rows_refuses_what_is_not_rows() -> None:
    assert columns_from_rows([], ["x"])["x"].shape == (0,)
    with pytest.raises(InputError, match="row 1 must be an object"):
        columns_from_rows([{"x": 1}, 5], ["x"])  # type: ignore[list-item]


def test_docstring_examples_run() -> None:
    assert doctest.testmod(_columns).failed == 0
