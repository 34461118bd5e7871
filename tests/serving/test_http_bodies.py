"""The hot endpoints' own body parsing agrees with pydantic's on every body it accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline.serving._http import PredictRequest, RankRequest, _plain_body

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=5))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3),
                                                                                            inner, max_size=3),
                      max_leaves=6)
rows = st.one_of(st.dictionaries(st.text(max_size=4), values, max_size=4), values)
units = st.one_of(st.none(), st.text(max_size=3), st.text(min_size=199, max_size=202), st.integers(), st.floats())
bodies = st.one_of(
    st.fixed_dictionaries({"rows": st.lists(rows, max_size=3)}, optional={"unit_id": units, "context": values}),
    st.fixed_dictionaries({"items": st.lists(rows, max_size=3)}, optional={"unit_id": units, "context": values,
                                                                           "extra": values}),
    values,
)


def _strict(model: type[PredictRequest | RankRequest], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except Exception:
        return None


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_a_body_the_fast_parser_accepts_is_what_pydantic_makes_of_it(body: Any) -> None:
    raw = json.dumps(body).encode()  # NaN and Infinity included, as json.dumps writes them
    for model in (PredictRequest, RankRequest):
        fast = _plain_body(raw, model)
        if fast is not None:
            strict = _strict(model, raw)
            assert strict is not None, (model.__name__, body)
            assert fast.model_dump() == strict.model_dump()


@pytest.mark.parametrize("body", [
    b'{"items": [{"item_id": "a", "x": NaN}]}',              # NaN: orjson refuses, pydantic reads it
    b'{"items": [{"item_id": "a", "x": 123456789012345678901234567890}]}',  # beyond 64 bits
    b'{"items": [{"item_id": "a"}], "unit_id": 42}',           # an integer unit, made a string by pydantic
])
def test_bodies_only_pydantic_reads_take_the_strict_path(body: bytes) -> None:
    assert _plain_body(body, RankRequest) is None
    assert RankRequest.model_validate_json(body).items[0]["item_id"] == "a"
