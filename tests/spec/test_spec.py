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


# -- serving: the funnel, the latency budget and the candidates limit ----------------------------------------

def test_serving_defaults_and_a_first_stage_survive_the_round_trip_through_the_trained_spec() -> None:
    plain = ProblemSpec.from_dict(_base()).serving
    assert (plain.latency_budget_ms, plain.candidates, plain.first_stage, plain.first_stage_k, plain.log_top) == (
        100.0, 500, None, 100, 50)
    spec = ProblemSpec.from_dict(_base(serving={"first_stage": {"model": "feed-cheap"}, "first_stage_k": 40,
                                                "candidates": 300, "latency_budget_ms": 25, "log_top": 10}))
    first = spec.serving.first_stage
    assert first is not None and (first.model, first.version) == ("feed-cheap", "champion")
    # Serving reads the spec kept with the training run (model_dump): it must validate again unchanged.
    for dumped in (spec.model_dump(mode="json"), ProblemSpec.from_dict(_base()).model_dump(mode="json")):
        assert ProblemSpec.from_dict(dumped).model_dump(mode="json") == dumped
    pinned = ProblemSpec.from_dict(_base(serving={"first_stage": {"model": "feed-cheap", "version": 3}}))
    assert pinned.serving.first_stage is not None and pinned.serving.first_stage.version == 3


@pytest.mark.parametrize(("serving", "expected"), [
    ({"first_stage": {"rule": "ln(1 + followers)"}},
     "loopline.yaml, serving.first_stage: a rule cannot be the first stage: it runs DuckDB on every request (about "
     "17 ms for 500 candidates), more than the ranker it should save. Train a cheap model (e.g. with models: "
     "{candidates: [linear]}) under its own name and give first_stage: {model: NAME, version: champion}."),
    ({"first_stage_k": 20},
     "loopline.yaml, serving: first_stage_k (20) is how many candidates the first stage keeps, but no first_stage is "
     "given. Add first_stage: {model: NAME, version: champion}, or remove first_stage_k."),
    ({"first_stage": {"model": "cheap"}, "candidates": 100},
     "loopline.yaml, serving: first_stage_k (100) must be below candidates (100), or the first stage never cuts a "
     "request. Lower first_stage_k or raise candidates."),
    ({"first_stage": "cheap"},
     "loopline.yaml, serving.first_stage: expected a mapping like {model: feed-cheap, version: champion} naming a "
     "registered model, got 'cheap'."),
    ({"first_stage": {"model": "cheap", "version": 0}},
     "loopline.yaml, serving.first_stage.version: a version number starts at 1, got 0. Give a number from 'loopline "
     "models' or an alias such as champion."),
    ({"first_stage": {"model": "cheap", "version": True}},
     "loopline.yaml, serving.first_stage.version: expected a version number or an alias such as champion, got True."),
    ({"first_stage": {"model": "../cheap"}},
     "loopline.yaml, serving.first_stage.model: the first stage's model name '../cheap' is not usable: expected 1-100 "
     "letters, digits, '_', '.' or '-', starting with a letter or digit (e.g. 'feed-cheap'), so that it is safe as a "
     "folder name. Rename it."),
    ({"first_stage": {"model": "cheap", "verison": 2}},
     "loopline.yaml, serving.first_stage.verison: unknown key 'verison'; did you mean 'version'?"),
    ({"latency_budget_ms": 0}, "loopline.yaml, serving.latency_budget_ms: Input should be greater than 0, got 0."),
    ({"log_top": -1}, "loopline.yaml, serving.log_top: Input should be greater than or equal to 0, got -1."),
    ({"first_stag": {"model": "cheap"}},
     "loopline.yaml, serving.first_stag: unknown key 'first_stag'; did you mean 'first_stage'?"),
])
def test_serving_block_errors_name_the_key_and_the_fix(serving: dict[str, Any], expected: str) -> None:
    assert _error(_base(serving=serving)) == expected
