"""``features.fixed_at_serving``: a training-only signal (the feed position) held at one value in every prediction,
offline, after a save and load, and in the compiled request-time scorer; its mistakes refused before any data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopline import SpecError
from loopline.data import prepare
from loopline.models import load_model, save_model, train_candidates
from loopline.serving import Scorer
from loopline.spec import ProblemSpec


def _clicks(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Impressions whose click probability is appeal times an examination probability that falls with position.
    The logging policy placed items by appeal and also by ``boost``, which has nothing to do with clicks: in the
    log, boosted items are clicked more, only because they were shown higher."""
    rng = np.random.default_rng(seed)
    appeal = rng.normal(size=n)
    boost = rng.normal(size=n)
    position = np.clip(np.round(4.5 - 1.0 * appeal - 2.0 * boost + rng.normal(0, 1.0, n)), 0, 9).astype(int)
    examined = 1 / (1 + position) ** 0.9
    p = examined / (1 + np.exp(-(appeal - 0.5)))
    return pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"), "appeal": appeal,
                         "boost": boost, "position": position,
                         "clicked": (rng.random(n) < p).astype(int)})


def _spec(tmp_path: Path, **features: Any) -> ProblemSpec:
    path = tmp_path / "clicks.parquet"
    _clicks().to_parquet(path)
    return ProblemSpec.from_dict({"name": "clicks", "task": "binary", "data": {"source": str(path)},
                                  "event_time": "ts", "label": {"column": "clicked"},
                                  "models": {"candidates": ["lightgbm", "linear"]}, "features": features},
                                 base_dir=tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProblemSpec, Any, list[Any]]:
    tmp = tmp_path_factory.mktemp("fixed")
    spec = _spec(tmp, fixed_at_serving={"position": 0})
    prepared = prepare(spec)
    return spec, prepared, train_candidates(prepared.splits, spec)


def test_the_position_is_trained_on_and_held_at_its_value_in_every_prediction(
        trained: tuple[ProblemSpec, Any, list[Any]]) -> None:
    _, prepared, models = trained
    test = prepared.splits.test
    assert "position" in prepared.splits.features
    for model in models:
        assert model.fixed == {"position": 0}
        at_top = test.assign(position=0)
        assert np.array_equal(model.predict(test), model.predict(at_top))  # whatever the logged position
        moved = test.assign(position=9)
        assert np.array_equal(model.predict(moved), model.predict(test))
        # the model did learn the position: scored with the logged positions, its raw output differs
        assert not np.allclose(model.scorer.margin(test), model.scorer.margin(at_top))


def test_held_at_the_top_the_model_ranks_by_appeal_not_by_the_old_rankings_positions(
        trained: tuple[ProblemSpec, Any, list[Any]], tmp_path: Path) -> None:
    _, prepared, models = trained
    test = prepared.splits.test
    blind = _spec(tmp_path, exclude=["position"])
    blind_models = train_candidates(prepare(blind).splits, blind)
    from scipy.stats import spearmanr

    for debiased, plain in zip(models, blind_models, strict=True):  # LightGBM, then linear
        held, without = debiased.predict(test), plain.predict(test)
        # the position-blind model learns that boosted items get clicked (they were shown higher); the model that
        # saw the position puts most of that on the position (the rest: its own misfit of the position's effect),
        # and ranks by appeal (measured: boost 0.46 -> 0.11 for LightGBM, 0.58 -> 0.20 linear; appeal 0.78 -> 0.96)
        boosted, boosted_before = spearmanr(held, test["boost"]).statistic, spearmanr(without, test["boost"]).statistic
        assert boosted_before > 0.3 and abs(boosted) < boosted_before / 2
        assert spearmanr(held, test["appeal"]).statistic > spearmanr(without, test["appeal"]).statistic + 0.1


def test_a_save_and_load_keeps_it_and_the_request_time_scorer_fills_it(
        trained: tuple[ProblemSpec, Any, list[Any]], tmp_path: Path) -> None:
    _, prepared, models = trained
    test = prepared.splits.test
    for model in models:
        sha = save_model(model, tmp_path / model.name)
        loaded = load_model(tmp_path / model.name, sha256=sha)
        assert loaded.fixed == {"position": 0}  # type: ignore[attr-defined]
        assert np.array_equal(loaded.predict(test), model.predict(test))
        scorer = Scorer.from_model(loaded, trees="lightgbm")
        assert scorer.features == ("appeal", "boost")  # a request need not send the position
        rows = test[["appeal", "boost"]]
        assert np.allclose(scorer.score(rows), model.predict(test), rtol=0, atol=1e-9)


def test_models_without_it_keep_their_exact_manifest(tmp_path: Path) -> None:
    spec = _spec(tmp_path, exclude=["position"])
    model = train_candidates(prepare(spec).splits, spec)[0]
    save_model(model, tmp_path / "plain")
    assert '"fixed"' not in (tmp_path / "plain" / "model.json").read_text()


@pytest.mark.parametrize(("features", "message"), [
    ({"fixed_at_serving": {"position": 0}, "exclude": ["position"]},
     r"fixed_at_serving names 'position', which features\.exclude also lists"),
    ({"fixed_at_serving": {"position": 0}, "known_after": ["position"]},
     r"fixed_at_serving names 'position', which features\.known_after also lists"),
    ({"fixed_at_serving": {"position": 0}, "include": ["appeal"]},
     r"fixed_at_serving names \['position'\], which features.include does not list"),
    ({"fixed_at_serving": {"position": float("nan")}}, r"fixed_at_serving\.position: give the value"),
])
def test_mistakes_are_refused_when_the_spec_loads(tmp_path: Path, features: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _spec(tmp_path, **features)


def test_a_fixed_column_missing_from_the_data_is_named(tmp_path: Path) -> None:
    from loopline import DataError

    spec = _spec(tmp_path, fixed_at_serving={"slot": 0})
    with pytest.raises(DataError, match=r"features\.fixed_at_serving names 'slot', which is not in the data"):
        prepare(spec)


def test_holding_a_feature_changes_the_spec_hash_and_leaving_it_empty_does_not(tmp_path: Path) -> None:
    plain = _spec(tmp_path, exclude=["position"])
    empty = _spec(tmp_path, exclude=["position"], fixed_at_serving={})
    held = _spec(tmp_path, fixed_at_serving={"position": 0})
    at_two = _spec(tmp_path, fixed_at_serving={"position": 2})
    assert plain.spec_hash() == empty.spec_hash()
    assert len({plain.spec_hash(), held.spec_hash(), at_two.spec_hash()}) == 3
