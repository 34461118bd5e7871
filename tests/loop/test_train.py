"""The offline loop end to end on a user's own table, and its refusals of bad input."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pandas as pd
import pytest
import yaml

from loopline import LooplineError
from loopline.loop import train
from loopline.loop._train import _better, _choose
from loopline.models import TrainedModel, load_model
from loopline.registry import Registry
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import customers_spec, make_customers


def test_train_registers_a_model_that_beats_its_baselines(customers_project: Path, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    outcome = train(ProblemSpec.load(customers_project), ws, promote=True, n_boot=50)

    assert outcome.beats_baselines and outcome.promoted
    names = {m.name for m in outcome.models if m.is_baseline}
    assert {"constant", "random", "heuristic"} <= names
    registry = Registry(ws)
    champion = registry.get_version("churn", "champion")
    assert champion.version == outcome.version.version == 1
    assert outcome.report.html.exists() and outcome.report.json.exists()
    # The stored model reloads (checksum verified) and predicts exactly as the registry says it does.
    model = registry.load("churn", "champion")
    test = make_customers().tail(200)
    reloaded = load_model(Path(champion.artifact_path), sha256=champion.sha256)
    assert (model.predict(test) == reloaded.predict(test)).all()
    assert outcome.evaluation.metrics["log_loss"] < outcome.evaluation.scores_of("constant").metrics["log_loss"].value
    # The thread settings are part of the lineage: in the run, and for LightGBM in the model and its card.
    runtime = registry.get_run(outcome.run_id).params["runtime"]
    assert runtime["OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY", "") and runtime["available_cores"] >= 1
    lightgbm = outcome.trained["lightgbm"]
    assert lightgbm.params["num_threads"] == 1  # a small table: one thread
    card = Path(champion.card_path).read_text(encoding="utf-8")
    assert ("num_threads=1" in card) == (champion.family == "lightgbm")


def _write(tmp_path: Path, spec: dict[str, Any], frame: pd.DataFrame | None) -> Path:
    if frame is not None:
        frame.to_csv(tmp_path / "customers.csv", index=False)
    path = tmp_path / "loopline.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _bad_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    data = tmp_path / "customers.csv"
    good = make_customers(800)
    cases: dict[str, tuple[Path, str]] = {}
    root = tmp_path / "cases"

    def case(name: str, spec: dict[str, Any], frame: pd.DataFrame | None, expected: str) -> None:
        folder = root / name
        folder.mkdir(parents=True)
        cases[name] = (_write(folder, spec, frame), expected)

    case("missing_file", customers_spec(data, data={"source": "nowhere.csv"}), None, "nowhere.csv")
    case("empty_table", customers_spec(data), good.head(0), "empty")
    case("absent_label", customers_spec(data, label={"column": "left"}), good, "left")
    case("one_class", customers_spec(data), good.assign(churned=0), "one class")
    case("bad_timestamps", customers_spec(data), good.assign(snapshot_at="next tuesday"), "snapshot_at")
    case("misspelled_key", {**customers_spec(data), "slicez": ["plan"]}, good, "did you mean 'slices'")
    return cases


def test_bad_input_gets_a_specific_error_and_leaves_the_registry_untouched(
    customers_project: Path, tmp_path: Path
) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    train(ProblemSpec.load(customers_project), ws, n_boot=20)
    registry = Registry(ws)
    before = ([v.version for v in registry.list_versions()], len(registry.runs()))
    for name, (spec_path, expected) in _bad_cases(tmp_path).items():
        with pytest.raises(LooplineError) as info:
            train(ProblemSpec.load(spec_path), ws, n_boot=20)
        assert expected.lower() in str(info.value).lower(), (name, str(info.value))
        after = ([v.version for v in registry.list_versions()], len(registry.runs()))
        assert after == before, name


def _named(*names: str) -> list[TrainedModel]:
    return [cast(TrainedModel, SimpleNamespace(name=n)) for n in names]


def test_calibration_ratio_primary_chooses_and_beats_by_distance_from_one() -> None:
    valid = {"under": {"calibration_ratio": 0.5}, "close": {"calibration_ratio": 0.97},
             "over": {"calibration_ratio": 1.2}, "broken": {"calibration_ratio": float("nan")}}
    assert _choose(_named("under", "over", "close", "broken"), valid, "calibration_ratio").name == "close"
    assert _choose(_named("broken", "under", "over"), valid, "calibration_ratio").name == "over"
    assert _better(0.97, 1.2, "calibration_ratio") and _better(0.97, 0.5, "calibration_ratio")
    assert not _better(0.5, 0.97, "calibration_ratio") and not _better(1.2, 1.02, "calibration_ratio")
    assert _choose(_named("a", "b"), {"a": {"roc_auc": 0.7}, "b": {"roc_auc": 0.8}}, "roc_auc").name == "b"
    assert _choose(_named("a", "b"), {"a": {"log_loss": 0.3}, "b": {"log_loss": 0.4}}, "log_loss").name == "a"
