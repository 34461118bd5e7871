"""A typo in the spec stops ``loopline train`` and ``loopline validate`` with exit code 2 before any run is recorded."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from loopline.cli import app
from tests.conftest import customers_spec, make_customers

runner = CliRunner()


@pytest.mark.parametrize(("over", "suggestion"), [
    ({"slices": ["plan", "contry"]}, "slices[1]: no column 'contry'; did you mean 'country'?"),
    ({"features": {"known_after": ["tenure_month"]}},
     "features.known_after[0]: no column 'tenure_month'; did you mean 'tenure_months'?"),
    ({"baseline": {"rule": "ln(1 + suport_tickets)"}}, "did you mean 'support_tickets'?"),
    ({"models": {"candidates": ["lightgbm"], "lightgbm": {"num_leaves": -3}}},
     "models.lightgbm: LightGBM refuses these parameters (num_leaves: -3): Check failed: (num_leaves) > (1)"),
    ({"models": {"candidates": ["lightgbm"], "lightgbm": {"num_leaves": "abc"}}},
     "Parameter num_leaves should be of type int"),
])
def test_a_typo_exits_2_with_a_suggestion_and_records_no_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             over: dict[str, Any], suggestion: str) -> None:
    monkeypatch.delenv("LOOPLINE_DB_URL", raising=False)
    data = tmp_path / "customers.csv"
    make_customers(1000).to_csv(data, index=False)
    spec = tmp_path / "loopline.yaml"
    spec.write_text(yaml.safe_dump(customers_spec(data, **over)), encoding="utf-8")
    workspace = tmp_path / "ws"

    trained = runner.invoke(app, ["train", "--spec", str(spec), "-w", str(workspace)])
    assert trained.exit_code == 2, trained.output
    assert suggestion in " ".join(trained.output.split())
    assert "Traceback" not in trained.output
    database = workspace / "loopline.db"
    if database.exists():  # the workspace may exist; the registry must hold no run
        with sqlite3.connect(database) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert "runs" not in tables or con.execute("SELECT count(*) FROM runs").fetchone() == (0,)

    checked = runner.invoke(app, ["validate", "--spec", str(spec)])
    assert checked.exit_code == 2 and suggestion in " ".join(checked.output.split())
