"""``serving:`` in loopline.yaml: the candidates one ``/v1/rank`` request may carry, the funnel, the latency budget
and how many ranked items are logged."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loopline._errors import SpecError
from loopline._names import check_name

DEFAULT_FIRST_STAGE_K = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # as every block of the spec (spec._spec)


class FirstStageSpec(_Strict):
    """The funnel's first stage: a registered model (``version`` a number or an alias) that scores every
    candidate of a ``/v1/rank`` request cheaply so that only the best ``first_stage_k`` reach the ranker.

    A SQL rule is not accepted here: it runs DuckDB on every request (about 17 ms for 500 candidates on
    a 2-core machine, more than a compiled ranker takes), so it could not make the funnel cheaper.
    """

    model: str
    version: int | str = "champion"

    @model_validator(mode="before")
    @classmethod
    def _a_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and "rule" in data:
            raise ValueError(
                "a rule cannot be the first stage: it runs DuckDB on every request (about 17 ms for 500 "
                "candidates), more than the ranker it should save. Train a cheap model (e.g. with models: "
                "{candidates: [linear]}) under its own name and give first_stage: {model: NAME, version: champion}."
            )
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping like {{model: feed-cheap, version: champion}} naming a registered "
                             f"model, got {data!r}.")
        return data

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return check_name(value, what="the first stage's model", error=SpecError, example="feed-cheap")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected a version number or an alias such as champion, got {value!r}.")
        if isinstance(value, int) and value < 1:
            raise ValueError(f"a version number starts at 1, got {value}. Give a number from 'loopline models' or an "
                             "alias such as champion.")
        if isinstance(value, str):
            check_name(value, what="the first stage's alias", error=SpecError, example="champion")
        return value


class ServingSpec(_Strict):
    """Online serving: how many candidates one ``/v1/rank`` request may carry, the funnel (a first stage
    that keeps the best ``first_stage_k`` of them for the ranker), the latency budget a ranking must meet
    (else the first stage's order is served), and how many ranked items are logged per request.
    """

    latency_budget_ms: float = Field(default=100.0, gt=0)
    candidates: int = Field(default=500, ge=1)
    first_stage: FirstStageSpec | None = None
    first_stage_k: int = Field(default=DEFAULT_FIRST_STAGE_K, ge=1)
    log_top: int = Field(default=50, ge=0)

    @model_validator(mode="after")
    def _funnel(self) -> ServingSpec:
        if self.first_stage is None and self.first_stage_k != DEFAULT_FIRST_STAGE_K:
            raise ValueError(
                f"first_stage_k ({self.first_stage_k}) is how many candidates the first stage keeps, but no "
                "first_stage is given. Add first_stage: {model: NAME, version: champion}, or remove first_stage_k."
            )
        if self.first_stage is not None and self.first_stage_k >= self.candidates:
            raise ValueError(
                f"first_stage_k ({self.first_stage_k}) must be below candidates ({self.candidates}), or the first "
                "stage never cuts a request. Lower first_stage_k or raise candidates."
            )
        return self
