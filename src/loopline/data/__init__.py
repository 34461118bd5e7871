"""The data stage: from the spec's sources to three leakage-checked, time-ordered splits.

:func:`prepare` runs it all for a spec and returns :class:`Prepared`; the pieces are public too:

- :func:`load` / :func:`load_table`: CSV and Parquet files or globs, or SQL, through DuckDB.
- :func:`infer_schema` and :func:`validate`: column kinds and the validation report.
- :func:`make_labels`: a label from an event log (an outcome within a window after an exposure).
- :func:`asof_join` / :func:`join_feature_tables`: point-in-time joins that never look ahead.
- :func:`split_by_time`: train, validation and test, disjoint in time.
- leakage checks (:class:`Finding`), negative downsampling with its calibration correction, and
  reservoir sampling for streams.
- :func:`run_query` / :func:`evaluate_expression`: a spec's SQL (``data.sql``, ``baseline.rule``) run
  as untrusted code in a locked-down DuckDB connection; :func:`check_references`: every column the
  spec names exists (with a suggestion) and the rule binds, before any run starts.
- :func:`draft_spec`: a commented ``loopline.yaml`` guessed from a table (``loopline init``).
"""

from __future__ import annotations

from loopline.data._asof import asof_join, join_feature_tables
from loopline.data._draft import draft_spec
from loopline.data._infer import infer_kind, infer_schema
from loopline.data._labels import LabelReport, make_labels
from loopline.data._leakage import Finding, recorded_after_event, single_feature_scores, suspicious
from loopline.data._load import fingerprint, load, load_table
from loopline.data._prepare import Prepared, prepare, select_features
from loopline.data._references import check_references
from loopline.data._sampling import ReservoirSampler, correct_for_downsampling, downsample_negatives
from loopline.data._shift import rates_differ
from loopline.data._split import EntityOverlap, SplitFrames, split_by_time
from loopline.data._sql import (
    check_expression,
    check_select,
    evaluate_expression,
    referenced_columns,
    run_query,
    sandboxed_connection,
)
from loopline.data._types import Column, Kind, Schema, Splits, SplitSummary
from loopline.data._validate import ColumnStats, Issue, ValidationReport, validate

__all__ = [
    "Column",
    "ColumnStats",
    "EntityOverlap",
    "Finding",
    "Issue",
    "Kind",
    "LabelReport",
    "Prepared",
    "ReservoirSampler",
    "Schema",
    "SplitFrames",
    "SplitSummary",
    "Splits",
    "ValidationReport",
    "asof_join",
    "check_expression",
    "check_references",
    "check_select",
    "correct_for_downsampling",
    "downsample_negatives",
    "draft_spec",
    "evaluate_expression",
    "fingerprint",
    "infer_kind",
    "infer_schema",
    "join_feature_tables",
    "load",
    "load_table",
    "make_labels",
    "prepare",
    "rates_differ",
    "recorded_after_event",
    "referenced_columns",
    "run_query",
    "sandboxed_connection",
    "select_features",
    "single_feature_scores",
    "split_by_time",
    "suspicious",
    "validate",
]
