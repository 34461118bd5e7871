from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml


def make_customers(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A plain binary table: churn depends on tenure, tickets and plan, over 90 days."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    tenure = rng.gamma(2.0, 12.0, n)
    tickets = rng.poisson(1.5, n)
    plan = rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2])
    country = rng.choice(["de", "fr", "us", "jp"], n)
    logit = -1.0 - 0.04 * tenure + 0.5 * tickets + np.where(plan == "basic", 0.6, -0.3)
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "snapshot_at": start + pd.to_timedelta(np.sort(rng.uniform(0, 90, n)), unit="D"),
        "tenure_months": tenure.round(1),
        "support_tickets": tickets,
        "plan": plan,
        "country": country,
        "churned": churned,
    })


def customers_spec(data_path: Path, **over: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": "churn",
        "task": "binary",
        "data": {"source": data_path.name},
        "event_time": "snapshot_at",
        "entity": "customer_id",
        "label": {"column": "churned"},
        "slices": ["plan"],
        "sensitive": ["country"],
        "baseline": {"rule": "support_tickets"},
    }
    spec.update(over)
    return spec


@pytest.fixture
def customers_project(tmp_path: Path) -> Path:
    """A folder with customers.csv and a loopline.yaml describing it; returns the spec path."""
    data = tmp_path / "customers.csv"
    make_customers().to_csv(data, index=False)
    spec = tmp_path / "loopline.yaml"
    spec.write_text(yaml.safe_dump(customers_spec(data)), encoding="utf-8")
    return spec
