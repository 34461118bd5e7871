"""The compiled scoring path: every encoder's array form and every model equal ``Model.predict``."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.feature_extraction import FeatureHasher

from loopline import InputError, MissingExtraError
from loopline.data import Splits, infer_schema
from loopline.models import TrainedModel, train_candidates
from loopline.serving import _compile
from loopline.serving._compile import bucket, calendar
from loopline.serving._scorer import Scorer
from loopline.serving._trees import probe_rows
from tests.models.samples import make_spec

WIDE = ("num", "flag", "at", "plan", "user", "note")
WORDS = np.array(["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "red", "blue", "green", "fast",
                  "slow", "happy", "sad", "bright", "dark"])
HAS_LLEAVES = importlib.util.find_spec("lleaves") is not None


def make_wide(task: str, n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Every feature kind, each with missing values: numeric, boolean, timestamp, a low-cardinality category
    with a rare value, a high-cardinality one (about 300 users) and free text."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"),
        "num": np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n)),
        "flag": pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.4), dtype="boolean"),
        "at": pd.Series(pd.Timestamp("2024-01-01", tz="UTC")
                        + pd.to_timedelta(rng.integers(0, 60 * 24 * 30, n), unit="min")).where(rng.random(n) > 0.1),
        "plan": pd.Series(rng.choice(["basic", "pro", "team", "rare1", "rare2"], n, p=[0.5, 0.3, 0.194, 0.003, 0.003]))
        .where(rng.random(n) > 0.1),
        "user": pd.Series([f"u{i}" for i in rng.integers(0, 300, n)]).where(rng.random(n) > 0.05),
        "note": [" ".join(rng.choice(WORDS, rng.integers(3, 12))) if rng.random() > 0.1 else None for _ in range(n)],
        "query": rng.permutation(np.arange(n) // 8),
    })
    user_effect = np.array([hash(u) % 7 / 7.0 if isinstance(u, str) else 0.0 for u in frame["user"]])
    s = (np.nan_to_num(frame["num"].to_numpy()) + frame["flag"].fillna(False).to_numpy(dtype=float)
         + (frame["at"].dt.hour.fillna(0).to_numpy() >= 12) * 0.7 + (frame["plan"] == "pro").to_numpy() * 0.8
         + user_effect + frame["note"].fillna("").str.contains("red").to_numpy() * 0.9 - 1.5)
    noisy = s + rng.normal(0, 0.5, n)
    if task == "binary":
        frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-s))).astype(np.int64)
    elif task == "multiclass":
        frame["y"] = np.select([noisy < -0.5, noisy < 0.5], ["low", "mid"], "high")
    elif task == "regression":
        frame["y"] = noisy
    else:
        frame["y"] = np.clip(np.round(noisy + 1), 0, 3)
    return frame


def wide_splits(task: str) -> Splits:
    full = make_wide(task)
    a, b = int(0.6 * len(full)), int(0.8 * len(full))
    return Splits(train=full.iloc[:a].reset_index(drop=True), valid=full.iloc[a:b].reset_index(drop=True),
                  test=full.iloc[b:].reset_index(drop=True), label="y", time="ts", features=WIDE,
                  schema=infer_schema(full[list(WIDE)]), group="query" if task == "ranking" else None)


def unseen(test: pd.DataFrame) -> pd.DataFrame:
    """Test rows with values training never saw: a new plan, new users, new words, odd minutes."""
    rows = test.iloc[:120].copy().reset_index(drop=True)
    rows.loc[:9, "plan"] = "platinum"
    rows.loc[40:44, "plan"] = ["rare1", "rare2"] * 2 + ["rare2"]  # seen in training, too rarely for a column
    rows.loc[10:19, "user"] = [f"new{i}" for i in range(10)]
    rows.loc[20:29, "note"] = "zebra quokka RED Über-naïve words"
    rows.loc[30:34, "at"] = pd.Timestamp("1969-12-31T23:59:30Z")
    rows.loc[35:39, "num"] = 1e6
    return rows


_CACHE: dict[tuple[str, str], tuple[Splits, dict[str, TrainedModel]]] = {}


def trained_wide(task: str, encoding: str = "target") -> tuple[Splits, dict[str, TrainedModel]]:
    if (task, encoding) not in _CACHE:
        splits = wide_splits(task)
        spec = make_spec(task, rounds=40, features={"high_cardinality_encoding": encoding})
        _CACHE[task, encoding] = splits, {m.name: m for m in train_candidates(splits, spec)}
    return _CACHE[task, encoding]


def as_inputs(frame: pd.DataFrame) -> dict[str, Any]:
    """The rows as a frame, a dict of arrays, an Arrow table and JSON-like rows (ISO times, null for missing)."""
    def plain(value: Any) -> Any:
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
            return None
        return value.isoformat() if isinstance(value, pd.Timestamp) else value

    features = frame[list(WIDE)]
    rows = [{k: plain(v) for k, v in row.items()} for row in features.astype(object).to_dict("records")]
    return {"frame": features, "arrays": {c: features[c].to_numpy() for c in WIDE},
            "arrow": pa.Table.from_pandas(features, preserve_index=False), "rows": rows}


def assert_scores_equal(scorer: Scorer, model: TrainedModel, frame: pd.DataFrame) -> None:
    expected = model.predict(frame)
    tolerance = 1e-6 if scorer.backend.startswith("lleaves") else 1e-9
    for kind, data in as_inputs(frame).items():
        got = scorer.score(data)
        assert got.shape == expected.shape, kind
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance, err_msg=f"{model.name} on {kind}")


@pytest.mark.parametrize(("task", "encoding"), [("binary", "target"), ("binary", "hash"), ("multiclass", "target"),
                                                ("regression", "target"), ("ranking", "target")])
def test_every_encoder_kind_scores_as_the_model(task: str, encoding: str) -> None:
    splits, models = trained_wide(task, encoding)
    rows = unseen(splits.test)
    rare = [e.rare for e in models["linear"].scorer.preprocessor.encoders_ if e.column == "plan"]  # type: ignore[attr-defined]
    assert rare == [["rare1", "rare2"]]
    for family in ("linear", "lightgbm"):
        scorer = Scorer.from_model(models[family], trees="lightgbm")
        assert scorer.backend == ("numpy" if family == "linear" else "lightgbm")
        assert "pandas" not in scorer.backend
        assert_scores_equal(scorer, models[family], rows)
        one = rows.iloc[[3]].reset_index(drop=True)
        assert_scores_equal(scorer, models[family], one)


def test_an_encoder_without_an_array_form_falls_back_to_its_own_transform(monkeypatch: pytest.MonkeyPatch) -> None:
    splits, models = trained_wide("binary")
    monkeypatch.delitem(_compile.BUILDERS, "text")
    monkeypatch.delitem(_compile.BUILDERS, "timestamp")
    for family in ("linear", "lightgbm"):
        scorer = Scorer.from_model(models[family], trees="lightgbm")
        assert scorer.backend.endswith("(+2 encoder(s) via pandas: at, note)"), scorer.backend
        assert_scores_equal(scorer, models[family], unseen(splits.test))


def test_hash_buckets_are_feature_hashers() -> None:
    keys = ["u1", "", "__missing__", "Über", "日本", "a" * 300, *[f"k{i}" for i in range(500)]]
    for n_features in (8, 256, 2**14):
        hashed = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False)
        expected = hashed.transform([[k] for k in keys]).indices.tolist()
        assert [bucket(k, n_features) for k in keys] == expected


def test_calendar_matches_pandas_including_before_1970() -> None:
    rng = np.random.default_rng(3)
    ns = rng.integers(-(10**18), 2 * 10**18, 2000)
    times = ns.astype("datetime64[ns]")
    times[::50] = np.datetime64("NaT")
    hour, minute, weekday = calendar(times)
    series = pd.Series(times).dt.tz_localize("UTC")
    for got, expected in ((hour, series.dt.hour), (minute, series.dt.minute), (weekday, series.dt.day_of_week)):
        np.testing.assert_array_equal(got, expected.to_numpy(dtype=np.float64, na_value=np.nan))


@pytest.mark.parametrize(("field", "value", "words"), [
    ("flag", "maybe", "feature 'flag' is boolean but row 0 holds 'maybe'"),
    ("flag", 2, "feature 'flag' is boolean but row 0 holds 2"),
    ("at", "yesterday", "feature 'at' is a timestamp but row 0 holds 'yesterday'"),
    ("at", 17, "feature 'at' is a timestamp but row 0 holds 17"),
    ("note", 5, "feature 'note' is text but row 0 holds 5"),
    ("num", "abc", "feature 'num' is numeric but row 0 holds 'abc'"),
    ("num", float("-inf"), "feature 'num' is -inf in row 0"),
])
def test_check_refuses_wrong_types_naming_the_field(field: str, value: object, words: str) -> None:
    _, models = trained_wide("binary")
    scorer = Scorer.from_model(models["linear"])
    row = {"num": 1.0, "flag": True, "at": "2024-03-01T12:00:00Z", "plan": "pro", "user": "u1", "note": "red fox"}
    scorer.score([row])
    with pytest.raises(InputError, match=words) as caught:
        scorer.score([{**row, field: value}])
    assert caught.value.field == field


def test_check_accepts_what_training_accepts() -> None:
    _, models = trained_wide("binary")
    scorer = Scorer.from_model(models["linear"])
    rows = [{"num": "2.5", "flag": "yes", "at": "2024-03-01T13:00:00+01:00", "plan": "pro", "user": 7, "note": None},
            {"num": None, "flag": 0, "at": None, "plan": None, "user": None, "note": ""}]
    checked = scorer.check(rows)
    assert checked["num"][0] == 2.5 and checked["flag"].tolist()[0] == 1.0 and checked["flag"][1] == 0.0
    assert checked["at"][0] == np.datetime64("2024-03-01T12:00:00", "ns") and np.isnat(checked["at"][1])
    assert checked["user"].tolist() == ["7", None] and checked["note"].tolist() == ["", ""]
    frame = pd.DataFrame({"num": [2.5, np.nan], "flag": [True, False],
                          "at": pd.to_datetime(["2024-03-01T12:00:00Z", None], utc=True), "plan": ["pro", None],
                          "user": ["7", None], "note": [None, ""]})
    np.testing.assert_allclose(scorer.score(rows), models["linear"].predict(frame), rtol=0, atol=1e-9)


def test_probe_rows_span_the_model_ranges() -> None:
    text = "tree\nfeature_infos=[-2:4] 0:3:7 none\n"
    probe = probe_rows(text, 400)
    assert probe.shape == (400, 3)
    numbers, codes = probe[:, 0][~np.isnan(probe[:, 0])], probe[:, 1][~np.isnan(probe[:, 1])]
    assert numbers.min() < -2 and numbers.max() > 4
    assert set(codes.tolist()) == {0.0, 3.0, 7.0, 8.0} and np.nanmax(np.abs(probe[:, 2])) == 0
    assert 0.05 < np.isnan(probe).mean() < 0.15


def test_trees_setting_is_checked(trained_binary_lightgbm: TrainedModel) -> None:
    from loopline import ServingError

    with pytest.raises(ServingError, match=r"trees must be one of \['auto', 'lightgbm', 'lleaves'\]"):
        Scorer.from_model(trained_binary_lightgbm, trees="fast")
    if not HAS_LLEAVES:
        assert Scorer.from_model(trained_binary_lightgbm).backend == "lightgbm"
        with pytest.raises(MissingExtraError, match=r"pip install 'loopline\[fast\]'"):
            Scorer.from_model(trained_binary_lightgbm, trees="lleaves")


@pytest.fixture(scope="module")
def trained_binary_lightgbm() -> TrainedModel:
    from tests.models.samples import make_splits

    spec = make_spec("binary", rounds=30, models={"candidates": ["lightgbm"]})
    return train_candidates(make_splits("binary", n=1200), spec)[0]


@pytest.mark.skipif(not HAS_LLEAVES, reason="lleaves is not installed (pip install 'loopline[fast]')")
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "ranking"])
def test_lleaves_scores_as_the_booster(task: str, tmp_path: Any) -> None:
    from tests.models.samples import make_frame, make_splits

    spec = make_spec(task, rounds=40, models={"candidates": ["lightgbm"]})
    model = train_candidates(make_splits(task, n=1500), spec)[0]
    scorer = Scorer.from_model(model, trees="lleaves", cache_dir=tmp_path)
    assert scorer.backend == "lleaves" and len(list(tmp_path.glob("*.o"))) == 1
    test = make_frame(task, 400, seed=5)
    np.testing.assert_allclose(scorer.score(test), model.predict(test), rtol=0, atol=1e-6)
    again = Scorer.from_model(model, trees="lleaves", cache_dir=tmp_path)  # from the cache
    np.testing.assert_allclose(again.score(test), model.predict(test), rtol=0, atol=1e-6)



def test_many_times_parse_at_once_and_a_bad_one_names_its_row() -> None:
    _, models = trained_wide("binary")
    scorer = Scorer.from_model(models["linear"])
    row = {"num": 1.0, "flag": True, "plan": "pro", "user": "u1", "note": "red fox"}
    times = [f"2024-03-01T{h:02d}:30:00+02:00" for h in range(20)] + [None, ""]
    checked = scorer.check([{**row, "at": t} for t in times])
    expected = pd.to_datetime(pd.Series(times), utc=True, format="ISO8601").dt.tz_localize(None)
    np.testing.assert_array_equal(checked["at"], expected.to_numpy(dtype="datetime64[ns]"))
    times[17] = "soon"
    with pytest.raises(InputError, match="feature 'at' is a timestamp but row 17 holds 'soon'"):
        scorer.check([{**row, "at": t} for t in times])
