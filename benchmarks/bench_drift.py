"""loopline's drift check beside Evidently's DataDriftPreset (and a plain scipy loop) on the same data.

    python benchmarks/bench_drift.py --evidently-python /tmp/evidently-venv/bin/python   # 1M rows, ~6 min
    python benchmarks/bench_drift.py --quick                                              # 50,000 rows, < 1 min

Evidently 0.7 needs pandas < 3, so it lives in its own virtual environment: ``python -m venv
/tmp/evidently-venv && /tmp/evidently-venv/bin/pip install "evidently==0.7.23" "pandas<3"`` (pip resolves
evidently 0.7.23 with pandas 3, which it cannot import; the second requirement keeps pandas 2). This file
runs there too, as the Evidently child: at module level it imports only numpy and pandas.

The data: a reference and a current table (``--reference-rows``, ``--rows``; 1,000,000 each) of 30 numeric
columns (normal, lognormal, gamma, Poisson counts, beta, and normal with 2% missing, by turn) and 5
categorical ones (3, 12, 40, 250 and 1,000 categories, Zipf-like shares), drawn from one seed. Drift is
planted in the current table: a mean shift of ``--shift`` (0.1) reference standard deviations in ``n00``
(normal), ``n07`` (lognormal) and ``n16`` (beta), and a category ``c1=new`` never seen in training on
``--new-share`` (1%) of the rows of ``c1``. Both tables are written as Parquet once; then each system runs
in its own fresh process, one after the other:

- loopline, profile (done once, when a version is registered; reported, not counted in the check): the
  reference Parquet read into pandas, ``data.infer_schema`` with the kinds given as the spec's
  ``features.types`` would, ``features.Profile.from_frame``, the profile written as JSON. Timed: ``from_frame``.
- loopline, check: timed from the stored profile JSON and the current Parquet file to the verdicts:
  ``Profile.from_dict``, ``monitoring.WindowSource.from_table(path)``, ``monitoring.aggregate`` on the
  profile's grids (DuckDB reads the file in chunks), ``monitoring.drift``.
- scipy loop: both Parquet files read into pandas frames (not timed), then per column ``scipy.stats.ks_2samp``
  (numeric, missing values dropped) or ``chi2_contingency`` on the 2 x K table of counts (categorical);
  a column is flagged when p < 0.05. The obvious hand-written check, printed in every run.
- Evidently: both Parquet files read into pandas frames (not timed: that is how it is used), then
  ``Report([DataDriftPreset()], include_tests=True).run(...)`` on ``Dataset.from_pandas`` with a
  ``DataDefinition`` naming the same numeric and categorical columns, and the snapshot's ``dict()``. Its
  verdicts are its own per-column tests (its defaults at this size: Wasserstein distance / reference std
  >= 0.1 for numeric columns, Jensen-Shannon distance >= 0.1 for categorical ones). Without
  ``--evidently-python`` it is not run, and the scipy loop is the named baseline.

A shift of 0.1 sd moves the Wasserstein distance by exactly 0.1 sd, which is Evidently's default threshold, so
whether it flags those three columns is decided by sampling noise; a new category on 1% of the rows gives a
Jensen-Shannon distance near 0.06, below its threshold. loopline flags an effect from 0.05 sd (or 0.5% of rows
in unseen categories) when the test is also significant. The per-column table prints each system's flag and
statistic, so agreement can be read beside speed.

Time is wall seconds of the timed part. Memory is the child's peak resident set (VmHWM) during the timed
part, the frames it holds included (Evidently and the scipy loop hold both tables; loopline holds neither),
after a reset of the peak just before it (``/proc/self/clear_refs``; where that is refused, the process's
peak so far); "above start" is how far it climbed over the resident set at the start. The run is bounded:
each child is stopped after ``--timeout`` seconds. The machine has 2 cores: DuckDB uses both unless
``--duckdb-threads`` says otherwise; the other systems use one. Run it on an otherwise idle machine (the
load average is printed before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _memory import peak_since, reset_peak, status  # benchmarks/_memory.py, beside this file

NUMERIC = [f"n{i:02d}" for i in range(30)]
CATEGORICAL = [f"c{i}" for i in range(5)]
CARDINALITY = (3, 12, 40, 250, 1000)
SHIFTED = ("n00", "n07", "n16")
NEW_COLUMN = "c1"
NEW_VALUE = "new"
MISSING_SHARE = 0.02
QUICK_ROWS = 50_000


# -- the data ------------------------------------------------------------------------------------------

def _numeric(i: int, n: int, rng: np.random.Generator) -> np.ndarray:
    shape = i % 6
    if shape == 0:
        return rng.normal(10.0 * i, 1.0 + i / 10, n)
    if shape == 1:
        return rng.lognormal(3.0, 0.5 + (i % 5) / 10, n)
    if shape == 2:
        return rng.gamma(2.0, 10.0 + i, n)
    if shape == 3:
        return rng.poisson(3 + i, n).astype(np.float64)
    if shape == 4:
        return rng.beta(2.0, 5.0, n)
    values = rng.normal(0.0, 1.0, n)
    values[rng.random(n) < MISSING_SHARE] = np.nan
    return values


def _categories(j: int) -> tuple[np.ndarray, np.ndarray]:
    k = CARDINALITY[j]
    names = np.array([f"{CATEGORICAL[j]}_{v:04d}" for v in range(k)], dtype=object)
    shares = 1.0 / np.arange(1, k + 1) ** 1.1
    return names, shares / shares.sum()


def make_table(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    data: dict[str, Any] = {name: _numeric(i, rows, rng) for i, name in enumerate(NUMERIC)}
    for j, name in enumerate(CATEGORICAL):
        names, shares = _categories(j)
        data[name] = names[rng.choice(len(names), rows, p=shares)]
    return pd.DataFrame(data)


def make_data(reference_rows: int, rows: int, *, shift: float, new_share: float,
              seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference and the current table (drift planted in the current one, see the module docstring)."""
    reference = make_table(reference_rows, np.random.default_rng([seed, 0]))
    rng = np.random.default_rng([seed, 1])
    current = make_table(rows, rng)
    for name in SHIFTED:
        current[name] = current[name] + shift * float(np.nanstd(reference[name].to_numpy()))
    column = current[NEW_COLUMN].to_numpy(dtype=object, copy=True)
    column[rng.random(rows) < new_share] = NEW_VALUE
    current[NEW_COLUMN] = column
    return reference, current


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Plain Arrow types without pandas metadata, so pandas 2 (Evidently) and 3 read the strings alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path)


def read_frames(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pyarrow as pa

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    pa.default_memory_pool().release_unused()  # Arrow's buffers are copied into the frames: hand them back
    return reference, current


# -- measuring inside a child --------------------------------------------------------------------------

def measured(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` with its wall time and the peak resident set during it added to what it returns."""
    reset = reset_peak()
    base = status("VmRSS")
    clock = time.perf_counter()
    out = work()
    seconds = time.perf_counter() - clock
    peak = peak_since(reset)
    return {**out, "seconds": seconds, "peak_mib": peak, "base_mib": base, "peak_reset": reset}


# -- the systems (each runs in its own child process) ----------------------------------------------------

def child_profile(folder: Path) -> dict[str, Any]:
    from loopline import _json
    from loopline.data import infer_schema
    from loopline.features import Profile

    reference = pd.read_parquet(folder / "reference.parquet")
    features = [*NUMERIC, *CATEGORICAL]
    schema = infer_schema(reference, types={**dict.fromkeys(NUMERIC, "numeric"),
                                            **dict.fromkeys(CATEGORICAL, "categorical")})
    built: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        built["profile"] = Profile.from_frame(reference, schema, features=features)
        return {}

    out = measured(work)
    text = _json.dumps(built["profile"].to_dict())
    (folder / "profile.json").write_text(text, encoding="utf-8")
    return {**out, "rows": len(reference), "columns": len(features), "profile_kib": len(text) / 1024}


def child_loopline(folder: Path, duckdb_threads: int) -> dict[str, Any]:
    from loopline.features import CategoricalProfile, NumericProfile, Profile
    from loopline.monitoring import WindowSource, aggregate, drift
    from loopline.monitoring._drift import reference_grid

    found: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        profile = Profile.from_dict(json.loads((folder / "profile.json").read_text(encoding="utf-8")))
        with WindowSource.from_table(folder / "current.parquet") as source:
            if duckdb_threads:
                source.con.execute(f"SET threads = {int(duckdb_threads)}")
            found["threads"] = int(source.con.sql("SELECT current_setting('threads')").fetchall()[0][0])
            numeric = {n: reference_grid(p) for n, p in profile.features.items() if isinstance(p, NumericProfile)}
            categorical = [n for n, p in profile.features.items() if isinstance(p, CategoricalProfile)]
            stats = aggregate(source, numeric=numeric, categorical=categorical)
        found["result"] = drift(profile, stats)
        found["rows"] = stats.rows
        return {}

    out = measured(work)
    result = found["result"]
    scores = {c.name: {"flag": c.drifted, "score": c.verdict.effect_value, "p": c.verdict.p_value,
                       "how": c.verdict.effect} for c in result.features}
    return {**out, "rows": found["rows"], "columns": len(result.features), "scores": scores,
            "flagged": [c.name for c in result.features if c.drifted], "dataset_drift": result.drift_detected,
            "skipped": result.skipped, "threads": found["threads"]}


def child_scipy(folder: Path) -> dict[str, Any]:
    from scipy import stats

    reference, current = read_frames(folder)
    scores: dict[str, dict[str, Any]] = {}

    def work() -> dict[str, Any]:
        for name in NUMERIC:
            test = stats.ks_2samp(reference[name].dropna().to_numpy(), current[name].dropna().to_numpy())
            scores[name] = {"p": float(test.pvalue), "score": float(test.statistic), "how": "ks"}
        for name in CATEGORICAL:
            table = pd.concat([reference[name].value_counts(), current[name].value_counts()], axis=1).fillna(0)
            test = stats.chi2_contingency(table.to_numpy().T)
            scores[name] = {"p": float(test.pvalue), "score": float(test.statistic), "how": "chi2"}
        for value in scores.values():
            value["flag"] = value["p"] < 0.05
        return {}

    out = measured(work)
    return {**out, "rows": len(current), "columns": len(scores), "scores": scores,
            "flagged": [n for n, s in scores.items() if s["flag"]]}


def child_evidently(folder: Path) -> dict[str, Any]:
    import evidently  # type: ignore[import-not-found]  # only in the Evidently environment
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]

    reference, current = read_frames(folder)
    found: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
        report = Report([DataDriftPreset()], include_tests=True)
        snapshot = report.run(current_data=Dataset.from_pandas(current, data_definition=definition),
                              reference_data=Dataset.from_pandas(reference, data_definition=definition))
        found["dict"] = snapshot.dict()
        return {}

    out = measured(work)
    scores: dict[str, dict[str, Any]] = {}
    share = None
    for metric in found["dict"]["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            scores[config["column"]] = {"score": float(metric["value"]), "how": config.get("method"),
                                        "threshold": config.get("threshold")}
        elif config.get("type", "").endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    prefix = "Value Drift for column "
    for test in found["dict"]["tests"]:
        if test["name"].startswith(prefix) and test["name"][len(prefix):] in scores:
            scores[test["name"][len(prefix):]]["flag"] = test["status"] == "FAIL"
    missing = [name for name, s in scores.items() if "flag" not in s]
    if missing:
        raise SystemExit(f"Evidently {evidently.__version__} returned no drift test for columns {missing}.")
    return {**out, "rows": len(current), "columns": len(scores), "scores": scores,
            "flagged": [n for n, s in scores.items() if s["flag"]],
            "dataset_drift": share is not None and share >= 0.5, "version": evidently.__version__,
            "pandas": pd.__version__}


# -- the parent ----------------------------------------------------------------------------------------

def run_child(python: str, system: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [python, str(Path(__file__).resolve()), "--child", system, "--dir", str(folder),
               "--duckdb-threads", str(args.duckdb_threads)]
    env = {**os.environ, "DO_NOT_TRACK": "1"}  # Evidently's telemetry stays off
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {args.timeout:g} s (--timeout)"}
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        return {"error": f"exit code {done.returncode}:\n{tail}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _mib(value: float) -> str:
    return f"{value:,.0f}"


def print_table(results: dict[str, dict[str, Any]], planted: list[str]) -> None:
    print(f"\n{'system':<36} {'rows':>10} {'columns':>7} {'seconds':>8} {'peak RSS MB':>11} {'above start MB':>14}"
          "  columns flagged")
    for label, r in results.items():
        if "error" in r:
            print(f"{label:<36} failed: {r['error']}")
            continue
        flagged = r.get("flagged")
        if flagged is None:
            names = f"(profile JSON {r['profile_kib']:,.0f} KiB)"
        else:
            extra = sorted(set(flagged) - set(planted))
            found = [n for n in planted if n in flagged]
            names = f"{len(flagged)}: {' '.join(found) or '-'}" + (f" + {' '.join(extra)}" if extra else "")
        print(f"{label:<36} {r['rows']:>10,} {r['columns']:>7} {r['seconds']:>8.2f} {_mib(r['peak_mib']):>11} "
              f"{_mib(r['peak_mib'] - r['base_mib']):>14}  {names}")


SHORT = {"wasserstein_norm": "W/sd", "Wasserstein distance (normed)": "W/sd", "jensen_shannon": "JS",
         "Jensen-Shannon distance": "JS", "new_share": "new share", "ks": "KS D", "chi2": "chi2"}


def print_agreement(results: dict[str, dict[str, Any]], planted: list[str]) -> None:
    systems = {k: v for k, v in results.items() if "scores" in v}
    shown = list(planted)
    for r in systems.values():
        shown += [n for n in r["flagged"] if n not in shown]
    print("\nper column (planted drift marked *): each system's flag and the statistic it decides on (W/sd: "
          "Wasserstein distance / reference std; JS: Jensen-Shannon distance; new share: rows in categories "
          "training never saw)")
    print(f"{'column':<8}" + "".join(f"  {k:<34}" for k in systems))
    for name in shown:
        cells = []
        for r in systems.values():
            s = r["scores"].get(name)
            if s is None:
                cells.append(f"  {'not tested':<34}")
                continue
            value = s["score"] if s.get("score") is not None else float("nan")
            p = f" p={s['p']:.0e}" if s.get("p") is not None else ""
            how = str(s.get("how") or "")
            cell = f"{'DRIFT' if s['flag'] else 'ok':<6}{SHORT.get(how, how)} {value:.4f}{p}"
            cells.append(f"  {cell:<34}")
        print(f"{name + ('*' if name in planted else ''):<8}" + "".join(cells))


def print_ratios(results: dict[str, dict[str, Any]], have_evidently: bool) -> None:
    ours = results["loopline check"]
    if "error" in ours:
        return

    def verdict(ok: bool) -> str:
        return "target met" if ok else "MISSED"

    print("\nratios, loopline check against each (the profile is built once at registration and not counted):")
    for label, other in results.items():
        if label.startswith("loopline") or "error" in other:
            continue
        speed = other["seconds"] / ours["seconds"]
        memory = ours["peak_mib"] / other["peak_mib"]
        line = f"  vs {label:<22} speed-up {speed:7.1f}x   memory fraction {memory:5.3f}"
        if label.startswith("Evidently"):
            line += f"   (>= 50x: {verdict(speed >= 50)}; <= 1/4: {verdict(memory <= 0.25)})"
        print(line)
    if not have_evidently:
        print("  Evidently not measured (give --evidently-python): the targets (>= 50x faster, <= 1/4 of the memory) "
              "are against Evidently and are not judged in this run.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=1_000_000, help="current rows")
    parser.add_argument("--reference-rows", type=lambda s: int(s.replace("_", "")), default=None,
                        help="reference rows (default: as many as --rows)")
    parser.add_argument("--shift", type=float, default=0.1, help="planted mean shift, in reference std")
    parser.add_argument("--new-share", type=float, default=0.01, help="share of c1 rows given a new category")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evidently-python", default=None, help="the python of a virtual environment with evidently")
    parser.add_argument("--duckdb-threads", type=int, default=0, help="DuckDB threads (0: its default, all cores)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds after which a child is stopped")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK_ROWS:,} rows each")
    parser.add_argument("--child", choices=["profile", "loopline", "scipy", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        children: dict[str, Callable[[], dict[str, Any]]] = {
            "profile": lambda: child_profile(args.dir), "scipy": lambda: child_scipy(args.dir),
            "loopline": lambda: child_loopline(args.dir, args.duckdb_threads),
            "evidently": lambda: child_evidently(args.dir)}
        print(json.dumps(children[args.child]()))
        return
    if args.quick:
        args.rows = QUICK_ROWS
    reference_rows = args.reference_rows or args.rows
    planted = [*SHIFTED, NEW_COLUMN]
    load = os.getloadavg()
    print(f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as name:
        folder = Path(name)
        clock = time.perf_counter()
        reference, current = make_data(reference_rows, args.rows, shift=args.shift, new_share=args.new_share,
                                       seed=args.seed)
        write_parquet(reference, folder / "reference.parquet")
        write_parquet(current, folder / "current.parquet")
        del reference, current
        size = (folder / "current.parquet").stat().st_size / 2**20
        print(f"{reference_rows:,} reference and {args.rows:,} current rows x {len(NUMERIC)} numeric + "
              f"{len(CATEGORICAL)} categorical columns, made and written in {time.perf_counter() - clock:.1f} s "
              f"(current Parquet {size:,.0f} MiB); planted: mean +{args.shift:g} sd in {', '.join(SHIFTED)}; "
              f"new category in {NEW_COLUMN} on {args.new_share:.1%} of rows", flush=True)
        results: dict[str, dict[str, Any]] = {}
        runs = [("loopline profile (once, not counted)", sys.executable, "profile"),
                ("loopline check", sys.executable, "loopline"),
                ("scipy loop (ks_2samp, chi2)", sys.executable, "scipy")]
        if args.evidently_python:
            runs.append(("Evidently DataDriftPreset", args.evidently_python, "evidently"))
        for label, python, system in runs:
            print(f"running {label} ...", flush=True)
            results[label] = run_child(python, system, folder, args)
    ours, evidently = results["loopline check"], results.get("Evidently DataDriftPreset", {})
    notes = []
    if "threads" in ours:
        notes.append(f"DuckDB threads {ours['threads']}")
    if "version" in evidently:
        label = f"Evidently {evidently['version']}"
        results[label] = results.pop("Evidently DataDriftPreset")
        notes.append(f"{label} with pandas {evidently['pandas']}")
    if any(not r.get("peak_reset", True) for r in results.values()):
        notes.append("peak not reset (clear_refs refused): process peaks shown")
    print(f"\n{'; '.join(notes)}")
    print_table(results, planted)
    print_agreement(results, planted)
    drifted = {k: r["dataset_drift"] for k, r in results.items() if "dataset_drift" in r}
    print("dataset drift (at least half of the columns drifted): "
          + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in drifted.items()))
    print_ratios(results, bool(args.evidently_python) and "error" not in evidently)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
