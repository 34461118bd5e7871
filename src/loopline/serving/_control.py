"""Keeping routing in step with the registry: the poller behind kill switches and promotions, and the
canary's health window.

:class:`Controls` runs one daemon thread that calls :meth:`Router.refresh` on each of its routers every
``poll_s`` seconds (0.5 s by default, so a kill switch, a promotion or a new deployment revision takes
effect in every worker within a second). A refresh that fails (the database briefly unreachable) is
logged and counted, and the routers keep their last plan; the thread never dies of it.

:class:`CanaryWindow` keeps the outcomes of a canary's requests over the last ``window_s`` seconds
and says when, with at least ``min_requests`` of them, the error rate or the p99 latency (nearest
rank) passes its limit.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from loopline._errors import ServingError
from loopline.serving._deployment import CanarySpec

if TYPE_CHECKING:
    from loopline.serving._router import Router

log = logging.getLogger("loopline.serving")

DEFAULT_POLL_S = 0.5


class CanaryWindow:
    """A canary's recent requests: ``add`` returns why it must be rolled back, or None while it is healthy."""

    def __init__(self, spec: CanarySpec, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._clock = clock
        self._outcomes: collections.deque[tuple[float, float, bool]] = collections.deque()
        self._errors = 0
        self._since_latency_check = 0
        self._lock = threading.Lock()

    def add(self, latency_ms: float, error: bool) -> str | None:
        spec = self.spec
        with self._lock:
            now = self._clock()
            self._outcomes.append((now, float(latency_ms), bool(error)))
            self._errors += bool(error)
            horizon = now - spec.window_s
            while self._outcomes and self._outcomes[0][0] < horizon:
                self._errors -= self._outcomes.popleft()[2]
            n = len(self._outcomes)
            if n < spec.min_requests:
                return None
            rate = self._errors / n
            if rate > spec.max_error_rate:
                return (f"error rate {rate:.4g} > max_error_rate {spec.max_error_rate:g} over the last "
                        f"{spec.window_s:g} s ({self._errors} of {n} requests failed)")
            if spec.max_p99_ms is None:
                return None
            # The p99 is checked every max(1, n // 100) requests: O(1) per request on average.
            self._since_latency_check += 1
            if self._since_latency_check < max(1, n // 100):
                return None
            self._since_latency_check = 0
            latencies = np.fromiter((o[1] for o in self._outcomes), dtype=np.float64, count=n)
            p99 = float(np.quantile(latencies, 0.99, method="inverted_cdf"))
            if p99 > spec.max_p99_ms:
                return (f"p99 latency {p99:.4g} ms > max_p99_ms {spec.max_p99_ms:g} over the last "
                        f"{spec.window_s:g} s ({n} requests)")
            return None


class Controls:
    """Polls the registry for every router in ``routers`` every ``poll_s`` seconds, on a daemon thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        router = Router(registry, "feed")
        with Controls(router):
            ...  # serve; kill switches and alias moves reach ``router`` within a second
    """

    def __init__(self, routers: Router | Sequence[Router], *, poll_s: float = DEFAULT_POLL_S) -> None:
        if isinstance(poll_s, bool) or not isinstance(poll_s, int | float) or not math.isfinite(poll_s) \
                or poll_s <= 0:
            raise ServingError(f"poll_s: expected a positive number of seconds, e.g. {DEFAULT_POLL_S}, got "
                               f"{poll_s!r}.")
        self.routers: tuple[Router, ...] = (routers,) if not isinstance(routers, Sequence) else tuple(routers)
        self.poll_s = float(poll_s)
        self.polls = 0
        self.failures = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        names = ", ".join(r.name for r in self.routers)
        return f"Controls([{names}], poll_s={self.poll_s}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Controls:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="loopline-controls", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def poll(self) -> None:
        """Refresh every router once (what the thread does every ``poll_s`` seconds)."""
        for router in self.routers:
            try:
                router.refresh()
            except Exception as exc:  # a failed poll must never stop the poller
                self.failures += 1
                self.last_error = f"{router.name}: {exc}"
                log.warning("refreshing routing of %r failed (%s); serving continues with the last plan",
                            router.name, exc)
        self.polls += 1

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def __enter__(self) -> Controls:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
