"""asof_join against a naive point-in-time oracle, plus each of its rules as an example."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline._errors import DataError
from loopline.data._asof import asof_join, join_feature_tables
from loopline.spec import FeatureTableSpec

T0 = pd.Timestamp("2024-03-01", tz="UTC")
H = pd.Timedelta("1h")


def _utc(value: Any) -> pd.Timestamp | None:
    if pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _oracle(events: pd.DataFrame, features: pd.DataFrame, keys: list[str], max_age: timedelta | None,
            tie: str | None) -> list[int | None]:
    """For each event, the position of the feature row it must get (None: no usable row), by brute force."""
    stamps = [_utc(v) for v in features["ft"]]
    chosen: list[int | None] = []
    for e in range(len(events)):
        event_keys = [events[k].iloc[e] for k in keys]
        event_time = _utc(events["t"].iloc[e])
        if event_time is None or any(pd.isna(v) for v in event_keys):
            chosen.append(None)
            continue
        known = {j: t for j, t in enumerate(stamps) if t is not None and t <= event_time
                 and all(not pd.isna(features[k].iloc[j]) and features[k].iloc[j] == v
                         for k, v in zip(keys, event_keys, strict=True))}
        if not known:
            chosen.append(None)
            continue
        latest = max(known.values())
        tied = [j for j, t in known.items() if t == latest]

        def rank(j: int) -> tuple[bool, int, int]:
            value = None if tie is None else features[tie].iloc[j]
            return (not pd.isna(value), 0 if pd.isna(value) else int(value), j)

        too_old = max_age is not None and event_time - latest > max_age
        chosen.append(None if too_old else max(tied, key=rank))
    return chosen


Unit = Literal["s", "ms", "us", "ns"]
UNITS: list[Unit] = ["s", "ms", "us", "ns"]


def _times(draw: st.DrawFn, n: int, unit: Unit, zone: str | None, nulls: bool) -> pd.Series:
    """Times on a coarse grid (so ties are common), with 1 ns nudges when the unit can hold them."""
    nudge = st.sampled_from([0, 1]) if unit == "ns" else st.just(0)
    offsets = [None if nulls and draw(st.integers(0, 9)) == 0
               else draw(st.integers(0, 12)) * 5 * 60 * 10**9 + draw(nudge) for _ in range(n)]
    stamps = pd.Series([pd.NaT if o is None else T0 + pd.Timedelta(o, "ns") for o in offsets],
                       dtype="datetime64[ns, UTC]").dt.as_unit(unit)
    shown: pd.Series = stamps.dt.tz_localize(None) if zone is None else stamps.dt.tz_convert(zone)
    return shown


@st.composite
def _case(draw: st.DrawFn) -> dict[str, Any]:
    n_events, n_features = draw(st.integers(0, 15)), draw(st.integers(0, 25))
    two_keys, text = draw(st.booleans()), draw(st.booleans())
    pool = ["a", "b", "c"] if text else [1, 2, 3]
    key = st.one_of(st.none(), st.sampled_from(pool))
    def column(n: int) -> Any:
        values = [draw(key) for _ in range(n)]
        return pd.Series(values, dtype=object) if text else pd.Series(values, dtype="Int64")

    events = pd.DataFrame({"user": column(n_events), "t": _times(draw, n_events, draw(st.sampled_from(UNITS)),
                                                                  "UTC", nulls=True)})
    features = pd.DataFrame({"user": column(n_features),
                             "ft": _times(draw, n_features, draw(st.sampled_from(UNITS)),
                                          draw(st.sampled_from([None, "UTC", "America/New_York"])), nulls=True),
                             "version": pd.array([draw(st.one_of(st.none(), st.integers(0, 3)))
                                                  for _ in range(n_features)], dtype="Int64"),
                             "value": np.arange(n_features, dtype=float)})
    if two_keys:
        events["shop"] = [draw(st.sampled_from([1, 2])) for _ in range(n_events)]
        features["shop"] = [draw(st.sampled_from([1, 2])) for _ in range(n_features)]
    events["payload"] = np.arange(n_events) * 10
    events.index = pd.Index(draw(st.permutations(range(100, 100 + n_events))))
    return {"events": events, "features": features, "keys": ["user", "shop"] if two_keys else ["user"],
            "max_age": draw(st.sampled_from([None, timedelta(0), timedelta(minutes=5), timedelta(minutes=12.5)])),
            "tie": draw(st.sampled_from([None, "version"]))}


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_case())
def test_matches_the_naive_oracle(case: dict[str, Any]) -> None:
    events, features = case["events"], case["features"]
    joined = asof_join(events, features, keys=case["keys"], event_time="t", feature_time="ft",
                       max_age=case["max_age"], columns=["value"], tie_break=case["tie"])
    pd.testing.assert_frame_equal(joined[events.columns], events)
    got = [None if pd.isna(v) else int(v) for v in joined["value"]]
    assert got == _oracle(events, features, case["keys"], case["max_age"], case["tie"])


def test_every_event_comes_back_once_in_its_own_order_with_its_index() -> None:
    rng = np.random.default_rng(3)
    events = pd.DataFrame({"user": rng.integers(0, 50, 2000), "t": T0 + pd.to_timedelta(rng.integers(0, 10**6, 2000),
                                                                                          unit="s"),
                           "label": rng.integers(0, 2, 2000)}, index=rng.permutation(2000) + 7)
    features = pd.DataFrame({"user": rng.integers(0, 60, 500),
                             "at": T0 + pd.to_timedelta(rng.integers(0, 10**6, 500), unit="s"),
                             "spend": rng.normal(size=500)})
    joined = asof_join(events, features, keys=["user"], event_time="t", feature_time="at")
    assert list(joined.columns) == ["user", "t", "label", "spend"]
    pd.testing.assert_frame_equal(joined[events.columns], events)
    assert joined["spend"].notna().sum() > 1000


def test_a_value_recorded_at_the_event_instant_is_used_and_one_a_nanosecond_later_is_not() -> None:
    events = pd.DataFrame({"user": ["u", "u"], "t": [T0, T0 + H]})
    features = pd.DataFrame({"user": ["u", "u", "u"], "at": [T0, T0 + H + pd.Timedelta(1, "ns"), T0 + 5 * H],
                             "spend": [1.0, 2.0, 3.0]})
    joined = asof_join(events, features, keys=["user"], event_time="t", feature_time="at")
    assert joined["spend"].tolist() == [1.0, 1.0]


def test_a_stale_latest_row_gives_nulls_and_a_missing_latest_value_is_not_replaced() -> None:
    events = pd.DataFrame({"user": ["u", "v", "w"], "t": [T0 + 10 * H] * 3})
    features = pd.DataFrame({"user": ["u", "v", "v", "w", "w"],
                             "at": [T0, T0 + 8 * H, T0 + 9 * H, T0 + 7 * H, T0 + 9 * H],
                             "spend": [1.0, 2.0, 3.0, 4.0, np.nan]})
    joined = asof_join(events, features, keys=["user"], event_time="t", feature_time="at", max_age=timedelta(hours=2))
    assert joined["spend"].isna().tolist() == [True, False, True]  # w's latest value is missing: no 4.0
    assert joined["spend"].iloc[1] == 3.0
    exact = asof_join(events, features, keys=["user"], event_time="t", feature_time="at", max_age=timedelta(hours=1))
    assert exact["spend"].iloc[1] == 3.0  # exactly max_age old is still fresh


def test_a_max_age_finer_than_the_time_resolution_is_not_rounded_up() -> None:
    seconds = pd.Series([T0 + pd.Timedelta("301s"), T0 + pd.Timedelta("300s")]).dt.as_unit("s")
    events = pd.DataFrame({"user": [1, 2], "t": seconds})
    features = pd.DataFrame({"user": [1, 2], "at": pd.Series([T0, T0]).dt.as_unit("s"), "spend": [1.0, 2.0]})
    joined = asof_join(events, features, keys=["user"], event_time="t", feature_time="at",
                       max_age=timedelta(seconds=300.5))
    assert joined["spend"].isna().tolist() == [True, False]


def test_ties_go_to_the_tie_break_column_else_to_the_last_row_ingested() -> None:
    events = pd.DataFrame({"user": ["u"], "t": [T0 + H]})
    features = pd.DataFrame({"user": ["u", "u", "u"], "at": [T0, T0, T0], "version": [2, 3, 1],
                             "spend": [20.0, 30.0, 10.0]})
    by_version = asof_join(events, features, keys=["user"], event_time="t", feature_time="at", tie_break="version")
    assert by_version["spend"].tolist() == [30.0] and "version" not in by_version
    assert asof_join(events, features, keys=["user"], event_time="t", feature_time="at")["spend"].tolist() == [10.0]
    shuffled = features.iloc[[2, 0, 1]]
    assert asof_join(events, shuffled, keys=["user"], event_time="t", feature_time="at",
                     tie_break="version")["spend"].tolist() == [30.0]


def test_zones_are_compared_as_instants_and_naive_times_are_utc() -> None:
    events = pd.DataFrame({"user": [1], "t": [pd.Timestamp("2024-03-01 12:00")]})  # naive: taken as UTC
    features = pd.DataFrame({"user": [1, 1], "at": pd.to_datetime(["2024-03-01 12:30", "2024-03-01 13:30"])
                             .tz_localize("Europe/Berlin"), "spend": [1.0, 2.0]})  # 11:30 and 12:30 UTC
    assert asof_join(events, features, keys=["user"], event_time="t", feature_time="at")["spend"].tolist() == [1.0]
    text = pd.DataFrame({"user": [1], "t": ["2024-03-01T12:45:00Z"]})
    assert asof_join(text, features, keys=["user"], event_time="t", feature_time="at")["spend"].tolist() == [2.0]


def test_feature_columns_keep_their_types() -> None:
    events = pd.DataFrame({"user": [1, 2], "t": [T0 + H, T0 + H]})
    features = pd.DataFrame({"user": [1], "at": [T0], "plan": pd.Categorical(["pro"]), "since": [T0 - 9 * H],
                             "visits": pd.array([4], dtype="Int64")})
    joined = asof_join(events, features, keys=["user"], event_time="t", feature_time="at")
    assert isinstance(joined["plan"].dtype, pd.CategoricalDtype) and joined["plan"].isna().tolist() == [False, True]
    assert str(joined["since"].dtype) == str(features["since"].dtype) and joined["since"].iloc[0] == T0 - 9 * H
    assert str(joined["visits"].dtype) == "Int64" and joined["visits"].iloc[0] == 4


def test_missing_columns_name_the_side_and_list_what_is_there() -> None:
    events = pd.DataFrame({"user": [1], "t": [T0]})
    features = pd.DataFrame({"user_id": [1], "at": [T0], "spend": [1.0]})
    with pytest.raises(DataError, match=r"'user' is not in the usage table\. Did you mean 'user_id'\?.*user_id, at"):
        asof_join(events, features, keys=["user"], event_time="t", feature_time="at", where="the usage table")
    with pytest.raises(DataError, match=r"'ts' is not in the events\..*columns are: user, t"):
        asof_join(events, features.rename(columns={"user_id": "user"}), keys=["user"], event_time="ts",
                  feature_time="at")
    with pytest.raises(DataError, match="at least one key"):
        asof_join(events, features, keys=[], event_time="t", feature_time="at")


def test_a_clash_names_the_columns_and_suggests_columns_or_a_prefix() -> None:
    events = pd.DataFrame({"user": [1], "t": [T0], "spend": [0.0], "plan": ["a"]})
    features = pd.DataFrame({"user": [1], "at": [T0], "spend": [1.0], "plan": ["b"], "visits": [3]})
    with pytest.raises(DataError, match=r"\['spend', 'plan'\] are already in the events.*`columns:`.*prefix"):
        asof_join(events, features, keys=["user"], event_time="t", feature_time="at")
    only = asof_join(events, features, keys=["user"], event_time="t", feature_time="at", columns=["visits"])
    assert list(only.columns) == [*events.columns, "visits"]
    prefixed = asof_join(events, features, keys=["user"], event_time="t", feature_time="at", prefix="usage__")
    assert prefixed[["usage__spend", "usage__plan", "usage__visits"]].iloc[0].tolist() == [1.0, "b", 3]


def test_keys_of_different_kinds_and_times_that_are_numbers_are_refused() -> None:
    events = pd.DataFrame({"user": [1], "t": [T0]})
    features = pd.DataFrame({"user": ["1"], "at": [T0], "spend": [1.0]})
    with pytest.raises(DataError, match=r"key 'user' holds numeric values \(int64\) in the events but text"):
        asof_join(events, features, keys=["user"], event_time="t", feature_time="at")
    numbers = pd.DataFrame({"user": [1], "at": [1_700_000_000], "spend": [1.0]})
    with pytest.raises(DataError, match=r"'at' in the feature table holds numbers"):
        asof_join(events, numbers, keys=["user"], event_time="t", feature_time="at")
    with pytest.raises(DataError, match="max_age must not be negative"):
        asof_join(events, features.assign(user=[1]), keys=["user"], event_time="t", feature_time="at",
                  max_age=timedelta(hours=-1))


def test_feature_tables_are_joined_in_turn_and_a_clashing_table_is_prefixed() -> None:
    events = pd.DataFrame({"user": [1, 1, 2], "t": [T0 + H, T0 + 30 * H, T0 + H]})
    usage = pd.DataFrame({"user": [1, 2], "at": [T0, T0], "spend": [5.0, 6.0], "note": ["x", "y"]})
    billing = pd.DataFrame({"account": [1], "as_of": [T0], "spend": [100.0], "plan": ["pro"]})
    tables = [(FeatureTableSpec(name="usage", source="usage.csv", key="user", time="at", max_age=timedelta(days=1),
                                columns=["spend"]), usage),
              (FeatureTableSpec(name="billing", source="billing.csv", key=["user"], time="as_of"),
               billing.rename(columns={"account": "user"}))]
    joined = join_feature_tables(events, tables, event_time="t")
    assert list(joined.columns) == ["user", "t", "spend", "billing__spend", "billing__plan"]
    assert joined["spend"].tolist()[0] == 5.0 and np.isnan(joined["spend"].iloc[1])  # older than max_age 1d
    assert joined["billing__spend"].tolist()[:2] == [100.0, 100.0] and np.isnan(joined["billing__spend"].iloc[2])
    with pytest.raises(DataError, match=r"feature table 'billing' \(billing.csv\)"):
        join_feature_tables(events, [(tables[1][0], billing)], event_time="t")
