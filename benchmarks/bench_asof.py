"""loopline's asof_join against pandas.merge_asof on the same point-in-time join.

    python benchmarks/bench_asof.py --events 5_000_000 --features 2_000_000 --keys 100_000

Events (int64 key, UTC time, a label; not sorted) are joined to a feature table (int64 key, UTC time,
three float columns) with a 7-day max age. Each method runs in a fresh subprocess that builds the
same data from the seed, so memory is measured per method: the peak resident set (VmHWM, reset
after the data is built) during the first run, and how far above the data it climbs. Times are the
best and the median of --repeat runs (other work on the machine only ever makes a run slower).
merge_asof needs both frames sorted by time; a user must do that, so the sort is part of its time
(and shown on its own line). Its result comes back in time order, not in the events' order; putting
it back is not counted. Both results are compared on a random sample of events, and by their
per-column sums and null counts over all events.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from _memory import peak_since, reset_peak, status  # benchmarks/_memory.py, beside this file

from loopline.data._asof import asof_join

FEATURES = ["f0", "f1", "f2"]
SPAN_US = 90 * 86_400 * 1_000_000
START = np.datetime64("2024-01-01T00:00:00", "us")
SAMPLE = 200_000


def make_data(n_events: int, n_features: int, n_keys: int, seed: int,
              key_type: str = "int") -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = np.array([f"user-{i:07d}" for i in range(n_keys)], dtype=object)

    def keys(n: int) -> np.ndarray:
        drawn = rng.integers(0, n_keys, n)
        return names[drawn] if key_type == "str" else drawn

    def instants(n: int) -> pd.Series:
        stamps: pd.Series = pd.Series(START + rng.integers(0, SPAN_US, n).astype("timedelta64[us]"))
        utc: pd.Series = stamps.dt.tz_localize("UTC")
        return utc

    events = pd.DataFrame({"event_id": np.arange(n_events), "key": keys(n_events),
                           "ts": instants(n_events), "label": rng.integers(0, 2, n_events).astype(np.int8)})
    features = pd.DataFrame({"key": keys(n_features), "feature_ts": instants(n_features)})
    for name in FEATURES:
        features[name] = rng.normal(size=n_features)
    return events, features


def run(method: str, events: pd.DataFrame, features: pd.DataFrame, max_age: timedelta,
        con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, float, float]:
    """The joined frame, the seconds it took, and the seconds of those spent sorting."""
    start = time.perf_counter()
    if method == "asof_join":
        out = asof_join(events, features, keys=["key"], event_time="ts", feature_time="feature_ts",
                        max_age=max_age, connection=con)
        return out, time.perf_counter() - start, 0.0
    left = events.sort_values("ts", kind="stable")
    right = features.sort_values("feature_ts", kind="stable")
    sort_s = time.perf_counter() - start
    out = pd.merge_asof(left, right, left_on="ts", right_on="feature_ts", by="key", direction="backward",
                        tolerance=pd.Timedelta(max_age), allow_exact_matches=True)
    return out, time.perf_counter() - start, sort_s


def child(args: argparse.Namespace) -> None:
    events, features = make_data(args.events, args.features, args.keys, args.seed, args.key_type)
    max_age = timedelta(days=args.max_age_days)
    con = duckdb.connect(config={"threads": args.threads} if args.threads else {})
    threads = int(con.sql("SELECT current_setting('threads')").fetchall()[0][0])
    gc.collect()
    reset = reset_peak()
    base = status("VmRSS")
    out, seconds, sort_s = run(args.child, events, features, max_age, con)
    peak = peak_since(reset)
    times, sorts = [seconds], [sort_s]
    for _ in range(args.repeat - 1):
        _, seconds, sort_s = run(args.child, events, features, max_age, con)
        times.append(seconds)
        sorts.append(sort_s)
    if args.child == "merge_asof":  # back to the events' order, for the comparison only
        where = np.empty(len(out), dtype=np.int64)
        where[out["event_id"].to_numpy()] = np.arange(len(out))
        out = out.iloc[where]
    ids = np.random.default_rng(1).choice(len(events), size=min(SAMPLE, len(events)), replace=False)
    rows = out.iloc[ids]
    values = [rows[c].to_numpy(dtype=float) for c in FEATURES]
    np.savez(Path(args.out) / f"{args.child}.npz", event_id=rows["event_id"].to_numpy(), f0=values[0], f1=values[1],
             f2=values[2])
    sums = {c: [float(np.nansum(out[c])), int(out[c].isna().sum())] for c in FEATURES}
    print(json.dumps({"best": min(times), "median": float(np.median(times)), "sort_best": min(sorts),
                      "sort_median": float(np.median(sorts)), "peak_mib": peak, "base_mib": base, "sums": sums,
                      "threads": threads}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--features", type=int, default=2_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--max-age-days", type=float, default=7.0)
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: DuckDB's default, all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--key-type", choices=["int", "str"], default="int",
                        help="int64 keys, or text ids such as 'user-0001234' (the usual case for user ids)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method (best and median shown)")
    parser.add_argument("--child", choices=["asof_join", "merge_asof"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results = {}
    with tempfile.TemporaryDirectory() as out:
        for method in ("asof_join", "merge_asof"):
            command = [sys.executable, __file__, "--child", method, "--out", out, *sys.argv[1:]]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[method] = json.loads(done.stdout.strip().splitlines()[-1])
        ours, theirs = (np.load(Path(out) / f"{m}.npz") for m in ("asof_join", "merge_asof"))
        same = all(np.array_equal(ours[c], theirs[c], equal_nan=True) for c in ["event_id", *FEATURES])
    sums_equal = all(np.isclose(results["asof_join"]["sums"][c][0], results["merge_asof"]["sums"][c][0])
                     and results["asof_join"]["sums"][c][1] == results["merge_asof"]["sums"][c][1] for c in FEATURES)
    missing = results["asof_join"]["sums"][FEATURES[0]][1] / args.events
    print(f"{args.events:,} events x {args.features:,} feature rows, {args.keys:,} keys, max_age "
          f"{args.max_age_days:g}d, DuckDB threads {results['asof_join']['threads']}")
    print(f"same values on {min(SAMPLE, args.events):,} sampled events: {same}; same column sums and null counts "
          f"over all events: {sums_equal}; events without a usable feature row: {missing:.1%}")
    slow = results["merge_asof"]
    print(f"\n{'method':<22}{'best s':>8}{'median s':>10}{'peak RSS MiB':>14}{'above data MiB':>16}"
          f"{'speedup (best)':>16}{'speedup (median)':>18}")
    for method, r in results.items():
        print(f"{method:<22}{r['best']:>8.2f}{r['median']:>10.2f}{r['peak_mib']:>14.0f}"
              f"{r['peak_mib'] - r['base_mib']:>16.0f}{slow['best'] / r['best']:>15.1f}x"
              f"{slow['median'] / r['median']:>17.1f}x")
    print(f"{'  of which sorting':<22}{slow['sort_best']:>8.2f}{slow['sort_median']:>10.2f}")

if __name__ == "__main__":
    main()
