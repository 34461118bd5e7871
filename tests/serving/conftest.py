"""A workspace with a registered churn model (trained once per session), copied fresh for each test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from loopline.loop import train
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import customers_spec, make_customers

FEATURES = ("tenure_months", "support_tickets", "plan", "country")


def customer_rows(n: int = 5, seed: int = 1) -> list[dict[str, object]]:
    """``n`` rows of the churn model's features (with ``customer_id``), as a client would send them."""
    frame = make_customers(n, seed=seed)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame[["customer_id", *FEATURES]].to_dict("records")]


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a workspace whose model 'churn' v1 is the champion (not to be written to: copy it)."""
    root = tmp_path_factory.mktemp("serving-model")
    data = root / "customers.csv"
    make_customers().to_csv(data, index=False)
    spec = root / "loopline.yaml"
    spec.write_text(yaml.safe_dump(customers_spec(data)), encoding="utf-8")
    ws = Workspace.open(root / "ws", env={})
    train(ProblemSpec.load(spec), ws, promote=True, n_boot=10)
    return ws.root


@pytest.fixture
def served_ws(trained_workspace: Path, tmp_path: Path) -> Workspace:
    """A private copy of the trained workspace (its own event log, keys and database)."""
    target = tmp_path / "ws"
    shutil.copytree(trained_workspace, target)
    return Workspace.open(target, env={}, create=False)
