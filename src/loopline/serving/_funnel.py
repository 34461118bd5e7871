"""``Funnel``: the N candidates of a ``/v1/rank`` request cut to K by a cheap first stage, and the K
ordered by the ranker within the spec's latency budget.

The served model's spec sets it up, in its ``serving:`` block (:func:`load_funnel`):

- ``candidates``: the most candidates one request may carry (413 beyond it, :meth:`Funnel.limit`);
- ``first_stage`` and ``first_stage_k``: a registered model (binary, regression or ranking) that scores
  all N candidates; its best K (ties keep the request's order) go to the ranker, in that order, and the
  other N - K follow the ranked K in the first stage's order. Without a first stage the ranker is given
  every candidate;
- ``latency_budget_ms``: counted from the moment the request arrived, so parsing and the first stage
  spend it too. When the ranker would answer after it, the answer is the first stage's order (the
  request's own order when there is no first stage, as for the baseline), marked
  ``fallback = "latency_budget"`` and counted (``loopline_fallbacks_total{reason="latency_budget"}``).

The budget has two guards:

1. Before the ranker runs, a running estimate of its cost (an exponentially weighted mean of its
   milliseconds per item, kept per ranker) is compared with what is left of the budget. When it would
   not fit, the ranker is skipped: such a fallback answers at once and spends no CPU on a ranking that
   would be thrown away, which is what matters under overload. So that one slow call cannot shut a
   ranker out for good, it still runs (a probe, under guard 2) when it has not run for ``probe_s`` seconds.
2. When the estimate leaves little room (above ``inline_share`` of what is left), or there is none yet
   (a ranker's first call) or for a probe, the ranker runs on a worker thread and the request waits for
   it until the budget's end at the latest; a late ranking is dropped and the first stage's order
   served. Python cannot stop a thread, so a late ranker finishes in the background (its time still
   feeds the estimate), and a job still queued when its request gives up is cancelled. One thread by
   default: rankers run one at a time per server process, and LightGBM spreads one call over its own
   threads.

Otherwise (the usual case: a ranker that takes a few milliseconds of a 100 ms budget) the ranker runs
inline, as it would without a budget. The hop to a worker thread costs about 60 µs on a quiet 2-core
machine but 1-4 ms in the tail when the machine is busy (two thread wake-ups waiting for a core), which
is more than the whole ranking of 500 candidates; a ranker estimated at a quarter of the time left is
only late after a 4-fold stall, and then its answer is late by the stall, not dropped. Guard 1 alone
would let such surprises hold answers past the budget when the ranker runs close to it; guard 2 alone
would make each doomed request wait out the whole budget and burn CPU for nothing.

>>> import asyncio, time
>>> funnel = Funnel(None, budget_ms=1_000.0)
>>> rows = [{"item_id": "a"}, {"item_id": "b"}, {"item_id": "c"}]
>>> class Reverse:
...     def __init__(self, n): self.order = np.arange(n)[::-1]
>>> done = asyncio.run(funnel.rank(rows, lambda given: Reverse(len(given)), started=time.perf_counter()))
>>> done.order.tolist(), done.fallback
([2, 1, 0], None)
>>> funnel.close()
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np
from pydantic import ValidationError

from loopline._errors import LooplineError, ServingError
from loopline.registry import Registry
from loopline.serving._candidates import Candidates, size, take
from loopline.serving._http import Problem
from loopline.serving._scorer import Scorer
from loopline.spec import ServingSpec

LATENCY_BUDGET = "latency_budget"
"""The ``fallback`` of an answer in the first stage's order because the ranker would have been late."""


class Ordered(Protocol):
    """What a ranker returns: ``order``, the indices of the rows it was given, best first."""

    @property
    def order(self) -> np.ndarray: ...


R = TypeVar("R", bound=Ordered)


THREAD_ROWS = 64
"""Rankings of at least this many items run in a thread of the event loop's pool (LightGBM releases the
GIL, so concurrent requests use every core); smaller ones run inline, where the hop would cost more."""


@dataclass(frozen=True)
class Funneled(Generic[R]):
    """The order served for one request and how it came about."""

    order: np.ndarray      # indices into the request's N candidates, best first
    shortlist: np.ndarray  # the candidates the ranker was (or would have been) given: the first stage's best K
    ranked: R | None       # the ranker's answer for the shortlist (its ``order`` indexes it); None on a fallback
    fallback: str | None   # LATENCY_BUDGET when ``order`` is the first stage's because of the budget


class Funnel:
    """First stage, shortlist, ranker and budget for ``/v1/rank`` (see the module docstring)."""

    def __init__(self, first_stage: Scorer | None = None, *, k: int = 100, candidates: int = 500,
                 budget_ms: float = 100.0, probe_s: float = 1.0, alpha: float = 0.25, inline_share: float = 0.25,
                 workers: int = 1, on_fallback: Callable[[str], None] | None = None) -> None:
        if first_stage is not None and first_stage.task == "multiclass":
            raise ServingError(f"serving.first_stage: model {first_stage.name!r} v{first_stage.version} is "
                               "multiclass, so it gives no single score to keep the best candidates by. Name a "
                               "binary, regression or ranking model.")
        for name, value in (("k", k), ("candidates", candidates), ("workers", workers)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}.")
        if not budget_ms > 0 or not 0 < alpha <= 1 or probe_s < 0 or not 0 <= inline_share <= 1:
            raise ValueError(f"need budget_ms > 0, 0 < alpha <= 1, probe_s >= 0 and 0 <= inline_share <= 1; got "
                             f"{budget_ms}, {alpha}, {probe_s}, {inline_share}.")
        self.first_stage = first_stage
        self.k = k
        self.candidates = candidates
        self.budget_ms = budget_ms
        self.probe_s = probe_s
        self.alpha = alpha
        self.inline_share = inline_share
        self._on_fallback = on_fallback
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loopline-ranker")
        self._lock = threading.Lock()
        self._cost_ms: dict[Hashable, float] = {}    # per ranker: running mean of milliseconds per item
        self._started: dict[Hashable, float] = {}    # per ranker: when it last started

    def __repr__(self) -> str:
        first = "none" if self.first_stage is None else f"{self.first_stage.name} v{self.first_stage.version}"
        return f"Funnel(first_stage={first}, k={self.k}, candidates={self.candidates}, budget_ms={self.budget_ms})"

    def close(self) -> None:
        """Stop the worker thread once a ranker still running has finished (queued jobs are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def limit(self, count: int, field: str = "items") -> None:
        """Refuse (413) a request with more than ``candidates`` candidates."""
        if count > self.candidates:
            raise Problem(413, f"{field}: {count} candidates in one request, more than the {self.candidates} the "
                               "served model's spec allows (serving.candidates). Send at most "
                               f"{self.candidates}, or raise serving.candidates in the spec and retrain.",
                          field=field)

    def first_order(self, rows: Candidates) -> np.ndarray:
        """All candidates in the first stage's order, best first (ties in the request's order); the request's
        order when there is no first stage. Raises InputError when a row misses a first-stage feature."""
        if self.first_stage is None:
            return np.arange(size(rows), dtype=np.int64)
        scores = np.asarray(self.first_stage.score(rows), dtype=np.float64)
        order: np.ndarray = np.argsort(-scores, kind="stable")
        return order

    def expected_ms(self, key: Hashable, n: int) -> float | None:
        """The ranker's expected time for ``n`` items from its running cost; None before it has run."""
        with self._lock:
            cost = self._cost_ms.get(key)
        return None if cost is None else cost * n

    async def rank(self, rows: Candidates, ranker: Callable[[Candidates], R], *, started: float,
                   key: Hashable = None) -> Funneled[R]:
        """The order to serve ``rows`` in: the first stage's best K ranked by ``ranker``, then the rest.

        ``ranker`` gets the shortlisted rows and runs inline or on the worker thread (see the module docstring);
        its errors reach the caller.
        ``started`` is the request's arrival on the ``time.perf_counter`` clock; ``key`` names the ranker
        (its running cost is kept per key).
        """
        first = self.first_order(rows)
        k = len(first) if self.first_stage is None else min(self.k, len(first))
        shortlist = first[:k]
        left_ms = self.budget_ms - (time.perf_counter() - started) * 1000.0
        how = self._admit(key, k, left_ms)
        if how == "skip":
            return self._fallback(first, shortlist)
        given = take(rows, shortlist)
        if how == "inline" and k < THREAD_ROWS:
            ranked = self._timed(ranker, given, key)
        elif how == "inline":  # big enough that the hop pays: other requests are parsed while the trees run
            ranked = await asyncio.to_thread(self._timed, ranker, given, key)
        else:
            job = self._pool.submit(self._timed, ranker, given, key)
            try:
                ranked = await asyncio.wait_for(asyncio.wrap_future(job), timeout=left_ms / 1000.0)
            except TimeoutError:
                job.cancel()
                return self._fallback(first, shortlist)
        placed = shortlist[np.asarray(ranked.order, dtype=np.int64)]
        return Funneled(np.concatenate([placed, first[k:]]), shortlist, ranked, None)

    # -- the budget -----------------------------------------------------------------------------

    def _admit(self, key: Hashable, n: int, left_ms: float) -> Literal["skip", "inline", "guarded"]:
        """How the ranker runs: ``skip`` it (no budget left, or the estimate does not fit and no probe is due),
        ``inline`` (the estimate fits well within what is left) or ``guarded`` on the worker thread."""
        if left_ms <= 0:
            return "skip"
        now = time.perf_counter()
        with self._lock:
            cost = self._cost_ms.get(key)
            expected = math.inf if cost is None else cost * n
            if expected > left_ms and cost is not None and now - self._started.get(key, -math.inf) < self.probe_s:
                return "skip"
            self._started[key] = now
        return "inline" if expected <= self.inline_share * left_ms else "guarded"

    def _timed(self, ranker: Callable[[Candidates], R], given: Candidates, key: Hashable) -> R:
        started = time.perf_counter()
        result = ranker(given)
        self._observe(key, (time.perf_counter() - started) * 1000.0, size(given))
        return result

    def _observe(self, key: Hashable, ms: float, n: int) -> None:
        per_item = ms / max(n, 1)
        with self._lock:
            old = self._cost_ms.get(key)
            self._cost_ms[key] = per_item if old is None else (1.0 - self.alpha) * old + self.alpha * per_item

    def _fallback(self, first: np.ndarray, shortlist: np.ndarray) -> Funneled[Any]:
        if self._on_fallback is not None:
            self._on_fallback(LATENCY_BUDGET)
        return Funneled(first, shortlist, None, LATENCY_BUDGET)


def spread(values: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """An array of ``n`` rows holding ``values`` at rows ``at`` and missing values elsewhere (NaN, NaT or None):
    the ranker's checked columns of the shortlist, placed back among all candidates.

    >>> spread(np.array([1.5, 2.5]), np.array([2, 0]), 3).tolist()
    [2.5, nan, 1.5]
    >>> spread(np.array(["x"], dtype=object), np.array([1]), 2).tolist()
    [None, 'x']
    """
    if len(at) == n:
        out = np.empty_like(values)
    elif values.dtype.kind == "f":
        out = np.full(n, np.nan, dtype=values.dtype)
    elif values.dtype.kind in "mM":
        out = np.full(n, np.datetime64("NaT") if values.dtype.kind == "M" else np.timedelta64("NaT"),
                      dtype=values.dtype)
    else:
        out = np.full(n, None, dtype=object)
    out[at] = values
    return out


def load_funnel(registry: Registry, serving: Mapping[str, Any] | None, *,
                on_fallback: Callable[[str], None] | None = None) -> Funnel:
    """The funnel a trained spec's ``serving`` block describes (the defaults when there is none), with its
    first stage loaded from ``registry`` now: a missing model or alias fails here, before any request."""
    try:
        spec = ServingSpec.model_validate(dict(serving or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in ("serving", *first["loc"]))
        raise ServingError(f"{where}: {first['msg']} in the spec the served model was trained with. Fix the "
                           "spec's serving block and retrain.") from None
    first_stage = None
    if spec.first_stage is not None:
        name, version = spec.first_stage.model, spec.first_stage.version
        try:
            first_stage = Scorer.load(registry, name, version)
        except LooplineError as exc:
            raise ServingError(f"serving.first_stage: cannot load model {name!r} version {version!r} ({exc}). "
                               "Register that model, or name another first stage in the spec and retrain.") from None
    return Funnel(first_stage, k=spec.first_stage_k, candidates=spec.candidates, budget_ms=spec.latency_budget_ms,
                  on_fallback=on_fallback)
