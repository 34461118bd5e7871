"""``prepare``: everything the data stage does for one spec, in order, ending in three splits.

load -> (label from events) -> (point-in-time feature tables) -> parse event time -> rows without a
label (refused, or dropped with ``label.drop_missing``) -> normalise the label -> infer the schema ->
validate -> choose features -> (cap rows) -> split by time -> leakage checks -> (downsample train
negatives) -> coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from loopline._errors import DataError
from loopline._progress import SILENT, Progress
from loopline.data._asof import join_feature_tables
from loopline.data._columns import normalize_label, require_columns, to_utc, whole_numbers
from loopline.data._infer import infer_schema
from loopline.data._labels import LabelReport, make_labels
from loopline.data._leakage import (
    Finding,
    period_aggregates,
    recorded_after_event,
    shared_entities,
    single_feature_scores,
    suspicious,
    with_power,
)
from loopline.data._leakage import reviewed as leak_review
from loopline.data._load import fingerprint, load, load_table
from loopline.data._ranking_checks import check_group_ids, check_queries_within_splits, check_relevance
from loopline.data._references import check_references
from loopline.data._sampling import downsample_negatives
from loopline.data._shift import split_rates
from loopline.data._split import NAMES, split_by_time, summarize
from loopline.data._types import Schema, Splits
from loopline.data._validate import ValidationReport, validate
from loopline.spec import ProblemSpec

COVERAGE_DROP = 0.2


@dataclass(frozen=True, eq=False)
class Prepared:
    """The data stage's output: the splits and everything learned on the way."""

    splits: Splits
    schema: Schema
    validation: ValidationReport
    findings: list[Finding]
    coverage: dict[str, dict[str, float]]
    data_fingerprint: str
    source_rows: int
    label_report: LabelReport | None = None
    feature_scores: dict[str, float] = field(default_factory=dict)


def prepare(spec: ProblemSpec, *, since: datetime | None = None, until: datetime | None = None,
            progress: Progress = SILENT) -> Prepared:
    """Load, label, validate and split the spec's data; raise :class:`DataError` on unusable input.

    ``since`` and ``until`` (timezone-aware) keep only the rows whose event time is in ``[since, until)``, as the
    continual-learning loop does for a sliding window, and a backtest for a past day. With ``until`` the data is
    what was known at that instant: feedback recorded at or after it is ignored, so a label whose window has not
    closed by ``until`` is censored rather than read from the future.
    """
    for name, value in (("since", since), ("until", until)):
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise DataError(f"{name}={value.isoformat()} has no time zone; event times are UTC instants. Pass e.g. "
                            "datetime(2026, 1, 1, tzinfo=timezone.utc).")
    if since is not None and until is not None and since >= until:
        raise DataError(f"since ({since.isoformat()}) must come before until ({until.isoformat()}).")
    progress.start("preparing data", total=4)
    con = duckdb.connect()
    where = f"the data of {spec.source_name}"
    frame = load(spec, connection=con)
    if since is not None or until is not None:
        frame = _within(frame, spec.event_time, since, until, where=where)
    frame, shadowed = _served_only(frame)
    source_rows = len(frame)
    label = spec.label.target
    label_report = None
    if spec.label.from_events is not None:
        events = spec.label.from_events
        feedback = load_table(spec.resolve(events.feedback), what="label.from_events.feedback", connection=con)
        if until is not None:
            require_columns(feedback, [events.feedback_time], where=f"the feedback log {events.feedback}",
                            role="label.from_events")
            times = to_utc(feedback[events.feedback_time], column=events.feedback_time,
                           where=f"the feedback log {events.feedback}")
            feedback = feedback[(times < pd.Timestamp(until)).to_numpy()].reset_index(drop=True)
        # Feedback is known strictly before ``until``, so a label window is closed only if it ends before it too.
        horizon = None if until is None else until - timedelta(microseconds=1)
        frame, label_report = make_labels(frame, feedback, event_time=spec.event_time, spec=events, name=label,
                                          connection=con, horizon=horizon)
        if frame.empty:
            raise DataError(f"no exposure in {where} is older than the label window "
                            f"({events.window}); there is no row whose label is known yet.")
    require_columns(frame, [spec.event_time], where=where, role="event_time")
    require_columns(frame, [label], where=where, role="label")
    require_columns(frame, [spec.entity, spec.unit, spec.group], where=where, role="id")
    frame[spec.event_time] = to_utc(frame[spec.event_time], column=spec.event_time, where=where)
    if spec.feature_tables:
        tables = [(t, load_table(spec.resolve(t.source), what=f"feature_tables.{t.name}", connection=con))
                  for t in spec.feature_tables]
        frame = join_feature_tables(frame, tables, event_time=spec.event_time)
    check_references(spec, frame)  # every name the spec uses, before any run starts
    progress.advance()

    labelled, unlabelled = _labelled(frame, label, drop_missing=spec.label.drop_missing, where=where)
    labelled[label] = normalize_label(labelled[label], spec.task, column=label, where=where,
                                      positive=spec.label.positive)
    # a feature table's key listed in features.include is a category (an airport code, not a magnitude) unless typed
    schema = infer_schema(labelled, types={**dict.fromkeys(included_keys(spec), "categorical"), **spec.features.types})
    ids = tuple(c for c in (spec.entity, spec.unit, spec.group) if c)
    if spec.task == "ranking" and spec.group is not None:
        check_group_ids(labelled, spec.group, where=where)
    report = validate(labelled, schema, event_time=spec.event_time, label=label, ids=ids)
    if spec.task == "ranking":
        check_relevance(labelled, label, report)
    if shadowed:
        report.add("info", "shadow", "served", f"{shadowed} rows with served = false were dropped: they are a shadow "
                   "model's scores of candidates the user never saw, not exposures.")
    if unlabelled:
        report.add("info", "unlabelled", label, f"{unlabelled:,} of {len(frame):,} rows have no label '{label}' and "
                   "were dropped (label.drop_missing).")
    if label_report is not None and label_report.censored:
        report.add("info", "censored", label, f"{label_report.censored} exposures newer than the label window "
                   "were dropped: their outcome is not known yet.")
    features = select_features(spec, schema, report)
    if spec.sampling.max_rows is not None and len(labelled) > spec.sampling.max_rows:
        labelled = labelled.sample(spec.sampling.max_rows, random_state=spec.seed).sort_index().reset_index(drop=True)
        report.add("info", "sampled", None, f"a uniform sample of {spec.sampling.max_rows} rows is used "
                   "(sampling.max_rows).")
    progress.advance()

    parts = split_by_time(labelled, spec.split, time=spec.event_time, entity=spec.entity, timezone=spec.timezone)
    if spec.task == "ranking" and spec.group is not None:
        check_queries_within_splits({"train": parts.train, "valid": parts.valid, "test": parts.test}, spec.group,
                                    spec.event_time, report)
    binary = spec.task == "binary"
    findings = [*recorded_after_event(labelled, features, schema, event_time=spec.event_time)]
    scores = single_feature_scores(parts.train, parts.valid, features, schema, label,
                                   binary=binary or _binary_relevance(parts.train[label]), seed=spec.seed)
    ranked_binary = binary or _binary_relevance(parts.train[label])
    findings = with_power(findings, scores, binary=ranked_binary) + suspicious(scores, binary=ranked_binary)
    findings += with_power(period_aggregates(parts.train, features, schema, label, event_time=spec.event_time,
                                             ids=ids, seed=spec.seed), scores, binary=ranked_binary)
    findings = leak_review(findings, spec.features.reviewed)
    if spec.entity is not None and parts.overlap is not None:
        findings += shared_entities(parts.overlap, entity=spec.entity, grouped=spec.split.group_by_entity)
    if binary:
        findings += split_rates({name: (float(part[label].sum()), float(len(part)))
                                 for name, part in zip(NAMES, (parts.train, parts.valid, parts.test), strict=True)})
    progress.advance()

    train = parts.train
    if spec.sampling.negative_rate is not None:
        if not binary:
            raise DataError("sampling.negative_rate needs task 'binary' (it keeps every positive and a share of "
                            "the negatives); remove it for this task.")
        train = downsample_negatives(train, label, spec.sampling.negative_rate, seed=spec.seed)
    frames = {"train": train, "valid": parts.valid, "test": parts.test}
    summaries = tuple(summarize(n, frames[n], time=spec.event_time, label=label, binary=binary, entity=spec.entity,
                                group=spec.group if spec.task == "ranking" else None, timezone=spec.timezone)
                      for n in NAMES)
    coverage = {n: {f: float(frames[n][f].notna().mean()) for f in features} for n in NAMES}
    findings += _coverage_drops(coverage)
    splits = Splits(train=train, valid=parts.valid, test=parts.test, label=label, time=spec.event_time,
                    features=features, schema=schema, group=spec.group, entity=spec.entity,
                    negative_rate=spec.sampling.negative_rate, summaries=summaries)
    progress.advance()
    progress.finish()
    return Prepared(splits=splits, schema=schema, validation=report, findings=findings, coverage=coverage,
                    data_fingerprint=fingerprint(labelled), source_rows=source_rows, label_report=label_report,
                    feature_scores=scores)


def _labelled(frame: pd.DataFrame, label: str, *, drop_missing: bool, where: str) -> tuple[pd.DataFrame, int]:
    """The rows of ``frame`` that have a label, and how many did not; a DataError when none has one, or when some
    have none and ``drop_missing`` is false.

    Missing values turn a column of integers into floats; once they are dropped, whole-number labels are integers
    again, so ``0``/``1`` stay ``0``/``1`` (and ``label.positive: 1`` finds them).
    """
    present = frame[label].notna().to_numpy()
    missing = int((~present).sum())
    if not present.any():
        raise DataError(f"label '{label}' is missing in every row of {where} ({len(frame):,} rows). Check that "
                        "label.column names the outcome column and that the data holds its values.")
    if not missing:
        return frame.reset_index(drop=True), 0
    if not drop_missing:
        raise DataError(
            f"label '{label}' is missing in {missing:,} of {len(frame):,} rows of {where}. Set "
            f"label.drop_missing: true to train on the {len(frame) - missing:,} labelled rows (the validation report "
            "counts the rows dropped), or fill in the missing labels in the data. Such rows are never dropped "
            "unasked: a missing label is often an outcome not known yet, and dropping them moves the split.")
    labelled = frame[present].reset_index(drop=True)
    labelled[label] = whole_numbers(labelled[label])
    return labelled, missing


def _served_only(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """An event log's exposures without its shadow rows (``served`` false), and how many there were.

    The server (and the simulator) log a shadow model's scores beside the served ranking with ``served = false``:
    the same request and item ids, but nobody saw those items in that position, so their "labels" would be
    copies of the served rows' outcomes or never-shown zeros. A ``served`` column that is not boolean is left alone.
    """
    column = frame.get("served")
    if column is None:
        return frame, 0
    present = column.dropna()
    boolean = pd.api.types.is_bool_dtype(column.dtype) or (
        column.dtype == object and len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present))
    if not boolean or present.all():
        return frame, 0
    keep = column.fillna(True).to_numpy(dtype=bool)
    return frame[keep].reset_index(drop=True), int((~keep).sum())


def _within(frame: pd.DataFrame, column: str, since: datetime | None, until: datetime | None, *,
            where: str) -> pd.DataFrame:
    """The rows of ``frame`` whose ``column`` lies in ``[since, until)``; a DataError when none does."""
    require_columns(frame, [column], where=where, role="event_time")
    times = to_utc(frame[column], column=column, where=where)
    keep = pd.Series(True, index=frame.index)
    if since is not None:
        keep &= times >= pd.Timestamp(since)
    if until is not None:
        keep &= times < pd.Timestamp(until)
    if not keep.any() and len(frame):
        span = f"[{since.isoformat() if since else '...'}, {until.isoformat() if until else '...'})"
        raise DataError(f"no row of {where} has its {column} in {span}; its times run from {times.min()} to "
                        f"{times.max()}. Choose a window inside them.")
    return frame[keep.to_numpy()].reset_index(drop=True)


def select_features(spec: ProblemSpec, schema: Schema, report: ValidationReport) -> tuple[str, ...]:
    """The columns models may use: never the label, event time, ids, ``known_after`` or excluded columns; a feature
    table's key only when ``features.include`` lists it."""
    fs = spec.features
    reserved = {spec.label.target, spec.event_time, spec.entity, spec.unit, spec.group}
    for table in spec.feature_tables:
        reserved.update(table.keys)
        reserved.add(table.time)
    if fs.include is not None:
        absent = [c for c in fs.include if c not in schema]
        if absent:
            raise DataError(f"features.include names {absent}, which are not in the data; the columns are "
                            f"{list(schema.names())}.")
        chosen = [c for c in fs.include if c not in set(fs.known_after)]
        reserved -= set(included_keys(spec))  # a key asked for by name is a feature; unasked, it stays an id
        for name in [c for c in chosen if c in reserved]:
            report.add("info", "not_a_feature", name, f"features.include lists '{name}', which is the label, the "
                       "event time, an id (entity, unit, group) or a feature table's time: it is never a feature.")
    else:
        dropped = {*report.flagged("constant"), *report.flagged("duplicate_column"), *report.flagged("id_like")}
        chosen = [c for c in schema.names() if c not in reserved and c not in dropped and c not in set(fs.exclude)
                  and c not in set(fs.known_after)]
    for name in fs.known_after:
        if name in schema:
            report.add("info", "known_after", name, f"column '{name}' is known only after the event "
                       "(features.known_after) and is never a feature.")
    chosen = [c for c in chosen if c not in reserved]
    for name in fs.fixed_at_serving:
        if name not in schema:
            raise DataError(f"features.fixed_at_serving names '{name}', which is not in the data; the columns are "
                            f"{list(schema.names())}.")
        if name in reserved:
            raise DataError(f"features.fixed_at_serving names '{name}', the label, event time or an id; it cannot be "
                            "a feature.")
        if name not in chosen:  # a training-only signal stays a feature even where inference would drop it
            chosen.append(name)
    if not chosen:
        raise DataError(f"no feature columns are left in the data of {spec.source_name}: every column is the label, "
                        "the event time, an id, excluded or unusable. Add columns or loosen features.exclude.")
    return tuple(chosen)


def included_keys(spec: ProblemSpec) -> list[str]:
    """Feature-table keys that ``features.include`` lists and that are not the label, event time or an id: these
    are features (categorical unless ``features.types`` says otherwise); a key not listed stays out, as an id."""
    ids = {spec.label.target, spec.event_time, spec.entity, spec.unit, spec.group}
    keys = {k for table in spec.feature_tables for k in table.keys}
    return [c for c in spec.features.include or [] if c in keys and c not in ids]


def _binary_relevance(values: pd.Series) -> bool:
    return set(pd.unique(values)) <= {0, 1}


def _coverage_drops(coverage: dict[str, dict[str, float]]) -> list[Finding]:
    findings = []
    for name, share in coverage["train"].items():
        test = coverage["test"].get(name, share)
        if share - test >= COVERAGE_DROP:
            findings.append(Finding("coverage", name, f"feature '{name}' is present in {share:.0%} of train rows "
                                    f"but only {test:.0%} of test rows; check its source for a recent break.",
                                    share - test))
    return findings

