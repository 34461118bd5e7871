"""The domain classifier: silent on identical distributions, finds a joint shift the marginals hide."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline.monitoring._domain import domain_check
from loopline.monitoring._window import WindowSource


def _pairs(n: int, correlation: float, rng: np.random.Generator) -> pd.DataFrame:
    a = rng.normal(size=n)
    b = correlation * a + np.sqrt(1 - correlation**2) * rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "plan": rng.choice(["x", "y", "z"], n)})


def _sample(frame: pd.DataFrame) -> dict[str, list[object]]:
    return {c: frame[c].tolist() for c in frame.columns}


def test_a_joint_shift_with_unchanged_marginals_is_found_and_explained() -> None:
    rng = np.random.default_rng(0)
    reference, window = _pairs(1_000, 0.8, rng), _pairs(5_000, -0.8, rng)
    with WindowSource.from_table(window) as source:
        found = domain_check(_sample(reference), source, numeric=["a", "b"], categorical=["plan"])
    assert found.drifted and found.auc is not None and found.auc > 0.8 and found.p_value is not None
    assert {name for name, _ in found.top_features[:2]} == {"a", "b"}
    assert found.rows == (1_000, 1_000)


@pytest.mark.slow
def test_identical_distributions_alarm_at_most_alpha_of_the_time() -> None:
    runs, alarms, aucs = 60, 0, []
    for seed in range(runs):
        rng = np.random.default_rng(100 + seed)
        with WindowSource.from_table(_pairs(3_000, 0.5, rng)) as source:
            found = domain_check(_sample(_pairs(600, 0.5, rng)), source, numeric=["a", "b"], categorical=["plan"],
                                 rows=600, seed=seed)
        alarms += found.drifted
        aucs.append(found.auc)
    assert alarms / runs <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / runs)
    assert abs(float(np.mean(aucs)) - 0.5) < 0.02  # out-of-fold AUC centred on 0.5 under the null


def test_too_few_rows_or_no_shared_column_say_so() -> None:
    rng = np.random.default_rng(1)
    with WindowSource.from_table(_pairs(20, 0.0, rng)) as source:
        few = domain_check(_sample(_pairs(500, 0.0, rng)), source, numeric=["a"], categorical=[])
        none = domain_check({"other": [1.0]}, source, numeric=["other"], categorical=[])
    assert not few.drifted and "too few rows" in few.reason and few.rows == (500, 20)
    assert not none.drifted and "no feature" in none.reason
