"""DuckDB results to pandas through Arrow, with every time-zone-aware timestamp labelled UTC."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa


def to_frame(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """The rows of ``relation`` as a pandas frame (DuckDB labels instants with its session zone)."""
    table = relation.to_arrow_table()
    fields = [f.with_type(pa.timestamp(f.type.unit, tz="UTC")) if pa.types.is_timestamp(f.type) and f.type.tz
              else f for f in table.schema]
    frame: pd.DataFrame = table.cast(pa.schema(fields)).to_pandas()
    return frame
