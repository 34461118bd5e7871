"""Categoricals the way each learner likes them: one-hot then target/hash for linear models, LightGBM's native
categories up to ``features.native_max_levels`` then target/hash for trees (``features/_plan.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from loopline.data import Column, Kind, Schema, Splits, infer_schema
from loopline.features import build_preprocessor
from loopline.models import TrainedModel, train_candidates
from loopline.serving._scorer import Scorer
from loopline.spec import FeaturesSpec, ProblemSpec

FEATURES = ("dest", "hour", "carrier", "noise1", "noise2")
LEVELS = 104


def make_flights(n: int = 12_000, seed: int = 0) -> pd.DataFrame:
    """Flights to one of 104 destinations whose delay risk depends on the destination and, for each destination,
    on whether the flight leaves in the morning or the evening (a destination's mean alone carries a third of
    its signal, as a hub that is late in the evening and on time in the morning); plus noise columns."""
    rng = np.random.default_rng(seed)
    levels = np.array([f"D{i:03d}" for i in range(LEVELS)])
    weights = rng.dirichlet(np.full(LEVELS, 2.0))
    main, evening = rng.normal(0, 0.6, LEVELS), rng.normal(0, 1.2, LEVELS)
    dest = rng.choice(LEVELS, n, p=weights)
    hour = rng.integers(5, 23, n)
    late = np.where(hour >= 14, 1.0, -1.0)
    logit = -0.8 + main[dest] + evening[dest] * late
    frame = pd.DataFrame({
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 10, unit="min"),
        "dest": levels[dest], "hour": hour.astype(np.float64),
        "carrier": rng.choice(["AA", "BB", "CC", "DD"], n), "noise1": rng.normal(size=n),
        "noise2": rng.choice([f"n{i}" for i in range(12)], n),
    })
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame.loc[[10, 20], "dest"] = "R00"  # a destination seen twice in training: too rare for a bin of its own
    return frame


def flight_splits(frame: pd.DataFrame) -> Splits:
    a, b = int(0.6 * len(frame)), int(0.8 * len(frame))
    return Splits(train=frame.iloc[:a].reset_index(drop=True), valid=frame.iloc[a:b].reset_index(drop=True),
                  test=frame.iloc[b:].reset_index(drop=True), label="y", time="ts", features=FEATURES,
                  schema=infer_schema(frame[list(FEATURES)]))


def flight_spec(**features: Any) -> ProblemSpec:
    return ProblemSpec.from_dict({
        "name": "delays", "task": "binary", "data": {"source": "x.csv"}, "event_time": "ts", "label": {"column": "y"},
        "features": features, "models": {"candidates": ["linear", "lightgbm"], "calibration": "none",
                                         "lightgbm": {"num_threads": 1, "num_boost_round": 400}},
    })


_CACHE: dict[str, tuple[Splits, dict[str, TrainedModel]]] = {}


def trained(setting: str) -> tuple[Splits, dict[str, TrainedModel]]:
    """Both candidates on the flights, with loopline's default encodings or with trees target-encoding too."""
    if setting not in _CACHE:
        splits = flight_splits(make_flights())
        spec = flight_spec() if setting == "default" else flight_spec(native_max_levels=50)
        _CACHE[setting] = splits, {m.name: m for m in train_candidates(splits, spec)}
    return _CACHE[setting]


def test_the_encoding_of_each_column_follows_its_cardinality_the_rows_and_the_learner() -> None:
    """Linear: one-hot up to high_cardinality values, then target; trees: codes up to native_max_levels values
    while training has 20 rows per value (always up to high_cardinality), then target; hashing instead of target
    for multiclass or when asked; each limit is inclusive."""
    sizes = {"few": 3, "at_50": 50, "at_51": 51, "dest": 104, "at_1000": 1000, "at_1001": 1001}
    schema = Schema(tuple(Column(name, Kind.CATEGORICAL, "str", n, 0.0) for name, n in sizes.items()))

    def encodings(mode: str, rows: int = 20_020, task: str = "binary", **spec: Any) -> dict[str, str]:
        pre = build_preprocessor(schema, list(sizes), spec=FeaturesSpec(**spec), task=task,  # type: ignore[arg-type]
                                 for_model=mode)  # type: ignore[arg-type]
        frame = pd.DataFrame({name: [f"v{i % n}" for i in range(rows)] for name, n in sizes.items()})
        pre.fit(frame, np.arange(rows) % 2)
        return pre.encodings_

    assert encodings("linear") == {"few": "onehot", "at_50": "onehot", "at_51": "target", "dest": "target",
                                   "at_1000": "target", "at_1001": "target"}
    assert encodings("tree") == {"few": "codes", "at_50": "codes", "at_51": "codes", "dest": "codes",
                                 "at_1000": "codes", "at_1001": "target"}
    assert encodings("tree", rows=2_080) == {"few": "codes", "at_50": "codes", "at_51": "codes", "dest": "codes",
                                             "at_1000": "target", "at_1001": "target"}
    assert encodings("tree", rows=2_079)["dest"] == "target"  # 19.99 rows per value
    assert encodings("tree", rows=200)["at_50"] == "codes"  # up to high_cardinality whatever the rows
    assert encodings("tree", native_max_levels=50) == {"few": "codes", "at_50": "codes", "at_51": "target",
                                                       "dest": "target", "at_1000": "target", "at_1001": "target"}
    assert encodings("tree", task="multiclass")["at_1001"] == "hash"
    assert encodings("linear", high_cardinality_encoding="hash")["dest"] == "hash"


def test_lightgbm_with_native_categories_beats_it_with_target_encoding_on_a_104_value_column() -> None:
    splits, native = trained("default")
    _, target = trained("target")
    y = splits.test["y"].to_numpy()
    auc = {name: float(roc_auc_score(y, models["lightgbm"].predict(splits.test)))
           for name, models in (("native", native), ("target", target))}
    assert auc["native"] - auc["target"] > 0.05, auc  # measured: 0.759 against 0.659
    # what each learner used is recorded in the model's params (LightGBM) and its preprocessor (both)
    assert native["lightgbm"].params["encodings"] == {"dest": "codes", "hour": "numeric", "carrier": "codes",
                                                      "noise1": "numeric", "noise2": "codes"}
    assert target["lightgbm"].params["encodings"]["dest"] == "target"
    linear = native["linear"].scorer.preprocessor.encodings_  # type: ignore[attr-defined]
    assert (linear["dest"], linear["carrier"], linear["noise2"]) == ("target", "onehot", "onehot")
    assert native["lightgbm"].params["cat_smooth"] == 10.0 and native["lightgbm"].params["min_data_per_group"] == 50


def test_an_unseen_destination_scores_as_a_missing_or_too_rare_one_and_the_compiled_scorer_agrees() -> None:
    splits, models = trained("default")
    model = models["lightgbm"]
    rows = splits.test.iloc[:6].reset_index(drop=True)
    unseen, missing = rows.copy(), rows.copy()
    unseen["dest"] = ["ZZZ", "new", "D999", "Z1", "Z2", "Z3"]
    missing["dest"] = None
    rare = rows.assign(dest="R00")
    expected = model.predict(unseen)
    np.testing.assert_array_equal(expected, model.predict(missing))
    np.testing.assert_array_equal(expected, model.predict(rare))  # as LightGBM treated the rare one in training
    assert not np.allclose(expected, model.predict(rows))  # the destination mattered for these rows
    scorer = Scorer.from_model(model, trees="lightgbm")
    for frame in (unseen, missing, rare, rows):
        np.testing.assert_allclose(scorer.score(frame[list(FEATURES)]), model.predict(frame), rtol=0, atol=1e-12)
    one = unseen.iloc[[0]][list(FEATURES)].to_dict("records")
    np.testing.assert_allclose(scorer.score(one), expected[:1], rtol=0, atol=1e-12)


def test_the_new_setting_leaves_the_hash_of_a_spec_that_does_not_set_it() -> None:
    assert flight_spec(native_max_levels=1000).spec_hash() == flight_spec().spec_hash()
    assert flight_spec(native_max_levels=200).spec_hash() != flight_spec().spec_hash()


def test_ids_that_keep_being_new_are_target_encoded_for_trees_too() -> None:
    """A feed's post ids: most rows of the later fifth of training hold a post never seen before; with native codes
    LightGBM would learn each post's own rate, which no later row can use."""
    from loopline.features._plan import RECURRING_SHARE, recurring

    frame = make_flights(6_000, seed=3)
    frame["post"] = [f"p{i // 8}" for i in range(len(frame))]  # 750 posts, each shown 8 times in a row
    schema = infer_schema(frame[[*FEATURES, "post"]])
    pre = build_preprocessor(schema, (*FEATURES, "post"), spec=FeaturesSpec(), task="binary", for_model="tree",
                             seed=0)
    pre.fit_transform(frame, frame["y"].to_numpy())
    assert pre.encodings_["post"] == "target" and pre.encodings_["dest"] == "codes"
    assert not recurring(frame["post"]) and recurring(frame["dest"])
    # the share that decides: the later fifth's rows whose value was seen before
    later = frame["dest"].iloc[4_800:]
    assert later.isin(set(frame["dest"].iloc[:4_800])).mean() >= RECURRING_SHARE
