"""Per-arm aggregates for the analysis, computed in DuckDB over a :class:`Session`'s tables.

- ``daily_moments``: per arm and UTC day, the change of the per-unit moment sums (``x, x^2, y, y^2,
  xy`` and units with ``x > 0``) of each unit's cumulative numerator ``x`` and denominator ``y``, so
  the cumulative look at day ``d`` is the running sum over days (window functions over unit-days);
- ``age_moments``: the same for the activity in each day of age (days since a unit's first
  exposure), over units observed through that whole day of age;
- ``calibration_sums`` and ``model_versions``: per arm, for the calibration and offline-online checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from loopline.experiments._definition import EXPOSURES, MetricSpec
from loopline.experiments._frames import Session


def increments(metric: MetricSpec, *, age: bool) -> str:
    """SQL of (uidx, key, dx, dy): numerator and denominator increments keyed by UTC day or by age in days."""
    join = " JOIN unit_expo f USING (uidx)" if age else ""
    key_f = "(m.ft - f.first) // 86400000000" if age else "m.ft // 86400000000"
    key_e = "(e.t - f.first) // 86400000000" if age else "e.t // 86400000000"
    dx = "m.value" if metric.value == "sum" else "1.0"
    parts = [f"SELECT uidx, {key_f} AS key, {dx} AS dx, 0.0 AS dy FROM matched m{join} "
             "WHERE NOT m.pre AND m.event = $num"]
    if metric.denominator == EXPOSURES:
        parts.append(f"SELECT uidx, {key_e}, 0.0, 1.0 FROM expo e{join} WHERE NOT e.pre")
    elif metric.denominator is not None:
        parts.append(f"SELECT uidx, {key_f}, 0.0, 1.0 FROM matched m{join} WHERE NOT m.pre AND m.event = $den")
    return " UNION ALL ".join(parts)


def _metric_params(metric: MetricSpec) -> dict[str, Any]:
    params: dict[str, Any] = {"num": metric.event}
    if metric.denominator not in (None, EXPOSURES):
        params["den"] = metric.denominator
    return params


_MOMENTS = ("sum(x - px) AS sx, sum(x * x - px * px) AS sxx, sum(y - py) AS sy, sum(y * y - py * py) AS syy, "
            "sum(x * y - px * py) AS sxy, sum((x > 0)::INTEGER - (px > 0)::INTEGER) AS converted")


def daily_moments(session: Session, metric: MetricSpec) -> pd.DataFrame:
    """Per arm and UTC day (days since epoch): the change of the per-unit moment sums of cumulative values."""
    sql = f"""WITH inc AS ({increments(metric, age=False)}),
        g AS (SELECT uidx, key, sum(dx) AS dx, sum(dy) AS dy FROM inc GROUP BY uidx, key),
        c AS (SELECT uidx, key, sum(dx) OVER w AS x, sum(dy) OVER w AS y FROM g
              WINDOW w AS (PARTITION BY uidx ORDER BY key ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
        l AS (SELECT uidx, key, x, y, coalesce(lag(x) OVER w, 0) AS px, coalesce(lag(y) OVER w, 0) AS py FROM c
              WINDOW w AS (PARTITION BY uidx ORDER BY key))
        SELECT u.arm, l.key AS day, {_MOMENTS} FROM l JOIN units u USING (uidx) GROUP BY ALL ORDER BY 1, 2"""
    return _frame(session.table(sql, **_metric_params(metric)))


def age_moments(session: Session, metric: MetricSpec) -> pd.DataFrame:
    """Per arm and day of age (days since the unit's first exposure, fully observed before ``end``)."""
    sql = f"""WITH inc AS ({increments(metric, age=True)}),
        l AS (SELECT uidx, key, sum(dx) AS x, sum(dy) AS y, 0.0 AS px, 0.0 AS py FROM inc GROUP BY uidx, key)
        SELECT u.arm, l.key AS age, {_MOMENTS} FROM l JOIN units u USING (uidx) JOIN unit_expo f USING (uidx)
        WHERE f.first + (l.key + 1) * 86400000000 <= $end GROUP BY ALL ORDER BY 1, 2"""
    return _frame(session.table(sql, end=session.end_us, **_metric_params(metric)))


def calibration_sums(session: Session, event: str) -> pd.DataFrame:
    """Per arm: sum and count of scores of window exposures, their range, and exposures with ``event``."""
    scores = session.table("""SELECT u.arm, sum(e.score) AS predicted, count(e.score) AS scored,
        min(e.score) AS min_score, max(e.score) AS max_score FROM expo e JOIN units u USING (uidx)
        WHERE NOT e.pre GROUP BY u.arm""")
    outcomes = session.table("""SELECT u.arm, count(*) AS outcomes FROM (SELECT DISTINCT uidx, request_id, item_id, et
        FROM matched WHERE NOT pre AND event = $event AND score IS NOT NULL) m JOIN units u USING (uidx)
        GROUP BY u.arm""", event=event)
    merged = _frame(scores).merge(_frame(outcomes), on="arm", how="left")
    merged["outcomes"] = merged["outcomes"].fillna(0).astype(np.int64)
    return merged


def model_versions(session: Session) -> pd.DataFrame:
    """Served exposures in the window per arm and model version (a second pass over the exposures)."""
    unit = session._unit_column("exposures")
    dep = " AND e.deployment = $dep" if session.spec.deployment is not None else ""
    params: dict[str, Any] = {"start": session.start_us, "end": session.end_us}
    if session.spec.deployment is not None:
        params["dep"] = session.spec.deployment
    return _frame(session.table(f"""SELECT u.arm, e.model_version, count(*) AS exposures FROM exposures e
        JOIN units u ON e.{unit} = u.unit WHERE e.served AND epoch_us(e.ts) >= $start AND epoch_us(e.ts) < $end
        AND epoch_us(e.ts) >= u.assigned{dep} GROUP BY ALL ORDER BY 1, 3 DESC""", **params))


def _frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    return frame
