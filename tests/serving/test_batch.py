"""Batch prediction: files, globs and sandboxed SQL scored in chunks into Parquet, validated like requests."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopline import DataError, InputError
from loopline.models import save_model
from loopline.serving._batch import predict_table
from loopline.serving._scorer import Scorer
from tests.models.conftest import Trained, trained  # noqa: F401  (the session fixture)
from tests.models.samples import make_frame


class Recorder:
    """A progress seam that remembers what it was told."""

    def __init__(self) -> None:
        self.started: list[tuple[str, float | None]] = []
        self.advanced: list[float] = []
        self.finished = 0

    def start(self, task: str, total: float | None = None) -> None:
        self.started.append((task, total))

    def advance(self, amount: float = 1.0) -> None:
        self.advanced.append(amount)

    def finish(self) -> None:
        self.finished += 1


def rows(task: str, n: int, seed: int = 7) -> pd.DataFrame:
    frame = make_frame(task, n, seed=seed)
    frame.insert(0, "row_id", [f"r{i}" for i in range(n)])
    return frame


@pytest.fixture
def binary(trained: Callable[[str], Trained]) -> Scorer:  # noqa: F811
    return Scorer.from_model(trained("binary").models["lightgbm"])


def test_parquet_in_chunks_matches_the_model(tmp_path: Path, binary: Scorer) -> None:
    frame = rows("binary", 650)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    progress = Recorder()
    result = predict_table(binary, tmp_path / "in.parquet", tmp_path / "out.parquet", keep=["row_id", "ts"],
                           chunk_rows=100, progress=progress)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == ["row_id", "ts", "score", "decision"] == list(result.columns)
    assert (result.rows, result.chunks) == (650, 7) and out.num_rows == 650
    expected = binary.model.predict(frame)
    assert out.column("row_id").to_pylist() == frame["row_id"].tolist()
    assert out.schema.field("ts").type == pa.timestamp("us", tz="UTC") or pa.types.is_timestamp(
        out.schema.field("ts").type)
    np.testing.assert_allclose(out.column("score").to_numpy(), expected, rtol=0, atol=1e-9)
    assert out.column("decision").to_pylist() == (expected >= binary.threshold).tolist()
    assert progress.started == [("scoring with lightgbm", 650)] and sum(progress.advanced) == 650
    assert progress.finished == 1 and len(pq.ParquetFile(tmp_path / "out.parquet").metadata.to_dict()
                                          ["row_groups"]) == 7


def test_csv_glob_and_multiclass_columns(tmp_path: Path, trained: Callable[[str], Trained]) -> None:  # noqa: F811
    model = trained("multiclass").models["linear"]
    frame = rows("multiclass", 300)
    frame.iloc[:120].to_csv(tmp_path / "part-a.csv", index=False)
    frame.iloc[120:].to_csv(tmp_path / "part-b.csv", index=False)
    result = predict_table(Scorer.from_model(model), str(tmp_path / "part-*.csv"), tmp_path / "out.parquet",
                           keep=["row_id"], chunk_rows=64)
    out = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert list(out.columns) == ["row_id", "score_high", "score_low", "score_mid"] and result.rows == 300
    assert out["row_id"].tolist() == frame["row_id"].tolist()
    np.testing.assert_allclose(out[["score_high", "score_low", "score_mid"]].to_numpy(), model.predict(frame),
                               rtol=0, atol=1e-9)


def test_sql_over_files_runs_in_the_sandbox(tmp_path: Path, binary: Scorer) -> None:
    frame = rows("binary", 400)
    frame.to_parquet(tmp_path / "events.parquet", index=False)
    sql = "sql:SELECT row_id, x1, x2, upper(colour) AS colour, noise FROM events WHERE x1 > 0"
    predict_table(binary, sql, tmp_path / "out.parquet", tables={"events": tmp_path / "events.parquet"},
                  keep=["row_id"], chunk_rows=50)
    out = pq.read_table(tmp_path / "out.parquet").to_pandas()
    chosen = frame[frame["x1"] > 0].assign(colour=lambda f: f["colour"].str.upper())
    assert sorted(out["row_id"]) == sorted(chosen["row_id"])
    expected = pd.Series(binary.model.predict(chosen), index=chosen["row_id"])
    np.testing.assert_allclose(out["score"].to_numpy(), expected[out["row_id"]].to_numpy(), rtol=0, atol=1e-9)
    with pytest.raises(DataError, match=r"--input sql: is refused: .*sandbox"):
        predict_table(binary, "sql:SELECT * FROM read_csv('/etc/passwd')", tmp_path / "bad.parquet",
                      tables={"events": tmp_path / "events.parquet"})
    with pytest.raises(DataError, match="exactly one statement"):
        predict_table(binary, "sql:SELECT 1; SELECT 2", tmp_path / "bad.parquet",
                      tables={"events": tmp_path / "events.parquet"})
    with pytest.raises(DataError, match="streamed once"):
        predict_table(binary, "sql:SELECT a.* FROM events a JOIN events b USING (row_id)", tmp_path / "bad.parquet",
                      tables={"events": tmp_path / "events.parquet"})
    assert not (tmp_path / "bad.parquet").exists()


def test_a_bad_value_names_column_and_row_and_writes_nothing(tmp_path: Path, binary: Scorer) -> None:
    frame = rows("binary", 300).astype({"x1": object})
    frame.loc[250, "x1"] = "abc"
    frame.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "out.parquet").write_bytes(b"previous")
    with pytest.raises(InputError, match="feature 'x1' is numeric but row 250 holds 'abc'") as caught:
        predict_table(binary, tmp_path / "in.csv", tmp_path / "out.parquet", chunk_rows=100)
    assert caught.value.field == "x1"
    assert (tmp_path / "out.parquet").read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_inputs_and_options_are_checked(tmp_path: Path, binary: Scorer) -> None:
    rows("binary", 20).drop(columns=["noise"]).to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(InputError, match=r"lacks the feature column\(s\) \['noise'\]"):
        predict_table(binary, tmp_path / "in.parquet", tmp_path / "out.parquet")
    with pytest.raises(InputError, match=r"--keep names column\(s\) \['id'\]"):
        predict_table(binary, tmp_path / "in.parquet", tmp_path / "out.parquet", keep=["id"])
    with pytest.raises(DataError, match=r"--keep \['score'\]"):
        predict_table(binary, tmp_path / "in.parquet", tmp_path / "out.parquet", keep=["score"])
    with pytest.raises(DataError, match="no file matches this glob"):
        predict_table(binary, str(tmp_path / "nothing-*.parquet"), tmp_path / "out.parquet")
    with pytest.raises(DataError, match="needs the tables it reads"):
        predict_table(binary, "sql:SELECT 1 AS x", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def _peaks(scorer: Scorer, source: Path, output: Path) -> tuple[int, int]:
    """Peak bytes traced by tracemalloc (Python objects and numpy arrays) and the number of chunks."""
    tracemalloc.start()
    try:
        result = predict_table(scorer, source, output, keep=["row_id"], chunk_rows=2_000)
        return tracemalloc.get_traced_memory()[1], result.chunks
    finally:
        tracemalloc.stop()


def test_traced_memory_stays_flat_as_the_input_grows(tmp_path: Path,
                                                     trained: Callable[[str], Trained]) -> None:  # noqa: F811
    scorer = Scorer.from_model(trained("binary").models["linear"])
    rows("binary", 10_000).to_parquet(tmp_path / "small.parquet", index=False)
    rows("binary", 160_000, seed=8).to_parquet(tmp_path / "large.parquet", index=False, row_group_size=10_000)
    small, chunks_small = _peaks(scorer, tmp_path / "small.parquet", tmp_path / "a.parquet")
    large, chunks_large = _peaks(scorer, tmp_path / "large.parquet", tmp_path / "b.parquet")
    assert chunks_small == 5 and chunks_large == 80
    assert large < 1.5 * small, (small, large)  # holding the 160k scores alone would take 1.28 MB
    assert pq.read_metadata(tmp_path / "b.parquet").num_rows == 160_000


PEAK_RSS = """
import resource, sys
from loopline.models import load_model
from loopline.serving._batch import predict_table
from loopline.serving._scorer import Scorer
scorer = Scorer.from_model(load_model(sys.argv[1], sha256=sys.argv[2]))
predict_table(scorer, sys.argv[3], sys.argv[4], keep=["row_id"], chunk_rows=20_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_peak_memory_of_the_process_does_not_grow_with_the_input(tmp_path: Path,
                                                                 trained: Callable[[str], Trained]) -> None:  # noqa: F811
    """In a fresh process, scoring 1.2 million rows peaks within 25 MB of scoring 300 thousand: the input is
    streamed (holding the extra 900 thousand rows in Arrow alone would take about 65 MB). Small row groups
    keep DuckDB's fixed read-ahead buffer well below the smaller input."""
    sha = save_model(trained("binary").models["linear"], tmp_path / "model")
    frame = pa.Table.from_pandas(rows("binary", 60_000), preserve_index=False)
    peaks = {}
    for n in (300_000, 1_200_000):
        pq.write_table(pa.concat_tables([frame] * (n // 60_000)), tmp_path / f"in-{n}.parquet", row_group_size=5_000)
        found = subprocess.run([sys.executable, "-c", PEAK_RSS, str(tmp_path / "model"), sha,
                                str(tmp_path / f"in-{n}.parquet"), str(tmp_path / f"out-{n}.parquet")],
                               capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        peaks[n] = int(found.stdout.split()[-1]) * 1024
        assert pq.read_metadata(tmp_path / f"out-{n}.parquet").num_rows == n
    assert peaks[1_200_000] - peaks[300_000] < 25 * 2**20, peaks
