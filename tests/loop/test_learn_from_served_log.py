"""The loop closes: traffic served by the app, plus the feedback posted to it, is a training set for the
next ``loopline train`` (labels from a ``label.from_events`` spec over the served log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from loopline.data import prepare
from loopline.loop import train
from loopline.serving._app import create_app
from loopline.serving._server import ServeSettings
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import make_customers
from tests.serving.conftest import FEATURES, served_ws, trained_workspace
from tests.serving.test_app import TestClient

__all__ = ["served_ws", "trained_workspace"]  # fixtures shared with tests/serving


@pytest.mark.slow
def test_served_exposures_and_posted_feedback_train_the_next_model(served_ws: Workspace, tmp_path: Path) -> None:
    customers = make_customers(600, seed=11)
    churned: dict[str, int] = {}
    app = create_app(served_ws, model="churn", settings=ServeSettings(require_auth=False, log_interval_s=0.2))
    with TestClient(app) as client:
        for row in customers.to_dict("records"):
            features = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k in FEATURES}
            answer = client.post("/v1/predict", json={"rows": [features], "unit_id": row["customer_id"]})
            assert answer.status_code == 200, answer.text
            churned[answer.json()["request_id"]] = int(row["churned"])
        events = [{"request_id": rid, "event": "churn"} for rid, label in churned.items() if label]
        # One later event closes every exposure's label window (what the passing of time does in production).
        later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        events.append({"request_id": "clock", "event": "churn", "ts": later})  # answers no exposure
        for start in range(0, len(events), 200):
            assert client.post("/v1/feedback", json={"events": events[start:start + 200]}).status_code == 200

    spec_path = served_ws.root / "from-served.yaml"
    spec_path.write_text(yaml.safe_dump({
        "name": "churn-served", "task": "binary",
        "data": {"source": f"{served_ws.events_root}/exposures/**/*.parquet"},
        "event_time": "ts", "entity": "unit_id",
        "label": {"name": "churned", "from_events": {"feedback": f"{served_ws.events_root}/feedback/**/*.parquet",
                                                     "event": "churn", "window": "1h", "on": ["request_id"]}},
        "features": {"include": list(FEATURES)},
        "split": {"fractions": [0.6, 0.2, 0.2]},
        "models": {"candidates": ["linear"]},
    }), encoding="utf-8")
    spec = ProblemSpec.load(spec_path)
    prepared = prepare(spec)
    frames = [prepared.splits.train, prepared.splits.valid, prepared.splits.test]
    rows = sum(len(f) for f in frames)
    labels = {rid: int(y) for f in frames for rid, y in zip(f["request_id"], f["churned"], strict=True)}
    assert rows == len(customers) and labels == churned  # every served row, labelled by its own feedback
    assert {"position", "score", "model_version"} <= set(prepared.splits.train.columns)
    outcome = train(spec, Workspace.open(tmp_path / "next", env={}), n_boot=10)
    assert outcome.version.version == 1 and outcome.version.features == FEATURES
    assert np.isfinite(outcome.evaluation.metrics["log_loss"])
