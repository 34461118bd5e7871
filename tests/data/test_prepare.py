"""``prepare`` end to end on a user's table: features chosen, issues reported, leaks named, errors specific."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline import DataError
from loopline.data import Kind, draft_spec, prepare
from loopline.spec import ProblemSpec
from tests.conftest import customers_spec, make_customers


def _prepare(tmp_path: Path, frame: pd.DataFrame, **over: Any) -> Any:
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    return prepare(ProblemSpec.from_dict(customers_spec(path, **over), base_dir=tmp_path))


def test_customers_table_is_split_and_described(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, make_customers())
    splits = prepared.splits
    assert set(splits.features) == {"tenure_months", "support_tickets", "plan", "country"}
    assert splits.schema["plan"].kind == Kind.CATEGORICAL
    assert str(splits.train["snapshot_at"].dt.tz) == "UTC"
    assert set(splits.train["churned"].unique()) == {0, 1}
    assert [s.name for s in splits.summaries] == ["train", "valid", "test"]
    assert sum(s.rows for s in splits.summaries) == prepared.source_rows == 3000
    assert splits.summaries[0].end < splits.summaries[1].start < splits.summaries[2].start
    assert prepared.findings == []
    assert prepared.coverage["test"]["plan"] == 1.0
    assert len(prepared.data_fingerprint) == 64


def test_planted_leaks_are_named_and_known_after_columns_never_become_features(tmp_path: Path) -> None:
    frame = make_customers()
    rng = np.random.default_rng(5)
    frame["refund_amount"] = frame["churned"] * 30 + rng.normal(0, 5, len(frame))
    frame["cancelled_at"] = (frame["snapshot_at"] + pd.Timedelta("10D")).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    prepared = _prepare(tmp_path, frame)
    named = {f.column: f.message for f in prepared.findings}
    assert "refund_amount" in named and "cancelled_at" in named
    assert "recorded after the event" in named["cancelled_at"]

    fixed = _prepare(tmp_path, frame, features={"known_after": ["refund_amount", "cancelled_at"]})
    assert "refund_amount" not in fixed.splits.features and "cancelled_at" not in fixed.splits.features
    assert fixed.findings == []


def test_validation_flags_constant_duplicate_id_like_and_future_columns(tmp_path: Path) -> None:
    frame = make_customers()
    frame["source"] = "crm"
    frame["tickets_copy"] = frame["support_tickets"]
    frame["email"] = [f"user{i}@example.com" for i in range(len(frame))]
    frame.loc[5, "snapshot_at"] = pd.Timestamp("2099-01-01", tz="UTC")
    prepared = _prepare(tmp_path, frame)
    checks = {(i.check, i.column) for i in prepared.validation.issues}
    assert {("constant", "source"), ("duplicate_column", "tickets_copy"), ("id_like", "email"),
            ("future_time", "snapshot_at")} <= checks
    assert not {"source", "tickets_copy", "email"} & set(prepared.splits.features)
    stats = {c.name: c for c in prepared.validation.columns}
    assert stats["support_tickets"].min == 0.0 and stats["support_tickets"].max == frame["support_tickets"].max()


def test_negative_downsampling_keeps_positives_and_records_the_rate(tmp_path: Path) -> None:
    frame = make_customers(6000)
    full = _prepare(tmp_path, frame)
    sampled = _prepare(tmp_path, frame, sampling={"negative_rate": 0.25})
    assert sampled.splits.negative_rate == 0.25
    assert (sampled.splits.train["churned"] == 1).sum() == (full.splits.train["churned"] == 1).sum()
    kept = (sampled.splits.train["churned"] == 0).sum() / (full.splits.train["churned"] == 0).sum()
    assert abs(kept - 0.25) < 0.05
    assert len(sampled.splits.test) == len(full.splits.test)


@pytest.mark.parametrize(("change", "expected"), [
    ({"label": {"column": "left"}}, "label column 'left' is not in"),
    ({"event_time": "snapshot"}, "Did you mean 'snapshot_at'"),
])
def test_spec_and_data_mismatches_are_specific(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    with pytest.raises(DataError) as info:
        _prepare(tmp_path, make_customers(500), **change)
    assert expected in str(info.value)


def test_bad_labels_and_timestamps(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has one class"):
        _prepare(tmp_path, make_customers(500).assign(churned=1))
    with pytest.raises(DataError, match=r"'snapshot_at' .* cannot be parsed as timestamps .*'soon'"):
        _prepare(tmp_path, make_customers(500).assign(snapshot_at="soon"))
    with pytest.raises(DataError, match=r"label\.positive"):
        _prepare(tmp_path, make_customers(500).assign(churned=lambda f: np.where(f["churned"] == 1, "gone", "here")))
    ok = _prepare(tmp_path, make_customers(500).assign(churned=lambda f: np.where(f["churned"] == 1, "gone", "here")),
                  label={"column": "churned", "positive": "gone"})
    assert set(ok.splits.train["churned"].unique()) == {0, 1}


def test_label_built_from_an_event_log(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 4000
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 10, n)), unit="D")
    quality = rng.random(n)
    exposures = pd.DataFrame({"ts": ts, "request_id": [f"r{i}" for i in range(n)], "item_id": "p",
                              "quality": quality, "colour": rng.choice(["red", "blue"], n)})
    clicked = rng.random(n) < 0.1 + 0.5 * quality
    delay = pd.to_timedelta(rng.exponential(5, n), unit="min")
    feedback = pd.DataFrame({"ts": (ts + delay)[clicked], "request_id": exposures["request_id"][clicked],
                             "item_id": "p", "event": "click", "value": 1.0})
    exposures.to_parquet(tmp_path / "exposures.parquet")
    feedback.to_parquet(tmp_path / "feedback.parquet")
    spec = ProblemSpec.from_dict({
        "name": "clicks", "task": "binary", "data": {"source": "exposures.parquet"}, "event_time": "ts",
        "group": "request_id",
        "label": {"name": "clicked", "from_events": {"feedback": "feedback.parquet", "window": "30m"}},
    }, base_dir=tmp_path)
    prepared = prepare(spec)
    assert prepared.label_report is not None and prepared.label_report.positives > 0
    total = sum(len(f) for f in prepared.splits.frames().values())
    observed = sum(f["clicked"].sum() for f in prepared.splits.frames().values()) / total
    expected = float(np.mean(clicked & (delay <= pd.Timedelta("30min"))))
    assert abs(observed - expected) < 0.02
    assert set(prepared.splits.features) == {"quality", "colour"}


def test_draft_spec_guesses_time_entity_label_and_task(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    make_customers(300).to_csv(path, index=False)
    text = draft_spec(path)
    spec = ProblemSpec.from_dict(yaml.safe_load(text), base_dir=tmp_path)
    assert (spec.event_time, spec.entity, spec.label.column, spec.task) == (
        "snapshot_at", "customer_id", "churned", "binary")
    assert text.startswith("# loopline.yaml drafted from customers.csv")


def _repeat_customers(n_customers: int = 600) -> pd.DataFrame:
    """Customers with several snapshots each, so most test rows belong to customers seen in training."""
    frame = make_customers()
    ids = np.random.default_rng(3).integers(0, n_customers, len(frame))
    frame["customer_id"] = [f"c{i:04d}" for i in ids]
    return frame


def test_entities_in_train_and_test_are_reported_without_grouping(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, _repeat_customers())
    [finding] = [f for f in prepared.findings if f.kind == "shared_entities"]
    splits = prepared.splits
    train, valid, test = (set(s["customer_id"]) for s in (splits.train, splits.valid, splits.test))
    known = splits.test["customer_id"].isin(train | valid)
    examples = ", ".join(sorted(train & test)[:5])
    assert finding.column == "customer_id" and finding.score == pytest.approx(known.mean())
    assert finding.message.startswith(
        f"{len(train & test)} customer_id values appear in both train and test and {len(valid & test)} in both "
        f"validation and test ({examples} and {len(train & test) - 5} more): {known.sum()} of {len(splits.test)} "
        f"test rows ({known.mean():.1%}) and ")
    assert "Set split.group_by_entity: true to drop those later rows" in finding.message
    assert "generalise over time for known customer_id values" in finding.message
    assert len(splits.test) == sum(s.rows for s in splits.summaries if s.name == "test")  # nothing dropped


def test_grouping_by_entity_drops_their_later_rows_and_says_so(tmp_path: Path) -> None:
    plain = _prepare(tmp_path, _repeat_customers())
    grouped = _prepare(tmp_path, _repeat_customers(2400), split={"group_by_entity": True})
    [finding] = [f for f in grouped.findings if f.kind == "shared_entities"]
    assert "; with split.group_by_entity their later rows (" in finding.message
    assert "in validation and test) were dropped." in finding.message
    assert "Set split.group_by_entity" not in finding.message
    train = set(grouped.splits.train["customer_id"])
    assert not train & set(grouped.splits.test["customer_id"])
    assert len(plain.splits.test) > len(grouped.splits.test)


def test_unique_entities_give_no_shared_entity_finding(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, make_customers())
    assert not [f for f in prepared.findings if f.kind == "shared_entities"]
