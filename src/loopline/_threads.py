"""Thread counts for OpenMP code (LightGBM) that degrade gracefully on a busy machine.

OpenMP threads spin while they wait for work by default. On a machine whose cores are shared with other
processes, a spinning thread takes a core from the thread that has real work, and a LightGBM fit with two
threads on two busy cores was measured at 6-18x the time of one thread. Two defaults avoid that:

- ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep instead of spinning), set when loopline is imported
  unless the variable is already set. OpenMP reads it once, when its runtime loads, so it takes effect
  only if loopline is imported before LightGBM or scikit-learn; :func:`openmp_settings` records what was in
  force.
- One thread for small training sets (fewer than :data:`SMALL_ROWS` rows), where the work per split is too
  small for a second thread to pay for its synchronisation; the cores this process may use otherwise.

A spec's ``models.lightgbm.num_threads`` (or one of LightGBM's aliases) always wins, and the count used is
stored in the model's parameters.
"""

from __future__ import annotations

import os

WAIT_POLICY = "OMP_WAIT_POLICY"
SMALL_ROWS = 100_000
THREAD_ALIASES = ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs")


def prefer_passive_openmp() -> None:
    """Make waiting OpenMP threads sleep rather than spin, unless the user chose a policy."""
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def default_threads(rows: int) -> int:
    """The thread count loopline uses for a fit on ``rows`` training rows.

    >>> default_threads(5_000)
    1
    """
    return 1 if rows < SMALL_ROWS else available_cores()


def openmp_settings() -> dict[str, str]:
    """The OpenMP settings in force, for a model's lineage."""
    return {WAIT_POLICY: os.environ.get(WAIT_POLICY, "")}
