"""``loopline predict | serve | deploy | kill | keys`` as a user meets them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from loopline.cli import app
from loopline.registry import Registry
from loopline.workspace import Workspace
from tests.conftest import make_customers
from tests.serving.conftest import customer_rows, served_ws, trained_workspace

__all__ = ["served_ws", "trained_workspace"]  # fixtures shared with tests/serving

runner = CliRunner()


def test_predict_writes_the_models_scores_for_every_row(served_ws: Workspace, tmp_path: Path) -> None:
    frame = make_customers(2_500, seed=7)
    source = tmp_path / "customers.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "scores.parquet"
    result = runner.invoke(app, ["predict", "churn", "--input", str(source), "--output", str(output),
                                 "--keep", "customer_id", "--chunk-rows", "1000", "-w", str(served_ws.root), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["rows"] == 2_500 and body["chunks"] == 3 and body["version"] == 1
    written = pd.read_parquet(output)
    assert list(written.columns) == ["customer_id", "score", "decision"]
    model = Registry(served_ws).load("churn", "champion")
    expected = model.predict(pd.read_csv(source))
    assert written["customer_id"].tolist() == frame["customer_id"].tolist()
    assert np.allclose(written["score"].to_numpy(), expected, rtol=0, atol=1e-9)
    assert (written["decision"].to_numpy() == (expected >= model.threshold)).all()


def test_predict_names_a_bad_column_and_writes_nothing(served_ws: Workspace, tmp_path: Path) -> None:
    frame = make_customers(300, seed=8).drop(columns=["plan"])
    source = tmp_path / "customers.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "scores.parquet"
    result = runner.invoke(app, ["predict", "churn", "--input", str(source), "--output", str(output),
                                 "-w", str(served_ws.root)])
    assert result.exit_code == 2 and "plan" in result.output and "Traceback" not in result.output
    assert not output.exists()
    typo = runner.invoke(app, ["predict", "churn", "--input", str(source), "--output", str(output),
                               "-w", str(tmp_path / "typo")])
    assert typo.exit_code == 2 and not (tmp_path / "typo").exists()


def test_keys_are_created_listed_without_tokens_and_revoked(served_ws: Workspace) -> None:
    ws = str(served_ws.root)
    created = runner.invoke(app, ["keys", "create", "ci-bot", "--scope", "predict", "-w", ws, "--json"])
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)["token"]
    listed = runner.invoke(app, ["keys", "list", "-w", ws, "--json"])
    assert [k["name"] for k in json.loads(listed.stdout)] == ["ci-bot"]
    assert token not in listed.stdout and token not in (served_ws.root / "serving" / "api_keys.json").read_text()
    revoked = runner.invoke(app, ["keys", "revoke", "ci-bot", "-w", ws, "--json"])
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["revoked_at"]
    assert json.loads(runner.invoke(app, ["keys", "list", "-w", ws, "--json"]).stdout) == []
    assert len(json.loads(runner.invoke(app, ["keys", "list", "--all", "-w", ws, "--json"]).stdout)) == 1


def test_deploy_and_kill_are_stored_with_their_history(served_ws: Workspace, tmp_path: Path) -> None:
    ws = str(served_ws.root)
    spec = tmp_path / "web.yaml"
    spec.write_text(yaml.safe_dump({"name": "web", "model": "churn", "experiment": "web-ab",
                                    "arms": {"control": {"version": "champion", "weight": 0.5},
                                             "treatment": {"version": 1, "weight": 0.5}}}), encoding="utf-8")
    deployed = runner.invoke(app, ["deploy", str(spec), "-w", ws, "--json"])
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout)["revision"] == 1
    again = runner.invoke(app, ["deploy", str(spec), "-w", ws, "--json"])
    assert json.loads(again.stdout)["revision"] == 2
    registry = Registry(served_ws)
    assert [d.revision for d in registry.deployment_history("web")] == [1, 2]
    assert registry.experiment("web-ab").arms["treatment"].version == 1

    killed = runner.invoke(app, ["kill", "web-ab", "--reason", "guardrail breached", "-w", ws, "--json"])
    assert killed.exit_code == 0, killed.output
    assert json.loads(killed.stdout) == {"target": "experiment web-ab", "killed": True, "reason": "guardrail breached"}
    back = runner.invoke(app, ["kill", "web-ab", "--undo", "--reason", "fixed", "-w", ws, "--json"])
    assert json.loads(back.stdout)["killed"] is False
    unknown = runner.invoke(app, ["kill", "no-such-thing", "--reason", "x", "-w", ws])
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "web", "modle": "churn"}), encoding="utf-8")
    refused = runner.invoke(app, ["deploy", str(bad), "-w", ws])
    assert refused.exit_code == 2 and "did you mean 'model'?" in " ".join(refused.output.split())


@pytest.mark.slow
def test_serve_answers_over_http_until_stopped(served_ws: Workspace, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(["loopline", "serve", "--model", "churn", "-w", str(served_ws.root), "--port",
                                    str(port), "--log-level", "warning"], env={**env, "OMP_NUM_THREADS": "1"},
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        rows = customer_rows(3)
        answer = httpx.post(f"{url}/v1/predict", json={"rows": rows}, timeout=10)
        assert answer.status_code == 200, answer.text
        scores = [p["score"] for p in answer.json()["predictions"]]
        expected = Registry(served_ws).load("churn", "champion").predict(pd.DataFrame(rows))
        assert np.allclose(scores, expected, rtol=0, atol=1e-9)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


def test_materialize_writes_the_snapshot_servers_read(tmp_path: Path) -> None:
    from tests.serving.test_online import project, random_usage

    spec = tmp_path / "shop.yaml"
    spec.write_text(yaml.safe_dump(project(tmp_path, random_usage(seed=3)).model_dump(mode="json")), encoding="utf-8")
    ws = Workspace.open(tmp_path / "ws", env={})
    result = runner.invoke(app, ["materialize", "--spec", str(spec), "-w", str(ws.root), "--as-of",
                                 "2030-01-01T00:00:00+00:00", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["store"] == "snapshot" and body["as_of"].startswith("2030-01-01")
    assert body["tables"]["usage"] == random_usage(seed=3)["user"].nunique()
    assert (ws.root / "online").is_dir()
    bad = runner.invoke(app, ["materialize", "--spec", str(spec), "-w", str(ws.root), "--store", "memcached"])
    assert bad.exit_code == 2 and "--store must be snapshot or redis" in bad.output
