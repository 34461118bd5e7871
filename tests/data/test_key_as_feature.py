"""A feature table's key is an id unless ``features.include`` lists it; then it is a feature: categorical even
when its values are numbers, numeric when ``features.types`` says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopline.data import Kind, prepare
from loopline.spec import ProblemSpec
from tests.conftest import customers_spec, make_customers


def _prepare(tmp_path: Path, **features: Any) -> Any:
    customers = make_customers()
    customers["region"] = np.random.default_rng(1).integers(0, 40, len(customers))  # a code, not a magnitude
    customers.to_csv(tmp_path / "customers.csv", index=False)
    regions = pd.DataFrame({
        "region": np.tile(np.arange(40), 2),
        "computed_at": np.repeat(pd.to_datetime(["2023-12-01", "2024-02-01"], utc=True), 40),
        "region_churn": np.random.default_rng(2).random(80),
    })
    regions.to_csv(tmp_path / "regions.csv", index=False)
    body = customers_spec(tmp_path / "customers.csv", features=features, feature_tables=[
        {"name": "regions", "source": "regions.csv", "key": "region", "time": "computed_at"}])
    return prepare(ProblemSpec.from_dict(body, base_dir=tmp_path))


def test_a_key_stays_out_unless_include_lists_it(tmp_path: Path) -> None:
    plain = _prepare(tmp_path)
    assert "region" not in plain.splits.features and "region_churn" in plain.splits.features

    included = _prepare(tmp_path, include=["tenure_months", "region", "region_churn", "customer_id"])
    assert included.splits.features == ("tenure_months", "region", "region_churn")
    assert included.schema["region"].kind == Kind.CATEGORICAL  # integer codes, read as categories
    assert included.schema["region_churn"].kind == Kind.NUMERIC
    notes = {i.column: i.message for i in included.validation.issues if i.check == "not_a_feature"}
    assert notes == {"customer_id": "features.include lists 'customer_id', which is the label, the event time, an id "
                                    "(entity, unit, group) or a feature table's time: it is never a feature."}


def test_an_included_key_typed_numeric_is_numeric(tmp_path: Path) -> None:
    typed = _prepare(tmp_path, include=["tenure_months", "region"], types={"region": "numeric"})
    assert typed.splits.features == ("tenure_months", "region")
    assert typed.schema["region"].kind == Kind.NUMERIC
