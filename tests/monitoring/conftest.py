"""A registered churn model and its exposures, as the server logs them, for the monitoring tests."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline.events import EventLog
from loopline.loop import train
from loopline.registry import Registry
from loopline.serving import Scorer
from loopline.serving._exposures import hash_value
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import customers_spec

DAY = datetime(2026, 3, 2, tzinfo=UTC)
FEATURES = ("tenure_months", "support_tickets", "plan", "country")


@pytest.fixture(scope="session")
def monitored_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a workspace whose churn model v1 is the champion (copy it before writing)."""
    from tests.conftest import make_customers

    root = tmp_path_factory.mktemp("monitored-model")
    data = root / "customers.csv"
    make_customers(4_000).to_csv(data, index=False)
    spec = root / "loopline.yaml"
    spec.write_text(yaml.safe_dump(customers_spec(data)), encoding="utf-8")
    ws = Workspace.open(root / "ws", env={})
    train(ProblemSpec.load(spec), ws, promote=True, n_boot=10)
    return ws.root


@pytest.fixture
def ws(monitored_model: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(monitored_model, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws", env={}, create=False)


def log_day(ws: Workspace, frame: pd.DataFrame, day: datetime) -> None:
    """Exposures as the server logs them: scores of the champion, features inline, the sensitive one hashed."""
    scorer = Scorer.load(Registry(ws, create=False), "churn")
    rows = frame[list(FEATURES)]
    n = len(rows)
    exposures = pd.DataFrame({
        "ts": [day + timedelta(seconds=int(s)) for s in np.linspace(0, 86_399, n)], "deployment": "churn",
        "request_id": [f"{day:%d}-{i}" for i in range(n)], "unit_id": frame["customer_id"].to_numpy(),
        "item_id": None, "arm": "champion", "model_version": str(scorer.version),
        "score": scorer.score(rows), "served": True, "position": None, "latency_ms": 2.0,
        **{c: rows[c].to_numpy() for c in FEATURES}})
    exposures["country"] = [hash_value(v) for v in exposures["country"]]
    EventLog.for_workspace(ws).write("exposures", exposures)


def shifted(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Longer tenures and a new plan on 8% of rows."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["tenure_months"] = (out["tenure_months"] * 1.6 + 6).round(1)
    out.loc[rng.random(len(out)) < 0.08, "plan"] = "enterprise"
    return out
