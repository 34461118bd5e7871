"""One JSON encoding: standard JSON (NaN as null) for people and programs, round-tripping NaN in the registry."""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from loopline import _json
from loopline.cli._console import print_json
from loopline.models._baselines import ConstantScorer
from loopline.models._model import Model
from loopline.models._storage import load_model, save_model
from loopline.registry._schema import JSONText
from loopline.reports import write_json


def _strict(text: str) -> Any:
    """``json.loads`` that refuses the NaN and Infinity tokens, as jq, browsers and most parsers do."""
    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


class Colour(Enum):
    RED = "red"


class Opaque:
    def __str__(self) -> str:
        return "opaque"


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    tags: tuple[str, ...]


NON_FINITE = {"nan": float("nan"), "inf": math.inf, "minus_inf": -math.inf, "np_nan": np.float64("nan"),
              "np_inf": np.float32("inf"), "array": np.array([1.0, np.nan, np.inf]), "nested": [{"a": [math.nan]}],
              "point": Point(math.nan, ("a",))}


def test_the_standard_rule_writes_valid_json_with_null_for_non_finite_numbers() -> None:
    found = _strict(_json.dumps(NON_FINITE))
    assert found == {"nan": None, "inf": None, "minus_inf": None, "np_nan": None, "np_inf": None,
                     "array": [1.0, None, None], "nested": [{"a": [None]}], "point": {"x": None, "tags": ["a"]}}


def test_the_registry_rule_round_trips_nan_and_infinities() -> None:
    value = {"test": {"roc_auc": math.nan, "gain": math.inf, "loss": -math.inf, "n": np.int64(3)}}
    back = json.loads(_json.dumps(value, nonfinite="keep"))["test"]
    assert math.isnan(back["roc_auc"]) and back["gain"] == math.inf and back["loss"] == -math.inf and back["n"] == 3


def test_the_registry_column_round_trips_nan_metrics_through_a_database() -> None:
    engine = sa.create_engine("sqlite://")
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("doc", JSONText()))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1, doc={"roc_auc": float("nan"), "ece": np.float64(0.1)}))
        stored = conn.execute(sa.select(table.c.doc)).scalar_one()
    assert math.isnan(stored["roc_auc"]) and stored["ece"] == 0.1


def test_common_python_numpy_and_pandas_values_become_plain_json() -> None:
    value = {
        "int": np.int32(7), "bool": np.bool_(True), "float": np.float32(0.5), "enum": Colour.RED,
        "set": {"b", "a"}, "path": Path("/tmp/x"), "day": date(2024, 1, 2),
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "stamp": pd.Timestamp("2024-01-02 03:04:05", tz="UTC"),
        "nat": pd.NaT, "na": pd.NA, "np_nat": np.datetime64("NaT"), "np_day": np.datetime64("2024-01-02"),
        "series": pd.Series([1.0, math.nan]), 1: "int key",
    }
    assert _strict(_json.dumps(value)) == {
        "int": 7, "bool": True, "float": 0.5, "enum": "red", "set": ["a", "b"], "path": "/tmp/x", "day": "2024-01-02",
        "when": "2024-01-02T03:04:05+00:00", "stamp": "2024-01-02T03:04:05+00:00", "nat": None, "na": None,
        "np_nat": None, "np_day": "2024-01-02", "series": [1.0, None], "1": "int key",
    }


def test_an_unknown_value_is_refused_with_its_key_or_converted_by_default() -> None:
    with pytest.raises(TypeError, match=r"\$\.model\.weights\[1\]: a object is not JSON"):
        _json.dumps({"model": {"weights": [1, object()]}})
    assert json.loads(_json.dumps({"x": object()}, default=lambda v: "obj")) == {"x": "obj"}


def test_text_is_utf8_unless_ascii_is_asked_for() -> None:
    assert _json.dumps({"name": "größe"}) == '{"name": "größe"}'
    assert _json.dumps({"name": "größe"}, ascii_only=True) == '{"name": "gr\\u00f6\\u00dfe"}'


def test_model_json_is_standard_json_and_the_model_still_loads(tmp_path: Path) -> None:
    model = Model(name="m", task="binary", features=("x",), scorer=ConstantScorer("binary", [0.25]), link="logistic",
                  is_baseline=True, params={"best_score": float("nan"), "bound": float("inf")})
    digest = save_model(model, tmp_path / "m")
    manifest = _strict((tmp_path / "m" / "model.json").read_text(encoding="utf-8"))
    assert manifest["params"] == {"best_score": None, "bound": None}
    loaded = load_model(tmp_path / "m", sha256=digest)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert np.array_equal(loaded.predict(frame), model.predict(frame))


def test_reports_and_cli_output_are_standard_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = write_json(NON_FINITE, tmp_path / "r.json")
    assert _strict(report.read_text(encoding="utf-8"))["array"] == [1.0, None, None]
    print_json({**NON_FINITE, "other": Opaque(), "name": "größe"})
    printed = capsys.readouterr().out
    assert printed.isascii()
    found = _strict(printed)
    assert found["nan"] is None and found["name"] == "größe" and found["other"] == "opaque"


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_json)
    assert result.failed == 0 and result.attempted > 0


def test_experiment_and_evaluation_results_follow_the_same_rule() -> None:
    from dataclasses import dataclass

    from loopline.experiments._result import ResultDict

    @dataclass(frozen=True)
    class Result(ResultDict):
        effect: float
        interval: tuple[float, float]

    assert Result(float("nan"), (float("-inf"), 1.0)).to_dict() == {"effect": None, "interval": [None, 1.0]}
