"""``draft_spec`` (``loopline init``): a complete, commented template that loads, validates and pre-excludes what
the data stage's own checks flag."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline.data import draft_spec, prepare
from loopline.spec import ProblemSpec
from tests.conftest import make_customers

_SETTING = re.compile(r"^(\s*)# (?=\s*(- |[a-z_][a-z0-9_]*:(\s|$)))")
"""A commented-out setting: a key or list item behind ``# `` (notes and prose start with a capital or a dot)."""


def _uncomment(text: str) -> str:
    """The template with every commented-out setting switched on (its ``# `` removed)."""
    return "\n".join(_SETTING.sub(r"\1", line) for line in text.splitlines())


def _leaky_customers(n: int = 400) -> pd.DataFrame:
    """Customers plus an identifier-like code, a time recorded after the snapshot and a refund only churners get."""
    frame = make_customers(n)
    rng = np.random.default_rng(1)
    frame["ref_code"] = [f"r{i:06d}" for i in rng.permutation(n)]
    frame["closed_at"] = frame["snapshot_at"] + pd.to_timedelta(rng.uniform(1, 30, n), unit="D")
    frame["refund_amount"] = frame["churned"] * rng.uniform(10, 100, n).round(2)
    return frame


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _draft(data: Path, spec_path: Path) -> tuple[str, ProblemSpec]:
    text = draft_spec(data, spec_path=spec_path)
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(text, encoding="utf-8")
    return text, ProblemSpec.load(spec_path)


def test_template_names_every_setting_at_its_default_with_a_note(tmp_path: Path) -> None:
    data = _write(make_customers(300), tmp_path / "customers.csv")
    text, spec = _draft(data, tmp_path / "loopline.yaml")
    written = yaml.safe_load(text)
    assert set(written) == {"name", "task", "data", "event_time", "entity", "label"}  # the guesses, nothing else
    # Switching every commented line on gives every setting of the spec, each at the value the spec has.
    assert yaml.safe_load(_uncomment(text)) == spec.model_dump(mode="json")
    assert ProblemSpec.from_dict(yaml.safe_load(_uncomment(text))).spec_hash() == spec.spec_hash()
    settings = [line for line in _uncomment(text).splitlines() if re.match(r"^\s*(- |[a-z_][a-z0-9_]*:)", line)]
    assert len(settings) > 100
    assert [line for line in settings if "  # " not in line] == []  # every setting says what it is
    assert "# split:" in text and "#   fractions: [0.7, 0.15, 0.15]" in text
    assert re.search(r"^#   window: 4w +# the training data", text, re.MULTILINE)  # durations as people write them
    assert re.search(r"^#   primary: null +# picks the best model; default for binary: log_loss$", text,
                     re.MULTILINE)


def test_id_like_and_leaking_columns_are_pre_excluded_with_the_reason(tmp_path: Path) -> None:
    data = _write(_leaky_customers(), tmp_path / "data" / "customers.csv")
    text, spec = _draft(data, tmp_path / "project" / "loopline.yaml")
    assert spec.data.source == "../data/customers.csv"
    assert (spec.event_time, spec.entity, spec.label.column, spec.task) == (
        "snapshot_at", "customer_id", "churned", "binary")
    assert spec.features.exclude == ["ref_code"]
    assert spec.features.known_after == ["closed_at", "refund_amount"]
    # The columns the data stage flags on the guesses alone, with its own numbers ...
    guesses = spec.model_dump(mode="json", include={"name", "task", "data", "event_time", "entity", "label"})
    flagged = prepare(ProblemSpec.from_dict(guesses, base_dir=spec.base_dir))
    assert flagged.validation.flagged("id_like") == ["ref_code"]
    assert {f.column: f.kind for f in flagged.findings if f.kind in ("after_event", "predictive_power")} == {
        "closed_at": "after_event", "refund_amount": "predictive_power"}
    auc = flagged.feature_scores["refund_amount"]
    assert re.search(r"^    - ref_code +# id-like: a distinct value in 100% of rows$", text, re.MULTILINE)
    assert re.search(r"^    - closed_at +# possible leak: later than snapshot_at in 100% of rows, so recorded after "
                     r"the event$", text, re.MULTILINE)
    assert re.search(rf"^    - refund_amount +# possible leak: alone it reaches validation ROC AUC {auc:.3f}; delete "
                     "this line if it is known before the event$", text, re.MULTILINE)
    assert "1 id-like column in features.exclude and 2 possible leaks in features.known_after" in text
    # ... and the written spec validates without them.
    prepared = prepare(spec)
    assert set(prepared.splits.features) == {"tenure_months", "support_tickets", "plan", "country"}
    assert not [f for f in prepared.findings if f.kind in ("after_event", "predictive_power")]


@pytest.mark.parametrize(("spec_at", "expected"), [
    ("loopline.yaml", "customers.csv"),
    ("specs/churn/loopline.yaml", "../../customers.csv"),
])
def test_data_path_is_relative_to_the_spec(tmp_path: Path, spec_at: str, expected: str) -> None:
    data = _write(make_customers(200), tmp_path / "customers.csv")
    _, spec = _draft(data, tmp_path / spec_at)
    assert spec.data.source == expected
    assert Path(spec.resolve(expected)).resolve() == data.resolve()


def test_without_spec_path_the_data_path_is_kept_as_given(tmp_path: Path) -> None:
    data = _write(make_customers(200), tmp_path / "customers.csv")
    assert yaml.safe_load(draft_spec(data))["data"]["source"] == str(data)


def test_missing_labels_are_dropped_by_a_marked_guess(tmp_path: Path) -> None:
    frame = make_customers(300)
    frame["churned"] = frame["churned"].astype("float64")
    frame.loc[frame.index[-20:], "churned"] = np.nan  # the newest outcomes are not known yet
    data = _write(frame, tmp_path / "customers.csv")
    text, spec = _draft(data, tmp_path / "loopline.yaml")
    assert spec.label.drop_missing is True
    assert re.search(r"^  drop_missing: true +# guessed: the label is missing in 20 of 300 rows;", text, re.MULTILINE)
    assert prepare(spec).source_rows == 300


def test_without_a_timestamp_the_checks_are_skipped_and_said(tmp_path: Path) -> None:
    data = _write(make_customers(200).drop(columns=["snapshot_at"]), tmp_path / "customers.csv")
    text = draft_spec(data, spec_path=tmp_path / "loopline.yaml")
    spec = ProblemSpec.from_dict(yaml.safe_load(text), base_dir=tmp_path)
    assert spec.event_time == "CHANGE-ME"
    assert re.search(r"^event_time: CHANGE-ME +# no timestamp column found: name the column of when each row "
                     r"happened$", text, re.MULTILINE)
    assert "# The data checks (id-like columns, leakage) did not run: the guesses name no event time or no label" \
        in text
    assert "features" not in yaml.safe_load(text)
