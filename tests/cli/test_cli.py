"""The command line as a user meets it: exit codes, one-line errors, --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopline.cli import app
from tests.conftest import make_customers

runner = CliRunner()


def test_init_writes_a_spec_that_validates(tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    make_customers(500).to_csv(data, index=False)
    spec = tmp_path / "loopline.yaml"
    result = runner.invoke(app, ["init", "--data", str(data), "--out", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    assert spec.exists()
    again = runner.invoke(app, ["init", "--data", str(data), "--out", str(spec)])
    assert again.exit_code == 2 and "--force" in again.output
    checked = runner.invoke(app, ["validate", "--spec", str(spec), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["rows"] == 500
    assert "source: customers.csv" in spec.read_text(encoding="utf-8")  # relative to the spec's folder
    shown = runner.invoke(app, ["init", "--data", str(data), "--out", str(spec), "--force"])
    assert shown.exit_code == 0 and "[linear, lightgbm]" in shown.output  # printed as written, not as markup


def test_user_error_exits_2_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--spec", str(tmp_path / "missing.yaml"), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "loopline init --data" in result.output
    assert "Traceback" not in result.output


def test_json_error_is_machine_readable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--spec", str(tmp_path / "missing.yaml"), "--json"])
    assert result.exit_code == 2
    assert "no such spec file" in json.loads(result.stdout)["error"]


@pytest.mark.slow
def test_train_models_promote_rollback(customers_project: Path, tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    first = runner.invoke(app, ["train", "--spec", str(customers_project), "-w", ws, "--promote", "--json"])
    assert first.exit_code == 0, first.output
    body = json.loads(first.stdout)
    assert body["version"] == 1 and body["promoted"] is True
    assert Path(body["report"]).exists()
    assert body["models"]["constant"]["test"]["log_loss"] > body["models"][body["best"]]["test"]["log_loss"]
    second = runner.invoke(app, ["train", "--spec", str(customers_project), "-w", ws, "--json"])
    assert json.loads(second.stdout)["version"] == 2

    moved = runner.invoke(app, ["models", "promote", "churn", "2", "-w", ws, "--json"])
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["to_version"] == 2
    back = runner.invoke(app, ["models", "rollback", "churn", "-w", ws, "--json"])
    assert json.loads(back.stdout)["to_version"] == 1
    shown = json.loads(runner.invoke(app, ["models", "show", "churn", "champion", "-w", ws, "--json"]).stdout)
    assert shown["version"] == 1
    assert [h["to_version"] for h in shown["alias_history"]] == [1, 2, 1]
    listed = json.loads(runner.invoke(app, ["models", "list", "-w", ws, "--json"]).stdout)
    assert sorted(v["version"] for v in listed) == [1, 2]
    unknown = runner.invoke(app, ["models", "show", "nope", "-w", ws])
    assert unknown.exit_code == 2 and "churn" in unknown.output
