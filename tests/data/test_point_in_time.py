"""The as-of join against a naive oracle on generated data, plus its rules stated as examples."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline import DataError
from loopline.data import asof_join

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _oracle(events: pd.DataFrame, features: pd.DataFrame, max_age: timedelta | None, tie: str | None) -> list[Any]:
    out: list[Any] = []
    for _, e in events.iterrows():
        if pd.isna(e["key"]):
            out.append(None)
            continue
        rows = [(i, f) for i, f in features.iterrows() if f["key"] == e["key"] and f["t"] <= e["t"]]
        if not rows:
            out.append(None)
            continue
        latest = max(f["t"] for _, f in rows)
        tied = [(i, f) for i, f in rows if f["t"] == latest]
        best = max(tied, key=lambda r: (r[1][tie], r[0])) if tie is not None else max(tied, key=lambda r: r[0])
        if max_age is not None and e["t"] - latest > max_age:
            out.append(None)
        else:
            out.append(best[1]["value"])
    return out


@st.composite
def _tables(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_events = draw(st.integers(1, 25))
    n_features = draw(st.integers(0, 25))
    minutes = st.integers(0, 30)
    keys = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
    events = pd.DataFrame({
        "key": pd.array([draw(keys) for _ in range(n_events)], dtype="object"),
        "t": [T0 + pd.Timedelta(minutes=draw(minutes)) for _ in range(n_events)],
    })
    features = pd.DataFrame({
        "key": pd.array([draw(st.sampled_from(["a", "b", "c"])) for _ in range(n_features)], dtype="object"),
        "t": pd.to_datetime([T0 + pd.Timedelta(minutes=draw(minutes)) for _ in range(n_features)], utc=True),
        "rank": [draw(st.integers(0, 3)) for _ in range(n_features)],
        "value": np.arange(n_features, dtype=float) + 0.5,
    })
    return events, features


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=_tables(), max_age=st.sampled_from([None, timedelta(minutes=5)]), tie=st.sampled_from([None, "rank"]))
def test_matches_the_naive_oracle(tables: tuple[pd.DataFrame, pd.DataFrame], max_age: timedelta | None,
                                  tie: str | None) -> None:
    events, features = tables
    joined = asof_join(events, features, keys=["key"], event_time="t", feature_time="t", max_age=max_age,
                       columns=["value"], tie_break=tie)
    assert len(joined) == len(events)
    assert joined["key"].tolist() == events["key"].tolist()
    got = [None if pd.isna(v) else v for v in joined["value"]]
    assert got == _oracle(events, features, max_age, tie)


def test_never_uses_a_value_recorded_after_the_event() -> None:
    events = pd.DataFrame({"user": ["u", "u", "u"], "ts": [T0, T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("3h")]})
    features = pd.DataFrame({"user": ["u", "u"], "at": [T0 + pd.Timedelta("1h"), T0 + pd.Timedelta("2h")],
                             "spend": [10.0, 20.0]})
    joined = asof_join(events, features, keys=["user"], event_time="ts", feature_time="at")
    assert joined["spend"].isna().tolist() == [True, False, False]
    assert joined["spend"].tolist()[1:] == [10.0, 20.0]
    stale = asof_join(events, features, keys=["user"], event_time="ts", feature_time="at",
                      max_age=timedelta(minutes=30))
    assert stale["spend"].isna().tolist() == [True, False, True]


def test_errors_name_the_column_and_the_clash() -> None:
    events = pd.DataFrame({"user": ["u"], "ts": [T0], "spend": [1.0]})
    features = pd.DataFrame({"user": ["u"], "at": [T0], "spend": [2.0]})
    with pytest.raises(DataError, match="'when' is not in the usage table"):
        asof_join(events, features, keys=["user"], event_time="ts", feature_time="when", where="the usage table")
    with pytest.raises(DataError, match=r"\['spend'\] are already in the events"):
        asof_join(events, features, keys=["user"], event_time="ts", feature_time="at")
    assert asof_join(events, features, keys=["user"], event_time="ts", feature_time="at",
                     prefix="usage__")["usage__spend"].tolist() == [2.0]
