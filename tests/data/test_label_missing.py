"""Rows whose label is missing: refused with the count and both fixes, or dropped and counted with
``label.drop_missing``; whole-number labels stay whole numbers once the gaps are gone; the spec hash of specs
that do not set the key is unchanged."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline import DataError, SpecError
from loopline.data import _columns, prepare
from loopline.data._columns import normalize_label
from loopline.spec import ProblemSpec
from tests.conftest import customers_spec, make_customers

ROWS = 600


def _with_gaps(every: int = 10) -> pd.DataFrame:
    """The customers table with the label missing in every ``every``-th row (a 0/1 column read back as floats)."""
    frame = make_customers(ROWS)
    frame["churned"] = frame["churned"].astype("float64")
    frame.loc[frame.index[::every], "churned"] = np.nan
    return frame


def _prepare(tmp_path: Path, frame: pd.DataFrame, **over: Any) -> Any:
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    return prepare(ProblemSpec.from_dict(customers_spec(path, **over), base_dir=tmp_path))


def test_missing_labels_are_refused_with_the_column_the_count_and_both_fixes(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        _prepare(tmp_path, _with_gaps())
    message = str(caught.value)
    assert "label 'churned' is missing in 60 of 600 rows" in message
    assert "label.drop_missing: true" in message and "540 labelled rows" in message
    assert "fill in the missing labels" in message
    # what the message used to say about such a label: that 0/1 is not a 0/1 label
    assert "positive class" not in message and "0.0" not in message


def test_drop_missing_drops_the_rows_and_counts_them_in_the_validation_report(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, _with_gaps(), label={"column": "churned", "drop_missing": True})
    splits = prepared.splits
    assert sum(s.rows for s in splits.summaries) == 540 and prepared.validation.rows == 540
    assert prepared.source_rows == 600
    [issue] = [i for i in prepared.validation.issues if i.check == "unlabelled"]
    assert issue.column == "churned" and issue.severity == "info"
    assert issue.message == "60 of 600 rows have no label 'churned' and were dropped (label.drop_missing)."
    labels = pd.concat([splits.train, splits.valid, splits.test])["churned"]
    assert labels.dtype == "int64" and set(labels) == {0, 1}
    expected = make_customers(ROWS)["churned"].drop(index=range(0, ROWS, 10))
    assert labels.sum() == expected.sum()


def test_without_missing_labels_the_setting_changes_nothing(tmp_path: Path) -> None:
    frame = make_customers(ROWS)
    plain = _prepare(tmp_path, frame)
    dropping = _prepare(tmp_path, frame, label={"column": "churned", "drop_missing": True})
    assert plain.data_fingerprint == dropping.data_fingerprint
    assert not [i for i in dropping.validation.issues if i.check == "unlabelled"]


def test_label_positive_finds_whole_numbers_once_the_gaps_are_dropped(tmp_path: Path) -> None:
    # Before: "label.positive is 1, but label 'churned' ... holds ['0.0', '1.0']".
    prepared = _prepare(tmp_path, _with_gaps(), label={"column": "churned", "positive": 1, "drop_missing": True})
    assert set(prepared.splits.train["churned"]) == {0, 1}
    flipped = _prepare(tmp_path, _with_gaps(), label={"column": "churned", "positive": 0, "drop_missing": True})
    assert (flipped.splits.train["churned"] == 1 - prepared.splits.train["churned"]).all()


def test_multiclass_classes_stay_whole_numbers(tmp_path: Path) -> None:
    frame = _with_gaps()
    frame["churned"] = frame["churned"] + (frame["plan"] == "team")  # 0, 1, 2 and gaps
    prepared = _prepare(tmp_path, frame, task="multiclass", baseline={},
                        label={"column": "churned", "drop_missing": True})
    assert sorted(pd.unique(prepared.splits.train["churned"]).tolist()) == [0, 1, 2]
    assert prepared.splits.train["churned"].dtype == "int64"


def test_a_label_missing_everywhere_says_so(tmp_path: Path) -> None:
    frame = make_customers(ROWS)
    frame["churned"] = np.nan
    with pytest.raises(DataError, match=r"label 'churned' is missing in every row of .* \(600 rows\)\. Check that "
                                        r"label.column"):
        _prepare(tmp_path, frame, label={"column": "churned", "drop_missing": True})


@pytest.mark.parametrize(("values", "positive", "expected"), [
    ([0.0, 1.0, 1.0], None, [0, 1, 1]),   # floats 0/1 are a 0/1 label
    ([0.0, 1.0, 1.0], 1, [0, 1, 1]),      # ... and label.positive 1 is the value 1.0
    ([0.0, 1.0, 1.0], 0, [1, 0, 0]),
    ([3, 7, 7], 7, [0, 1, 1]),
    (["yes", "no", "yes"], "yes", [1, 0, 1]),
])
def test_binary_labels_match_label_positive_by_value(values: list[Any], positive: Any, expected: list[int]) -> None:
    out = normalize_label(pd.Series(values), "binary", column="y", where="t", positive=positive)
    assert out.tolist() == expected and out.dtype == "int64"


def test_a_label_positive_that_is_not_there_names_the_values_held() -> None:
    with pytest.raises(DataError, match=r"label.positive is 5, but label 'y' in t holds \['0.0', '1.0'\]; set "
                                        "label.positive to one of them"):
        normalize_label(pd.Series([0.0, 1.0]), "binary", column="y", where="t", positive=5)


def test_the_column_helpers_examples_hold() -> None:
    assert doctest.testmod(_columns).failed == 0


# -- the spec ---------------------------------------------------------------------------------------------------

def _spec(**label: Any) -> dict[str, Any]:
    return {"name": "churn", "task": "binary", "data": {"source": "t.csv"}, "event_time": "ts",
            "label": {"column": "y", **label}}


def test_drop_missing_defaults_to_false_and_leaves_the_spec_hash_alone_until_set() -> None:
    base = ProblemSpec.from_dict(_spec())
    assert base.label.drop_missing is False
    assert ProblemSpec.from_dict(_spec(drop_missing=False)).spec_hash() == base.spec_hash()
    assert ProblemSpec.from_dict(_spec(drop_missing=True)).spec_hash() != base.spec_hash()
    # the mechanism still covers the older key
    assert ProblemSpec.from_dict({**_spec(), "features": {"fixed_at_serving": {}}}).spec_hash() == base.spec_hash()
    assert "drop_missing" in base.model_dump(mode="json")["label"]


def test_drop_missing_is_refused_for_labels_built_from_events() -> None:
    data = _spec()
    data["label"] = {"from_events": {"feedback": "fb.parquet", "window": "30m"}, "drop_missing": True}
    with pytest.raises(SpecError, match="a label built from events is never missing"):
        ProblemSpec.from_dict(data)


@pytest.mark.parametrize("positive", [1.0, 1, "1.0", "1", True])
def test_float_labels_take_label_positive_as_a_number_a_string_or_true(positive: Any) -> None:
    spec = ProblemSpec.from_dict({"name": "m", "task": "binary", "data": {"source": "x.csv"}, "event_time": "ts",
                                  "label": {"column": "y", "positive": positive}})
    labels = normalize_label(pd.Series([0.0, 1.0, 1.0, 0.0]), "binary", column="y", where="the table",
                             positive=spec.label.positive)
    assert labels.tolist() == [0, 1, 1, 0]


def test_a_fractional_positive_is_matched_as_a_number_or_refused_naming_the_values() -> None:
    spec = ProblemSpec.from_dict({"name": "m", "task": "binary", "data": {"source": "x.csv"}, "event_time": "ts",
                                  "label": {"column": "y", "positive": 0.5}})
    assert normalize_label(pd.Series([0.5, 0.25]), "binary", column="y", where="w",
                           positive=spec.label.positive).tolist() == [1, 0]
    with pytest.raises(DataError) as caught:
        normalize_label(pd.Series([0.0, 1.0]), "binary", column="y", where="the table", positive=0.5)
    assert str(caught.value) == ("label.positive is 0.5, but label 'y' in the table holds ['0.0', '1.0']; set "
                                 "label.positive to one of them.")


def test_validate_says_how_many_rows_its_statistics_describe_and_how_many_were_read(tmp_path: Path) -> None:
    from loopline.cli._show import rows_title

    dropped = _prepare(tmp_path, _with_gaps(), label={"column": "churned", "drop_missing": True})
    assert rows_title(dropped) == "540 rows checked, of 600 read (the notes below say which were dropped and why)"
    whole = _prepare(tmp_path, make_customers(ROWS))
    assert rows_title(whole) == "600 rows"
