"""Evaluating a LightGBM model's trees: the booster itself, or the same trees compiled by lleaves.

lleaves (``pip install 'loopline[fast]'``; it needs llvmlite < 0.45) compiles the text model to
machine code through LLVM. It is used only when it is installed, its raw scores agree with the
booster's within :data:`AGREEMENT` on probe rows drawn from the model's own feature ranges (with
missing values and unseen categories), and, with ``trees='auto'``, it is faster than the booster on
them, measured at load. Otherwise the booster evaluates, which is always correct. Compiling takes
seconds for hundreds of trees, so with a ``cache_dir`` the object code is kept there under a key made
of the model text, the lleaves and llvmlite versions and the host CPU, written under a temporary
name and renamed.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from loopline import _atomic as atomic
from loopline._errors import MissingExtraError, ServingError

AGREEMENT = 1e-6
PROBE_ROWS = 500
SMALL_BATCH = 2000  # rows evaluated on one thread: spreading fewer costs more than it saves
TREES = ("auto", "lightgbm", "lleaves")


class TreePredictor(Protocol):
    backend: str

    def __call__(self, x: np.ndarray | sp.csr_matrix) -> np.ndarray: ...


class BoosterPredictor:
    """LightGBM's own ``predict`` (raw scores), on one thread for small batches."""

    backend = "lightgbm"

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster

    def __call__(self, x: np.ndarray | sp.csr_matrix) -> np.ndarray:
        options: dict[str, Any] = {"num_threads": 1} if x.shape[0] <= SMALL_BATCH else {}
        return np.asarray(self.booster.predict(x, raw_score=True, **options), dtype=np.float64)


class LleavesPredictor:
    """A model compiled by lleaves; dense float64 input only."""

    backend = "lleaves"

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled

    def __call__(self, x: np.ndarray | sp.csr_matrix) -> np.ndarray:
        dense = sp.csr_matrix(x).toarray() if sp.issparse(x) else np.asarray(x)
        jobs = 1 if dense.shape[0] <= SMALL_BATCH else (os.cpu_count() or 1)
        return np.asarray(self.compiled.predict(dense, n_jobs=jobs), dtype=np.float64)


def tree_predictor(booster: lgb.Booster, *, trees: str = "auto", sparse: bool = False,
                   cache_dir: Path | str | None = None) -> TreePredictor:
    """The evaluator for ``booster`` (see the module docstring); ``sparse`` inputs always use the booster."""
    if trees not in TREES:
        raise ServingError(f"trees must be one of {list(TREES)}, got {trees!r}")
    fallback = BoosterPredictor(booster)
    if trees == "lightgbm" or (sparse and trees == "auto"):
        return fallback
    if sparse:
        raise ServingError("trees='lleaves' cannot evaluate this model: it has sparse inputs (text or hashed "
                           "categories). Use trees='auto' or 'lightgbm'.")
    try:
        import lleaves  # noqa: F401
    except ImportError as exc:
        if trees == "lleaves":
            raise MissingExtraError("compiled trees (trees='lleaves')", "fast", "lleaves") from exc
        return fallback
    text = booster.model_to_string()
    try:
        compiled = LleavesPredictor(_compile(text, cache_dir))
    except Exception as exc:  # an LLVM or lleaves failure: the booster still answers
        if trees == "lleaves":
            raise ServingError(f"lleaves could not compile the model: {exc}. Check that llvmlite < 0.45 is "
                               "installed (pip install 'loopline[fast]'), or use trees='lightgbm'.") from exc
        return fallback
    probe = probe_rows(text, PROBE_ROWS)
    gap = float(np.max(np.abs(compiled(probe) - fallback(probe)))) if len(probe) else 0.0
    if not gap <= AGREEMENT:
        if trees == "lleaves":
            raise ServingError(f"lleaves disagrees with LightGBM by {gap:.3g} on probe rows (more than "
                               f"{AGREEMENT}); use trees='lightgbm' for this model.")
        return fallback
    if trees == "auto" and _seconds(compiled, probe) >= _seconds(fallback, probe):
        return fallback
    return compiled


def _compile(text: str, cache_dir: Path | str | None) -> Any:
    import lleaves

    llvm = importlib.import_module("llvmlite.binding")

    with tempfile.TemporaryDirectory(prefix="loopline-trees-") as scratch:
        model_file = Path(scratch) / "model.txt"
        model_file.write_text(text, encoding="utf-8")
        model = lleaves.Model(model_file=str(model_file))
        if cache_dir is None:
            model.compile(raw_score=True)
            return model
        key = hashlib.sha256("\n".join([
            text, metadata.version("lleaves"), metadata.version("llvmlite"), llvm.get_host_cpu_name(),
        ]).encode("utf-8")).hexdigest()
        folder = Path(cache_dir)
        final = folder / f"{key}.o"
        if final.is_file():
            model.compile(cache=str(final), raw_score=True)
            return model
        compiled = Path(scratch) / "model.o"  # lleaves writes the object file itself: then stored atomically
        model.compile(cache=str(compiled), raw_score=True)
        atomic.write_bytes(final, compiled.read_bytes())
        return model


def probe_rows(model_text: str, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` seeded rows spanning each feature's training range (read from the model's ``feature_infos``):
    numbers a little beyond both ends, category codes seen and unseen, 10% missing values."""
    infos: list[str] = []
    for line in model_text.splitlines():
        if line.startswith("feature_infos="):
            infos = line.split("=", 1)[1].split()
            break
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(infos)), dtype=np.float64)
    for j, info in enumerate(infos):
        if info.startswith("["):
            low, high = (float(v) for v in info.strip("[]").split(":"))
            span = (high - low) or 1.0
            x[:, j] = rng.uniform(low - 0.1 * span, high + 0.1 * span, n)
        elif info != "none":
            codes = [float(v) for v in info.split(":")]
            x[:, j] = rng.choice(np.r_[codes, max(codes) + 1.0], n)
        x[rng.random(n) < 0.1, j] = np.nan
    return x


def _seconds(predict: TreePredictor, probe: np.ndarray) -> float:
    """Best-of-three time of one batch plus twenty single rows: the shapes requests come in."""
    best = float("inf")
    for _ in range(3):
        clock = time.perf_counter()
        predict(probe)
        for i in range(min(20, len(probe))):
            predict(probe[i:i + 1])
        best = min(best, time.perf_counter() - clock)
    return best
