"""Checks of a ranking table at ``validate`` time: query ids, relevance grades, queries cut by the time split.

- A row without a query id cannot be ranked against anything: refused, with the count and the fix.
- Relevance is a grade (0, 1, 2, ...): NDCG's gain ``2**rel - 1`` and LightGBM's lambdarank read it so, and
  lambdarank only takes whole grades (fractional ones are binned into levels for it). A fractional relevance
  such as 0.5 is flagged (a warning): round it to the grades it stands for.
- A query whose rows fall in two splits (the time split cut it, because its items carry different times) is
  evaluated as two partial queries, and part of it is trained on: flagged with the count and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from loopline._errors import DataError
from loopline.data._validate import ValidationReport

EXAMPLES = 3


def check_group_ids(frame: pd.DataFrame, group: str, *, where: str) -> None:
    """Refuse rows whose query id is null."""
    missing = int(frame[group].isna().sum())
    if missing:
        raise DataError(f"group '{group}' is null in {missing:,} of {len(frame):,} rows of {where}; every ranked row "
                        f"needs its query id: drop those rows (e.g. data.sql with WHERE {group} IS NOT NULL) or fill "
                        "the query id")


def check_relevance(frame: pd.DataFrame, label: str, report: ValidationReport) -> None:
    """Flag fractional relevance labels (a warning in ``report``)."""
    values = pd.to_numeric(frame[label], errors="coerce").to_numpy(dtype=np.float64)
    fractional = np.isfinite(values) & (values != np.round(values))
    count = int(fractional.sum())
    if not count:
        return
    shown = ", ".join(f"{v:g}" for v in sorted(set(values[fractional].tolist()))[:EXAMPLES])
    report.add("warning", "fractional_relevance", label,
               f"label '{label}' has fractional relevance in {count:,} rows (e.g. {shown}); ranking reads relevance "
               "as grades 0, 1, 2, ... (NDCG's gain is 2^rel - 1 and LightGBM's lambdarank bins other values into "
               f"levels). Round '{label}' to the grades it stands for, e.g. with data.sql: ROUND({label}).")


def check_queries_within_splits(parts: Mapping[str, pd.DataFrame], group: str, event_time: str,
                                report: ValidationReport) -> None:
    """Flag queries whose rows fall in more than one split (a warning in ``report``)."""
    seen = [pd.Series(name, index=pd.unique(part[group].dropna())) for name, part in parts.items() if len(part)]
    if not seen:
        return
    splits_of = pd.concat(seen).groupby(level=0).nunique()
    cut = splits_of[splits_of > 1]
    if cut.empty:
        return
    rows = sum(int(part[group].isin(cut.index).sum()) for part in parts.values())
    shown = ", ".join(sorted(map(str, cut.index))[:EXAMPLES])
    report.add("warning", "query_straddles_splits", group,
               f"{len(cut):,} queries of group '{group}' ({rows:,} rows, e.g. {shown}) have rows in more than one "
               f"split: the time split cut them because their rows carry different '{event_time}' times, so each "
               "part is ranked as a query of its own and part of it is trained on. Give every row of a query the "
               f"query's time (the request time) as '{event_time}'.")
