"""Interleaving read from the event log: team-draft credit per session, then the preference test.

Interleaved exposures carry ``arm = 'interleaved'`` and a ``team`` column naming the ranker that
contributed each item. A session (``request_id``) is credited to the team whose items got more
distinct clicks; equal counts, and sessions without clicks, are ties. The counts go to
:func:`~loopline.experiments.preference_test` (a sign test on the decided sessions); the result names
each team and the model version it served (the most frequent ``model_version`` on its exposures).
"""

from __future__ import annotations

import duckdb

from loopline._errors import ExperimentError
from loopline.events import EventLog
from loopline.experiments._interleaving import InterleavingResult, preference_test


def analyze_interleaving(log: EventLog, experiment: str | None = None, *, teams: tuple[str, str] | None = None,
                         event: str = "click", alpha: float = 0.05) -> InterleavingResult:
    """The preference between two interleaved rankers; ``teams`` is (A, B), by default the experiment's
    control team first (``control`` when present, else alphabetical)."""
    exposures = f"read_parquet('{log.glob('exposures')}', union_by_name=true, hive_partitioning=false)"
    feedback = f"read_parquet('{log.glob('feedback')}', union_by_name=true, hive_partitioning=false)"
    assignments = f"read_parquet('{log.glob('assignments')}', union_by_name=true, hive_partitioning=false)"
    con: duckdb.DuckDBPyConnection = duckdb.connect()
    try:
        try:
            columns = [c[0] for c in con.execute(f"DESCRIBE SELECT * FROM {exposures}").fetchall()]
        except duckdb.Error as exc:
            raise ExperimentError(f"no exposures in the event log at {log.root}; run the interleaved "
                                  "experiment first.") from exc
        if "team" not in columns:
            raise ExperimentError(f"the exposures at {log.root} have no 'team' column: no interleaved traffic "
                                  "was logged (interleaving logs the ranker of each item as its team).")
        units = ""
        if experiment is not None:
            try:
                found = con.execute(f"SELECT count(*) FROM {assignments} WHERE experiment = $e",
                                    {"e": experiment}).fetchall()[0]
            except duckdb.Error:
                found = (0,)
            if not found or not found[0]:
                raise ExperimentError(f"no assignments of experiment '{experiment}' in {log.root}.")
            units = f" AND unit_id IN (SELECT unit_id FROM {assignments} WHERE experiment = $e)"
        names = [r[0] for r in con.execute(f"SELECT DISTINCT team FROM {exposures} WHERE arm = 'interleaved' "
                                           f"AND team IS NOT NULL{units} ORDER BY team",
                                           {"e": experiment} if units else {}).fetchall()]
        if not names:
            raise ExperimentError(f"no interleaved exposures{f' of {experiment!r}' if experiment else ''} in "
                                  f"{log.root}.")
        a, b = teams or _order(names)
        counts = con.execute(f"""
            WITH ex AS (SELECT request_id, item_id, team FROM {exposures}
                        WHERE arm = 'interleaved' AND served{units}),
                 fb AS (SELECT DISTINCT request_id, item_id FROM {feedback} WHERE event = $event),
                 per AS (SELECT ex.request_id,
                                count(fb.item_id) FILTER (WHERE ex.team = $a) AS clicks_a,
                                count(fb.item_id) FILTER (WHERE ex.team = $b) AS clicks_b
                         FROM ex LEFT JOIN fb ON ex.request_id = fb.request_id AND ex.item_id = fb.item_id
                         GROUP BY ex.request_id)
            SELECT count(*) FILTER (WHERE clicks_a > clicks_b), count(*) FILTER (WHERE clicks_b > clicks_a),
                   count(*) FILTER (WHERE clicks_a = clicks_b), sum(clicks_a + clicks_b)
            FROM per
        """, {"event": event, "a": a, "b": b, **({"e": experiment} if units else {})}).fetchall()[0]
        models = _models(con, exposures, units, (a, b), {"e": experiment} if units else {}) \
            if "model_version" in columns else (None, None)
    finally:
        con.close()
    assert counts is not None
    wins_a, wins_b, ties, clicks = (int(v or 0) for v in counts)
    if not clicks:
        raise ExperimentError(f"no '{event}' feedback matches the interleaved exposures in {log.root}; no session "
                              "can prefer either ranker.")
    return preference_test(["A"] * wins_a + ["B"] * wins_b + ["tie"] * ties, alpha=alpha, teams=(a, b),
                           models=models)


def _models(con: duckdb.DuckDBPyConnection, exposures: str, units: str, teams: tuple[str, str],
            params: dict[str, str | None]) -> tuple[str | None, str | None]:
    """The model version each team served most often (ties: the smallest), None for a team without one."""
    rows = con.execute(f"""SELECT team, model_version FROM {exposures}
        WHERE arm = 'interleaved' AND served AND team IN ($a, $b) AND model_version IS NOT NULL{units}
        GROUP BY team, model_version
        QUALIFY row_number() OVER (PARTITION BY team ORDER BY count(*) DESC, model_version) = 1""",
                       {"a": teams[0], "b": teams[1], **params}).fetchall()
    found = {str(team): str(version) for team, version in rows}
    return found.get(teams[0]), found.get(teams[1])


def _order(names: list[str]) -> tuple[str, str]:
    if len(names) != 2:
        raise ExperimentError(f"interleaving compares two rankers; the log names teams {names}. Pass teams=(A, B).")
    first = "control" if "control" in names else names[0]
    return first, next(n for n in names if n != first)
