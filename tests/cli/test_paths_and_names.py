"""Names and paths from users and data never lead out of the workspace; read-only commands create nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopline import ExperimentError
from loopline.cli import app
from loopline.events import EventLog
from loopline.experiments import ExperimentSpec
from loopline.loop import analyze_experiment, experiment_spec_path
from loopline.registry import Registry
from loopline.workspace import Workspace
from tests.experiments.logs import Plan, build
from tests.registry.conftest import make_artifact, register

runner = CliRunner()
ESCAPE = "../../../escape"
NAME_ERROR = "experiment name '../../../escape' is not usable: expected 1-100 letters, digits"


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def escape_ws(tmp_path: Path) -> Path:
    """A workspace deep inside tmp_path whose event log holds an experiment literally named '../../../escape',
    with a spec of that name where the CLI argument would lead (tmp_path/a/escape.yaml)."""
    ws = Workspace.open(tmp_path / "a" / "b" / "ws", env={})
    build(EventLog.for_workspace(ws), Plan(units={"control": 300, "treatment": 300},
                                           click_p={"control": 0.05, "treatment": 0.06}, experiment=ESCAPE, seed=3))
    (ws.root / "experiments").mkdir()
    planted = ws.root / "experiments" / f"{ESCAPE}.yaml"
    planted.resolve().write_text(yaml.safe_dump({"name": ESCAPE, "arms": {"control": 1, "treatment": 1}}),
                                 encoding="utf-8")
    assert planted.resolve() == tmp_path / "a" / "escape.yaml"
    return ws.root


def test_the_cli_name_argument_is_checked_before_it_is_used_in_a_path(escape_ws: Path, tmp_path: Path) -> None:
    before = _files(tmp_path)
    result = runner.invoke(app, ["experiment", "analyze", ESCAPE, "-w", str(escape_ws)])
    assert result.exit_code == 2, result.output
    assert NAME_ERROR in result.output and "Traceback" not in result.output
    assert _files(tmp_path) == before  # no report anywhere, inside the workspace or out of it


def test_a_spec_file_naming_an_escaping_experiment_is_refused(escape_ws: Path, tmp_path: Path) -> None:
    before = _files(tmp_path)
    spec = tmp_path / "a" / "escape.yaml"
    result = runner.invoke(app, ["experiment", "analyze", "exp1", "-w", str(escape_ws), "--spec", str(spec)])
    assert result.exit_code == 2, result.output
    assert f"{spec}, name: {NAME_ERROR}" in result.output
    assert _files(tmp_path) == before


def test_api_callers_cannot_write_a_report_outside_the_workspace(escape_ws: Path, tmp_path: Path) -> None:
    workspace = Workspace.open(escape_ws, env={}, create=False)
    with pytest.raises(ExperimentError, match="is not usable"):
        ExperimentSpec.from_dict({"name": ESCAPE, "arms": {"control": 1, "treatment": 1}})
    with pytest.raises(ExperimentError, match="is not usable"):
        experiment_spec_path(workspace, ESCAPE)  # where the demo writes its spec
    # A spec that skipped validation still cannot steer the report folder.
    valid = ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 1, "treatment": 1}})
    sneaky = valid.model_copy(update={"name": ESCAPE})
    before = _files(tmp_path)
    with pytest.raises(ExperimentError, match=r"experiment name '\.\./\.\./\.\./escape' is not usable"):
        analyze_experiment(workspace, sneaky)
    assert _files(tmp_path) == before
    assert experiment_spec_path(workspace, "exp1") == workspace.root / "experiments" / "exp1.yaml"


@pytest.mark.parametrize("args", [
    ["models", "list"], ["models", "list", "--json"], ["models", "show", "churn"],
    ["models", "promote", "churn", "1"], ["models", "rollback", "churn"],
    ["experiment", "design", "--metric", "ratio"], ["experiment", "analyze", "exp1"],
])
def test_a_mistyped_workspace_is_an_error_and_is_not_created(args: list[str], tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    result = runner.invoke(app, [*args, "-w", str(typo)])
    assert result.exit_code == 2, result.output
    text = json.loads(result.stdout)["error"] if "--json" in args else result.output
    assert f"no workspace at {typo}: the folder does not exist" in " ".join(text.split())
    assert "loopline train" in text and "Traceback" not in result.output
    assert not typo.exists()


def test_reading_a_workspace_without_a_registry_does_not_create_one(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    result = runner.invoke(app, ["models", "list", "-w", str(ws.root)])
    assert result.exit_code == 2, result.output
    assert "no metadata database at" in result.output and "loopline train" in result.output
    assert not (ws.root / "loopline.db").exists()


def test_read_only_commands_still_read_an_existing_registry(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={})
    register(Registry(ws), make_artifact(tmp_path / "saved"))
    listed = runner.invoke(app, ["models", "list", "-w", str(ws.root), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [v["version"] for v in json.loads(listed.stdout)] == [1]


def test_evaluate_with_a_mistyped_workspace_is_an_error_and_creates_nothing(customers_project: Path,
                                                                            tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    result = runner.invoke(app, ["evaluate", "--spec", str(customers_project), "-w", str(typo)])
    assert result.exit_code == 2, result.output
    assert "no workspace at" in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not typo.exists()
    empty = Workspace.open(tmp_path / "empty", env={})
    result = runner.invoke(app, ["evaluate", "--spec", str(customers_project), "-w", str(empty.root)])
    assert result.exit_code == 2, result.output
    assert not (empty.root / "loopline.db").exists()
