"""A run's heartbeat: a daemon thread that refreshes ``runs.heartbeat_at`` while the run trains.

A run is reported ``abandoned`` once it has been silent for ``ABANDON_AFTER_BEATS`` intervals (90 s
with the default 30 s interval), so one or two missed beats (a busy database, a long pause of the
process) do not condemn it. A beat that fails is skipped; the next one tries again.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopline._errors import RegistryError
from loopline.registry._runs import beat

HEARTBEAT_INTERVAL_S = 30.0
ABANDON_AFTER_BEATS = 3


@contextmanager
def heartbeat(engine: Engine, run_id: str, *, interval_s: float = HEARTBEAT_INTERVAL_S) -> Iterator[None]:
    """Beat for ``run_id`` every ``interval_s`` seconds until the block ends (the first beat at once)."""
    if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or not math.isfinite(interval_s) \
            or interval_s <= 0:
        raise RegistryError(f"heartbeat(interval_s=...) takes a positive number of seconds, e.g. 30; got "
                            f"{interval_s!r}.")
    timeout_s = ABANDON_AFTER_BEATS * float(interval_s)
    if not beat(engine, run_id, timeout_s=timeout_s):
        raise RegistryError(f"cannot beat for run {run_id!r}: no such run is running. Start one with "
                            "Registry.start_run(...) and beat with its run_id before finishing it.")
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                if not beat(engine, run_id, timeout_s=timeout_s):
                    return  # the run has finished
            except (sa.exc.SQLAlchemyError, OSError):
                continue  # a missed beat; the run is reported abandoned only after several

    thread = threading.Thread(target=loop, name=f"loopline-heartbeat-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
