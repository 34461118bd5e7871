"""The reference profile a registered version stores: weighted back to the full data, with validation scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline.data import prepare
from loopline.features import Profile
from loopline.loop import train
from loopline.loop._train import _population_weights
from loopline.registry import Registry
from loopline.spec import ProblemSpec
from loopline.workspace import Workspace
from tests.conftest import customers_spec, make_customers


def _spec(tmp_path: Path, **over: object) -> ProblemSpec:
    tmp_path.mkdir(exist_ok=True)
    data = tmp_path / "customers.csv"
    make_customers(3000, seed=4).to_csv(data, index=False)
    path = tmp_path / "loopline.yaml"
    path.write_text(yaml.safe_dump(customers_spec(data, models={"candidates": ["linear"]}, **over)), encoding="utf-8")
    return ProblemSpec.load(path)


@pytest.mark.slow  # a whole (small) training run: about 3 s, most of it the report
def test_registered_profile_undoes_negative_downsampling_and_profiles_validation_scores(tmp_path: Path) -> None:
    spec = _spec(tmp_path, sampling={"negative_rate": 0.3})
    outcome = train(spec, Workspace.open(tmp_path / "ws", env={}), n_boot=20)
    stored = Registry(Workspace.open(tmp_path / "ws", env={})).profile("churn", outcome.version.version)
    assert stored is not None
    profile = Profile.from_dict(stored)
    assert outcome.prepared is not None
    splits = outcome.prepared.splits
    kept = splits.train["churned"].to_numpy()
    positives, negatives = int((kept == 1).sum()), int((kept == 0).sum())

    # The label's share is the weighted one exactly: every positive once, every kept negative 1 / 0.3 times.
    assert profile.weighted and profile.rows == len(splits.train)
    assert profile.label is not None and profile.label.rate is not None
    assert profile.label.rate == pytest.approx(positives / (positives + negatives / 0.3), rel=1e-12)
    # ... which is the full training split's share up to sampling noise (about 0.01 here), while the
    # downsampled split's own share is far off.
    full = prepare(_spec(tmp_path / "full")).splits.train["churned"].to_numpy()
    assert len(full) > len(kept)
    assert abs(profile.label.rate - full.mean()) < 0.04
    assert abs(kept.mean() - full.mean()) > 0.15
    assert profile.n_eff == pytest.approx((positives + negatives / 0.3) ** 2 / (positives + negatives / 0.09))

    # The prediction profile: the chosen model's scores on the validation split, unweighted.
    scores = outcome.trained[outcome.best].predict(splits.valid)
    prediction = profile.prediction
    assert prediction is not None and prediction.task == "binary"
    assert prediction.rows == len(splits.valid) and prediction.weight_total == len(splits.valid)
    assert prediction.n_eff == len(splits.valid) and prediction.missing_share == 0.0
    assert prediction.mean == pytest.approx(scores.mean(), rel=1e-12)
    binned = prediction.binned()
    assert binned is not None and binned.n == len(splits.valid)
    assert prediction.mean != pytest.approx(outcome.trained[outcome.best].predict(splits.train).mean(), rel=1e-3)


def test_population_weights() -> None:
    frame = pd.DataFrame({"y": [1, 0, 0, 1, 0]})
    np.testing.assert_array_equal(_population_weights(frame, "y", 0.25), [1.0, 4.0, 4.0, 1.0, 4.0])
    assert _population_weights(frame, "y", None) is None
    assert _population_weights(frame, "y", 1.0) is None
