"""Time and memory of ``analyze`` on a large synthetic event log.

Writes assignments, exposures and feedback through ``EventLog.write`` in chunks (``--units`` units split
50/50, ``--exposures`` served exposures in requests of 10 items over ``--days`` days, ``--feedback``
clicks on a random subset of them), then runs ``check_assignments`` and ``analyze`` each in a fresh
subprocess and prints rows, wall seconds and the subprocess's peak resident memory.

    python benchmarks/bench_experiment.py --exposures 10_000_000 --feedback 1_000_000 --units 1_000_000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopline.events import TS, EventLog
from loopline.experiments import ExperimentSpec, analyze, check_assignments

START = datetime(2026, 3, 2, tzinfo=UTC)
DAY_US = 86_400_000_000
ITEMS = 10
SPEC = {"name": "bench", "arms": {"control": 0.5, "treatment": 0.5}, "cuped": {"pre_days": 2.0}}


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _ts(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype(np.int64)).cast(TS)


def generate(log: EventLog, *, units: int, exposures: int, feedback: int, days: int, chunk: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start_us = int(START.timestamp() * 1_000_000)
    end_us = start_us + days * DAY_US
    first = start_us + rng.integers(0, days * DAY_US * 3 // 4, units)
    arm = rng.random(units) < 0.5
    arm_names = pa.array(["control", "treatment"])
    unit_ids = _ids("u", np.arange(units))
    log.write("assignments", pa.table({
        "ts": _ts(first), "deployment": pa.repeat(pa.scalar("web"), units),
        "experiment": pa.repeat(pa.scalar("bench"), units), "unit_id": unit_ids,
        "arm": arm_names.take(pa.array(arm.astype(np.int64))),
    }))
    click_share = feedback / exposures
    request = 0
    for offset in range(0, exposures, chunk):
        n = min(chunk, exposures - offset)
        n_req = -(-n // ITEMS)
        req_unit = rng.integers(0, units, n_req)
        pre = rng.random(n_req) < 0.1  # a tenth of the traffic falls in the two pre-experiment days
        req_ts = np.where(pre, start_us - rng.integers(1, 2 * DAY_US, n_req),
                          first[req_unit] + (rng.random(n_req) * (end_us - first[req_unit])).astype(np.int64))
        row_req = np.repeat(np.arange(n_req), ITEMS)[:n]
        unit = req_unit[row_req]
        p = np.where(arm[unit], 1.1, 1.0) * rng.uniform(0.5, 1.5, units)[unit] * 0.1
        score = np.clip(p, 0, 1)
        request_ids = _ids("r", request + row_req)
        item_ids = _ids("p", rng.integers(0, 200_000, n))
        ts = _ts(req_ts[row_req])
        log.write("exposures", pa.table({
            "ts": ts, "deployment": pa.repeat(pa.scalar("web"), n), "request_id": request_ids,
            "unit_id": unit_ids.take(pa.array(unit)), "item_id": item_ids,
            "arm": arm_names.take(pa.array(arm[unit].astype(np.int64))),
            "model_version": pa.repeat(pa.scalar("v1"), n), "score": pa.array(score),
            "served": pa.repeat(pa.scalar(True), n), "position": pa.array(np.tile(np.arange(ITEMS, dtype=np.int32),
                                                                                  n_req)[:n]),
            "latency_ms": pa.repeat(pa.scalar(5.0), n),
        }))
        clicked = np.flatnonzero(rng.random(n) < click_share * p / p.mean())
        m = clicked.size
        log.write("feedback", pa.table({
            "ts": _ts(req_ts[row_req[clicked]] + rng.integers(1_000_000, 300_000_000, m)),
            "deployment": pa.repeat(pa.scalar("web"), m), "request_id": request_ids.take(pa.array(clicked)),
            "unit_id": unit_ids.take(pa.array(unit[clicked])), "item_id": item_ids.take(pa.array(clicked)),
            "event": pa.repeat(pa.scalar("click"), m), "value": pa.repeat(pa.scalar(1.0), m),
        }))
        request += n_req


def _child(root: Path, step: str) -> None:
    log, spec = EventLog(root), ExperimentSpec.from_dict(SPEC)
    started = time.perf_counter()
    if step == "analyze":
        result = analyze(log, spec)
        rows = sum(a.exposures for a in result.arms)
    else:
        validity = check_assignments(log, spec)
        rows = sum(validity.srm.observed)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step": step, "rows": rows, "seconds": seconds, "peak_mib": peak_mib}))


def _rows(log: EventLog, kind: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in log.segments(kind))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    parser.add_argument("--feedback", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--units", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--chunk", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=None, help="keep the log here (default: a temporary folder)")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), args.child[1])
        return
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-experiment-"))
    log = EventLog(root)
    try:
        started = time.perf_counter()
        generate(log, units=args.units, exposures=args.exposures, feedback=args.feedback, days=args.days,
                 chunk=args.chunk, seed=args.seed)
        generated = time.perf_counter() - started
        print(f"log at {root}: {_rows(log, 'assignments'):,} assignments, {_rows(log, 'exposures'):,} exposures, "
              f"{_rows(log, 'feedback'):,} feedback rows, written in {generated:.1f} s")
        print(f"{'step':<20}{'rows':>14}{'seconds':>10}{'peak MiB':>10}")
        for step in ("check_assignments", "analyze"):
            out = subprocess.run([sys.executable, __file__, "--child", str(root), step], check=True,
                                 capture_output=True, text=True).stdout
            found = json.loads(out.strip().splitlines()[-1])
            print(f"{step:<20}{found['rows']:>14,}{found['seconds']:>10.2f}{found['peak_mib']:>10.0f}")
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
