"""The spec's time zone: cut dates without an offset are read in it, split boundaries are printed in it, and a
spec that does not set it keeps its hash."""

from __future__ import annotations

import pandas as pd
import pytest

from loopline import SpecError
from loopline.data import split_by_time
from loopline.data._split import summarize
from loopline.spec import ProblemSpec, SplitSpec

BASE = {"name": "m", "task": "binary", "data": {"source": "x.csv"}, "event_time": "ts", "label": {"column": "y"}}


def hourly() -> pd.DataFrame:
    ts = pd.date_range("2013-08-30", "2013-09-03", freq="1h", tz="UTC", inclusive="left")
    return pd.DataFrame({"ts": ts, "y": [i % 2 for i in range(len(ts))]})


def test_a_cut_date_is_midnight_in_the_specs_zone() -> None:
    split = SplitSpec(valid_start="2013-09-01", test_start="2013-09-02")
    paris = split_by_time(hourly(), split, time="ts", timezone="Europe/Paris")
    utc = split_by_time(hourly(), split, time="ts")
    assert paris.cuts == (pd.Timestamp("2013-08-31T22:00", tz="UTC"), pd.Timestamp("2013-09-01T22:00", tz="UTC"))
    assert utc.cuts == (pd.Timestamp("2013-09-01", tz="UTC"), pd.Timestamp("2013-09-02", tz="UTC"))
    assert paris.valid["ts"].min() == pd.Timestamp("2013-08-31T22:00", tz="UTC")
    assert len(paris.train) == len(utc.train) - 2  # 22:00 and 23:00 UTC on Aug 31 are Sept 1 in Paris
    # a date with its own offset is taken as given, whatever the zone
    given = SplitSpec(valid_start="2013-09-01T00:00:00+00:00", test_start="2013-09-02T00:00:00+00:00")
    assert split_by_time(hourly(), given, time="ts", timezone="Europe/Paris").cuts == utc.cuts


def test_split_boundaries_carry_the_zone() -> None:
    summary = summarize("valid", hourly().iloc[48:72], time="ts", label="y", binary=True, entity=None,
                        timezone="America/New_York")
    assert summary.start == "2013-08-31T20:00:00-04:00" and summary.end == "2013-09-01T19:00:00-04:00"
    assert summarize("valid", hourly().iloc[48:72], time="ts", label="y", binary=True,
                     entity=None).start == "2013-09-01T00:00:00+00:00"


def test_the_zone_is_checked_with_a_suggestion_and_hashed_only_when_set() -> None:
    with pytest.raises(SpecError, match=r"timezone: 'Europe/Pari' is not a time zone; did you mean 'Europe/Paris'"):
        ProblemSpec.from_dict({**BASE, "timezone": "Europe/Pari"})
    with pytest.raises(SpecError, match=r"'CEST' is not a time zone"):
        ProblemSpec.from_dict({**BASE, "timezone": "CEST"})
    plain, utc = ProblemSpec.from_dict(BASE), ProblemSpec.from_dict({**BASE, "timezone": "UTC"})
    paris = ProblemSpec.from_dict({**BASE, "timezone": "Europe/Paris"})
    assert plain.spec_hash() == utc.spec_hash() != paris.spec_hash()
