from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopline import SpecError
from loopline.spec import ProblemSpec, format_duration, parse_duration


def _base(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "feed",
        "task": "binary",
        "data": {"source": "impressions.parquet"},
        "event_time": "ts",
        "label": {"column": "clicked"},
    }
    spec.update(over)
    return spec


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        ProblemSpec.from_dict(data, source="loopline.yaml")
    return str(info.value)


def test_minimal_spec_gets_defaults() -> None:
    spec = ProblemSpec.from_dict(_base())
    assert spec.primary_metric == "log_loss"
    assert spec.split.fractions == (0.7, 0.15, 0.15)
    assert spec.models.candidates == ["linear", "lightgbm"]
    assert spec.label.target == "clicked"


def test_misspelled_key_is_named_with_a_suggestion() -> None:
    data = _base()
    data["lable"] = data.pop("label")
    message = _error(data)
    assert "loopline.yaml, lable: unknown key 'lable'; did you mean 'label'?" in message
    assert "label: required key is missing" in message


def test_misspelled_nested_key_names_the_full_path() -> None:
    message = _error(_base(split={"fractons": [0.6, 0.2, 0.2]}))
    assert "split.fractons: unknown key 'fractons'; did you mean 'fractions'?" in message


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    message = _error(_base(decision={"zzz": 1}))
    assert "decision.zzz: unknown key 'zzz'; allowed keys here:" in message
    assert "false_positive_cost" in message


def test_bad_duration_names_the_key_and_value() -> None:
    message = _error(_base(label={"from_events": {"feedback": "f.parquet", "window": "thirty minutes"}}))
    assert "label.from_events.window" in message
    assert "'thirty minutes'" in message
    assert "'30m'" in message


def test_label_needs_exactly_one_source() -> None:
    message = _error(_base(label={"column": "y", "from_events": {"feedback": "f", "window": "1h"}}))
    assert "exactly one of 'column'" in message


def test_ranking_needs_a_group_column() -> None:
    assert "needs 'group'" in _error(_base(task="ranking"))


def test_metric_must_belong_to_the_task() -> None:
    message = _error(_base(metrics={"primary": "rmse"}))
    assert "metrics.primary: 'rmse' is not a binary metric" in message


def test_feature_table_list_index_in_path() -> None:
    message = _error(_base(feature_tables=[{"name": "u", "source": "u.csv", "key": "id", "time": "t",
                                            "max_age": "soon"}]))
    assert "feature_tables[0].max_age" in message


def test_known_after_cannot_be_included() -> None:
    message = _error(_base(features={"include": ["a", "refund"], "known_after": ["refund"]}))
    assert "['refund']" in message and "known_after" in message


def test_split_fractions_must_sum_to_one() -> None:
    assert "summing to 1" in _error(_base(split={"fractions": [0.5, 0.2, 0.2]}))


def test_cut_dates_must_be_ordered() -> None:
    message = _error(_base(split={"valid_start": "2024-03-01", "test_start": "2024-02-01"}))
    assert "must come before test_start" in message


def test_floors_are_exclusive() -> None:
    assert "at most one" in _error(_base(decision={"recall_floor": 0.8, "precision_floor": 0.5}))


def test_spec_hash_is_stable_and_sensitive() -> None:
    a = ProblemSpec.from_dict(_base())
    b = ProblemSpec.from_dict(_base())
    c = ProblemSpec.from_dict(_base(seed=1))
    assert a.spec_hash() == b.spec_hash() != c.spec_hash()


def test_load_resolves_paths_against_the_spec_folder(tmp_path: Path) -> None:
    path = tmp_path / "loopline.yaml"
    path.write_text(yaml.safe_dump(_base()), encoding="utf-8")
    spec = ProblemSpec.load(path)
    assert spec.resolve("impressions.parquet") == str(tmp_path.resolve() / "impressions.parquet")
    assert spec.source_name == str(path)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="loopline init --data"):
        ProblemSpec.load(tmp_path / "nope.yaml")


def test_invalid_yaml_gives_line_number(tmp_path: Path) -> None:
    path = tmp_path / "loopline.yaml"
    path.write_text("name: a\ntask: [binary\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"line \d+, column \d+: not valid YAML"):
        ProblemSpec.load(path)


def test_non_mapping_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loopline.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SpecError, match="expected a mapping"):
        ProblemSpec.load(path)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("7d", 604800), ("1h30m", 5400), ("45s", 45),
                                               ("2w", 1209600), (90, 90)])
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(parse_duration(text))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "soon", "10", "-5m", True])
def test_bad_durations(bad: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_the_specs_name_follows_the_one_name_rule_with_a_readable_message() -> None:
    body = {"name": "../evil", "task": "binary", "data": {"source": "x.csv"}, "event_time": "ts",
            "label": {"column": "y"}}
    with pytest.raises(SpecError) as caught:
        ProblemSpec.from_dict(body)
    assert str(caught.value) == (
        "loopline.yaml, name: the spec's name '../evil' is not usable: expected 1-100 letters, digits, '_', '.' or "
        "'-', starting with a letter or digit (e.g. 'churn'), so that it is safe as a folder name. Rename it.")
