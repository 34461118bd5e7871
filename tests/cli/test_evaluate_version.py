"""``loopline evaluate --version``: the version is resolved before any data is read, and every way its
recorded lineage (spec hash, data fingerprint, features) differs from the current spec and data is a
warning on the screen, in ``--json`` and in the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from loopline import DataError
from loopline.cli import app
from loopline.loop import evaluate_version, train
from loopline.loop._lineage import changed_keys
from loopline.registry import Registry
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import customers_spec, make_customers

runner = CliRunner()
ROWS = "the test split may now contain rows this version was trained on"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding churn v1, trained on customers.csv under the plain customers spec."""
    root = tmp_path_factory.mktemp("trained")
    spec = _project(root / "project", customers_spec(Path("customers.csv")))
    train(ProblemSpec.load(spec), Workspace.open(root / "ws", env={}), promote=True, n_boot=20)
    return root / "ws"


def _project(folder: Path, spec: dict[str, Any], frame: pd.DataFrame | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (make_customers() if frame is None else frame).to_csv(folder / "customers.csv", index=False)
    path = folder / "loopline.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _evaluate(spec: Path, ws: Path, *extra: str) -> dict[str, Any]:
    result = runner.invoke(app, ["evaluate", "-s", str(spec), "-w", str(ws), "--json", *extra])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def _lineage(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "since v1 was trained" in w or "features differ" in w]


def test_a_wrong_version_fails_before_any_data_is_read(trained: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("prepare ran before the version was resolved")

    monkeypatch.setattr("loopline.loop._train.prepare", refuse)
    spec = _project(tmp_path, customers_spec(Path("customers.csv")))
    result = runner.invoke(app, ["evaluate", "-s", str(spec), "-w", str(trained), "--version", "v9"])
    assert result.exit_code == 2, result.output
    assert "model 'churn' has no version 9; its versions are 1" in result.output
    assert "Traceback" not in result.output and "prepare ran" not in result.output


def test_the_same_spec_and_data_give_no_lineage_warning(trained: Path, tmp_path: Path) -> None:
    body = _evaluate(_project(tmp_path, customers_spec(Path("customers.csv"))), trained)
    assert body["version"] == 1
    assert _lineage(body["warnings"]) == []
    assert body["metrics"]["roc_auc"] > 0.6


def test_an_edited_split_is_named_with_its_consequence(trained: Path, tmp_path: Path) -> None:
    spec = _project(tmp_path, customers_spec(Path("customers.csv"), split={"fractions": [0.5, 0.2, 0.3]}))
    body = _evaluate(spec, trained, "--version", "1")
    [warning] = _lineage(body["warnings"])
    assert warning.startswith("the spec changed since v1 was trained (spec hash ")
    assert "changed: split.fractions)" in warning and ROWS in warning
    assert body["warnings"][0] == warning
    report = json.loads(Path(body["json"]).read_text(encoding="utf-8"))
    assert warning in report["warnings"]
    shown = runner.invoke(app, ["evaluate", "-s", str(spec), "-w", str(trained)])
    assert shown.exit_code == 0, shown.output
    assert "churn v1 (champion) on test" in shown.output
    assert "warning: the spec changed since v1 was trained" in shown.output


def test_a_settings_only_change_says_the_rows_are_split_as_before(trained: Path, tmp_path: Path) -> None:
    spec = _project(tmp_path, customers_spec(Path("customers.csv"), metrics={"primary": "log_loss"}))
    [warning] = _lineage(_evaluate(spec, trained)["warnings"])
    assert "changed: metrics.primary)" in warning and "the rows are split as before" in warning
    assert ROWS not in warning


def test_changed_data_and_a_dropped_feature_are_warned(trained: Path, tmp_path: Path) -> None:
    edited = make_customers()
    edited.loc[edited.index[:50], "support_tickets"] += 1
    spec = _project(tmp_path, customers_spec(Path("customers.csv"), features={"exclude": ["plan"]}), edited)
    spec_warning, data, features = _lineage(_evaluate(spec, trained)["warnings"])
    assert "changed: features.exclude)" in spec_warning and ROWS in spec_warning
    assert data.startswith("the data changed since v1 was trained (fingerprint ")
    assert "may now contain rows this version was trained on" in data
    assert features == ("the features differ from those v1 was trained on: it uses plan, which the spec no "
                        "longer selects as features (if they were excluded for leaking the label, v1's metrics "
                        "here cannot be trusted). v1 scores with its own features; retrain to use the current list.")


def test_without_the_spec_in_the_run_the_changed_keys_are_unknown(trained: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = Registry.get_run

    def without_spec(self: Registry, run_id: str) -> Any:
        run = real(self, run_id)
        return type(run)(**{**run.__dict__, "params": {}})

    monkeypatch.setattr(Registry, "get_run", without_spec)
    spec = ProblemSpec.load(_project(tmp_path, customers_spec(Path("customers.csv"), split={"gap": "1d"})))
    result = evaluate_version(spec, Workspace.open(trained, env={}), "champion", n_boot=20)
    [warning] = _lineage(list(result.warnings))
    assert "the training run does not hold its spec, so which keys changed is unknown" in warning and ROWS in warning
    assert result.version.version == 1


def test_changed_keys_go_two_levels_deep() -> None:
    old = {"name": "a", "split": {"fractions": [0.7, 0.15, 0.15], "gap": 0}, "slices": ["x"]}
    new = {"name": "a", "split": {"fractions": [0.5, 0.2, 0.3], "gap": 0}, "slices": ["y"], "seed": 1}
    assert changed_keys(old, new) == ["seed", "slices", "split.fractions"]
    assert changed_keys(old, old) == []
    # a setting added after a spec was stored is absent from it: absent and its default are no change
    stored = {"label": {"column": "y"}, "features": {"exclude": []}}
    now = {"label": {"column": "y", "drop_missing": False}, "features": {"exclude": [], "fixed_at_serving": {}}}
    assert changed_keys(stored, now) == []
    assert changed_keys(stored, {**now, "label": {"column": "y", "drop_missing": True}}) == ["label.drop_missing"]


def test_a_version_trained_on_a_column_the_data_lost_is_refused_by_name(trained: Path, tmp_path: Path) -> None:
    frame = make_customers().drop(columns=["country"])
    spec = ProblemSpec.load(_project(tmp_path, customers_spec(Path("customers.csv"), sensitive=[]), frame))
    with pytest.raises(DataError, match=r"v1 of 'churn' was trained on column\(s\) country, which the current data "
                                        r"does not have \(it has: customer_id, .*\)\. Restore them, or retrain"):
        evaluate_version(spec, Workspace.open(trained, env={}), "1", n_boot=20)
