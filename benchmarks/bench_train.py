"""loopline's LightGBM candidate against the same LightGBM fit called directly.

    python benchmarks/bench_train.py --rows 1_000_000 --features 30 --repeat 1

A synthetic binary table (``--features`` float columns of which five are informative, a UTC
timestamp, a 0/1 label) is split by time inline (sort by time, 70/15/15) into ``Splits``. Then:

- loopline: ``train_candidates`` with ``candidates: [lightgbm]`` and ``calibration: none``; this
  includes preprocessing train and valid, building LightGBM's datasets, training with early stopping
  on valid, cutting the booster at its best iteration, scoring valid and choosing the threshold.
- direct: ``lightgbm.Dataset`` + ``lightgbm.train`` on the train matrix (already a float64 numpy
  array, not timed) with the same parameters and early stopping on the same valid matrix.

With ``--full``, the whole ``loopline train`` path is timed as well, on the same table written to
Parquet: the data stage (DuckDB load, validation, split, leakage and coverage checks), the baselines,
the LightGBM candidate, the test evaluation with bootstrap intervals, registration and the report.

Times are the best of ``--repeat`` runs (other work on the machine only ever makes a run slower);
the two paths alternate. The ratio is loopline / direct; the target is at most 1.3.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from loopline._threads import default_threads
from loopline.data import Splits, infer_schema
from loopline.models import train_candidates
from loopline.models._lightgbm import lightgbm_params
from loopline.spec import ProblemSpec

START = pd.Timestamp("2024-01-01", tz="UTC")
INFORMATIVE = 5


def make_data(rows: int, features: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    weights = np.r_[np.linspace(1.0, 0.2, min(INFORMATIVE, features)), np.zeros(max(features - INFORMATIVE, 0))]
    logit = -2.0 + x @ weights + 0.5 * np.sin(2 * x[:, 0]) * x[:, min(1, features - 1)]
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(features)])
    frame["ts"] = START + pd.to_timedelta(rng.uniform(0, 90 * 86_400, rows), unit="s")
    frame["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


def make_splits(frame: pd.DataFrame, features: list[str]) -> Splits:
    """Sorted by time and cut 70/15/15, the way the data stage splits by fractions."""
    ordered = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    a, b = int(0.7 * len(ordered)), int(0.85 * len(ordered))
    schema = infer_schema(ordered[features].sample(min(len(ordered), 100_000), random_state=0))
    return Splits(train=ordered.iloc[:a].reset_index(drop=True), valid=ordered.iloc[a:b].reset_index(drop=True),
                  test=ordered.iloc[b:].reset_index(drop=True), label="label", time="ts", features=tuple(features),
                  schema=schema)


def make_spec() -> ProblemSpec:
    return ProblemSpec.from_dict({"name": "bench", "task": "binary", "data": {"source": "x.parquet"},
                                  "event_time": "ts", "label": {"column": "label"},
                                  "models": {"candidates": ["lightgbm"], "calibration": "none"}})


def run_loopline(splits: Splits, spec: ProblemSpec) -> tuple[float, int]:
    clock = time.perf_counter()
    model = train_candidates(splits, spec)[0]
    return time.perf_counter() - clock, int(model.params["best_iteration"])


def run_direct(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
               spec: ProblemSpec) -> tuple[float, int]:
    params, rounds = lightgbm_params(spec, None)
    params["num_threads"] = default_threads(len(y_train))  # the count loopline's own fit uses
    clock = time.perf_counter()
    train = lgb.Dataset(x_train, label=y_train)
    valid = lgb.Dataset(x_valid, label=y_valid, reference=train)
    booster = lgb.train(params, train, num_boost_round=rounds, valid_sets=[valid], valid_names=["valid"],
                        callbacks=[lgb.early_stopping(spec.models.early_stopping_rounds, first_metric_only=True,
                                                      verbose=False)])
    return time.perf_counter() - clock, int(booster.best_iteration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true", help="also time the whole 'loopline train' path")
    args = parser.parse_args()

    features = [f"f{i}" for i in range(args.features)]
    clock = time.perf_counter()
    frame = make_data(args.rows, args.features, args.seed)
    made = time.perf_counter() - clock
    clock = time.perf_counter()
    splits = make_splits(frame, features)
    split_s = time.perf_counter() - clock
    full = run_full(frame) if args.full else None
    del frame
    spec = make_spec()
    matrices: list[Any] = [splits.train[features].to_numpy(dtype=np.float64), splits.train["label"].to_numpy(),
                           splits.valid[features].to_numpy(dtype=np.float64), splits.valid["label"].to_numpy()]
    print(f"data {made:.1f} s, time split into Splits {split_s:.1f} s "
          f"(train {len(splits.train):,}, valid {len(splits.valid):,}, test {len(splits.test):,} rows)")

    direct: list[tuple[float, int]] = []
    ours: list[tuple[float, int]] = []
    for i in range(args.repeat):
        direct.append(run_direct(*matrices, spec))
        ours.append(run_loopline(splits, spec))
        print(f"run {i + 1}: direct {direct[-1][0]:.1f} s ({direct[-1][1]} iterations), "
              f"loopline {ours[-1][0]:.1f} s ({ours[-1][1]} iterations)", flush=True)

    d, o = min(direct), min(ours)
    header = f"{'rows':>10} {'features':>8} {'direct s':>9} {'loopline s':>10} {'ratio':>6} {'best it direct':>14} " \
             f"{'best it loopline':>16}"
    print(header)
    print(f"{args.rows:>10,} {args.features:>8} {d[0]:>9.1f} {o[0]:>10.1f} {o[0] / d[0]:>6.2f} {d[1]:>14} {o[1]:>16}")
    if full is not None:
        seconds, timings = full
        steps = ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in timings.items())
        print(f"whole 'loopline train': {seconds:.1f} s = {seconds / d[0]:.2f} x the direct fit ({steps})")


def run_full(frame: pd.DataFrame) -> tuple[float, dict[str, float]]:
    """``loopline train`` end to end on the table as a Parquet file, in a throwaway workspace."""
    from loopline.loop import train
    from loopline.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        frame.to_parquet(path)
        spec = ProblemSpec.from_dict({"name": "bench", "task": "binary", "data": {"source": str(path)},
                                      "event_time": "ts", "label": {"column": "label"},
                                      "models": {"candidates": ["lightgbm"], "calibration": "none"}},
                                     base_dir=Path(tmp))
        clock = time.perf_counter()
        outcome = train(spec, Workspace.open(Path(tmp) / "ws", env={}))
        return time.perf_counter() - clock, dict(outcome.timings)


if __name__ == "__main__":
    main()
