"""Evaluation reports from real small training runs (the whole offline loop on seeded tables), for the
report tests and for looking at the pages: a binary churn table trained twice, so the second run is
compared with the champion of the first, and a regression trained with a linear model only, so its
report shows signed coefficients and the predicted-vs-actual plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from loopline.loop import TrainingOutcome, train
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import customers_spec, make_customers


def _project(folder: Path, frame: pd.DataFrame, spec: dict[str, Any]) -> ProblemSpec:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "customers.csv", index=False)
    path = folder / "loopline.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return ProblemSpec.load(path)


def binary_runs(root: Path, *, n: int = 6000, n_boot: int = 60) -> tuple[TrainingOutcome, TrainingOutcome]:
    """Churn trained twice in one workspace: the first run becomes champion (a LightGBM cut short at 5 rounds), the
    second (the default candidates) is judged against it. A rare churn class keeps the calibration plot honest."""
    frame = make_customers(n, seed=3)
    rng = np.random.default_rng(3)
    keep = (frame["churned"] == 0) | (rng.random(n) < 0.25)  # thin the churners to a rare class
    frame = frame[keep].reset_index(drop=True)
    ws = Workspace.open(root / "ws", env={})
    data = root / "binary" / "customers.csv"
    first = _project(root / "binary", frame, customers_spec(data, slices=["plan", "country", "tenure_months"],
                                                            models={"candidates": ["lightgbm"],
                                                                    "lightgbm": {"num_boost_round": 5}}))
    before = train(first, ws, promote=True, n_boot=n_boot)
    second = _project(root / "binary", frame, customers_spec(data, slices=["plan", "country", "tenure_months"]))
    return before, train(second, ws, n_boot=n_boot)


def regression_run(root: Path, *, n: int = 4000, n_boot: int = 60) -> TrainingOutcome:
    """Monthly spend from tenure, tickets and plan, fitted by the linear candidate alone."""
    frame = make_customers(n, seed=5).drop(columns=["churned"])
    rng = np.random.default_rng(5)
    plan_bonus = frame["plan"].map({"basic": 0.0, "pro": 6.0, "team": 15.0}).to_numpy()
    frame["spend"] = (40 + 0.8 * frame["tenure_months"] - 6.0 * frame["support_tickets"] + plan_bonus
                      + rng.normal(0, 12, n)).round(2)
    spec = customers_spec(root / "regression" / "customers.csv", name="spend", task="regression",
                          label={"column": "spend"}, slices=["plan", "country"], sensitive=[],
                          models={"candidates": ["linear"]})
    ws = Workspace.open(root / "ws-regression", env={})
    return train(_project(root / "regression", frame, spec), ws, n_boot=n_boot)
