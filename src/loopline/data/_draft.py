"""``loopline init --data FILE``: a complete, commented ``loopline.yaml`` guessed from a table.

The draft names every setting of the spec, so a user reads in one file what can be said and what each
default is. The guesses are written as settings, each with a comment saying so:

- the event time is the timestamp column whose name sounds like one (``ts``, ``*_at``, ``*time*``,
  ``*date*``), else the first timestamp column;
- the entity is an ``id``-named column with many distinct values;
- the label is a column named like one (``label``, ``target``, ``y``, ``churned``, ``clicked``,
  ``converted``, ...), else the last two-valued column; the task follows from its values;
- when the label is missing in some rows, ``label.drop_missing: true`` drops them (the comment says how many),
  since the data stage refuses such rows unasked.

Every other setting is commented out with its default (taken from :class:`~loopline.spec.ProblemSpec`
itself, so the two cannot disagree) and a short note; removing the ``#`` of such a line changes nothing
until its value is edited. The data path is written relative to the spec's folder, as the spec reads it.

Once the guesses name an event time and a label, the data stage runs on them exactly as ``loopline
validate`` would (:func:`~loopline.data.prepare`), and what its checks flag is pre-excluded, each with a
comment saying why: identifier-like columns (the ``id_like`` check of :mod:`loopline.data._validate`) go
to ``features.exclude``; columns suspected of leaking (recorded after the event, or predicting the label
alone too well: :mod:`loopline.data._leakage`) go to ``features.known_after``, as those checks advise.
An excerpt of a draft::

    label:                                  # the target: a column, or built from events
      column: churned                       # guessed: the column to predict
      # from_events: null                   # instead of column: {feedback: events/*.parquet, ...}
    features:                               # which columns become features
      exclude:                              # never features
        - ref_code                          # id-like: a distinct value in 100% of rows
      known_after:                          # recorded after the event: never features
        - refund_amount                     # possible leak: alone it reaches validation ROC AUC 1.000 ...
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel

from loopline._errors import LooplineError
from loopline.data._infer import infer_schema
from loopline.data._load import load_table
from loopline.data._prepare import _binary_relevance, prepare
from loopline.data._types import Kind, Schema
from loopline.spec import DEFAULT_PRIMARY, METRICS, ProblemSpec

_LABEL_NAMES = re.compile(r"^(label|target|y|outcome|class|churn(ed)?|click(ed)?|convert(ed)?|fraud|is_spam|spam|"
                          r"default(ed)?|purchased?|engaged?)$", re.IGNORECASE)
_TIME_NAMES = re.compile(r"(^ts$|_at$|time|date)", re.IGNORECASE)
_ID_NAMES = re.compile(r"(^id$|_id$|^id_)", re.IGNORECASE)
PLACEHOLDER = "CHANGE-ME"
"""The value written where no column could be guessed."""
_COMMENT_AT = 40
"""The column where a setting's note starts (a longer line gets two spaces before it)."""

_NOTES: dict[str, str] = {
    "name": "also the registered model's name",
    "task": "binary | multiclass | regression | ranking",
    "description": "what the model is for: the model card's intended use",
    "data": "the training table",
    "data.source": "CSV or Parquet, a path or glob (relative to this file's folder), or a list of them",
    "data.sql": "instead of source: one DuckDB SELECT over the names in tables",
    "data.tables": "the inputs of sql, e.g. {orders: orders.parquet}",
    "event_time": "when each row's features were known; the split is by this time",
    "entity": "who or what each row is about, e.g. customer_id",
    "unit": "the randomization unit of experiments (default: the entity)",
    "group": "the query or request id; task ranking ranks within it",
    "label": "the target: a column, or built from events",
    "label.column": "the column to predict",
    "label.from_events": "instead of column: {feedback: events/*.parquet, event: click, window: 30m}",
    "label.name": "the built label's column name (with from_events)",
    "label.positive": "the positive class, when the label is not 0/1, true/false or yes/no",
    "label.drop_missing": "true: drop rows without a label (the validation report counts them)",
    "features": "which columns become features",
    "features.include": "only these columns (default: every column not excluded)",
    "features.exclude": "never features",
    "features.types": "override inferred kinds, e.g. {plan: categorical}",
    "features.known_after": "recorded after the event: never features",
    "features.high_cardinality": "linear models: more values than this: target or hash encoding instead of one-hot",
    "features.native_max_levels": "LightGBM: native categories up to this many values (and 20 rows per value); "
                                  "more: target or hash",
    "features.high_cardinality_encoding": "target (out-of-fold) | hash",
    "features.hash_buckets": "buckets of the hash encoding",
    "features.fixed_at_serving": "trained on as logged, held at a value in every prediction, e.g. {position: 0}",
    "features.reviewed": "leak warnings checked and accepted: reported, no longer blocking --promote",
    "feature_tables": "joined point-in-time, e.g. {name: usage, source: usage.parquet, key: customer_id, "
                      "time: computed_at, max_age: 7d} per table",
    "split": "train, validation and test, in event-time order",
    "split.by": "the only split: by event time",
    "split.fractions": "shares of the time-ordered rows",
    "split.valid_start": "or cut dates: validation from this date ...",
    "split.test_start": "... and test from this one",
    "split.group_by_entity": "true: judge each entity on its first appearance (needs entity)",
    "split.gap": "drop rows this long after each cut, e.g. the label window",
    "metrics": "how models are compared",
    "metrics.k": "the cut-off of the @k metrics; ranking may list several, e.g. [10, 5, 1] (the first decides)",
    "metrics.other_k": "the cut-offs after the first (written as k: [10, 5, 1]; each adds ndcg@<k>)",
    "metrics.gain": "ranking: NDCG's gain, exponential (2^rel - 1, as lambdarank) or linear (rel)",
    "metrics.relevant_at": "ranking: relevance from which map and mrr count an item (default: the top grade present)",
    "decision": "the decision threshold (binary)",
    "decision.false_positive_cost": "the threshold minimises the expected cost ...",
    "decision.false_negative_cost": "... of both kinds of error",
    "decision.recall_floor": "or: the highest threshold with at least this recall",
    "decision.precision_floor": "or: the lowest threshold with at least this precision",
    "slices": "columns to report metrics by, e.g. [plan, country]",
    "sensitive": "columns to check fairness by; kept out of stored samples",
    "baseline": "a heuristic every model must beat",
    "baseline.rule": "a SQL expression over columns; larger means more likely positive",
    "models": "what is trained",
    "models.candidates": "linear | lightgbm",
    "models.calibration": "auto | isotonic | platt | none",
    "models.early_stopping_rounds": "LightGBM stops after this many rounds without improvement",
    "models.lightgbm": "LightGBM parameters, e.g. {num_leaves: 63}",
    "models.tune": "search LightGBM's parameters (untuned first, cheap subsamples first): {budget: 5m}, or "
                   "{trials: 50} to repeat exactly, or both (needs loopline[tune])",
    "sampling": "of the training rows",
    "sampling.negative_rate": "keep this share of negatives (binary); calibration corrects for it",
    "sampling.max_rows": "a uniform sample of at most this many rows",
    "serving": "online serving (loopline serve)",
    "serving.latency_budget_ms": "past it /v1/rank serves the first stage's order",
    "serving.candidates": "most items in one /v1/rank request",
    "serving.first_stage": "a cheap model cutting candidates to first_stage_k, e.g. {model: NAME, version: champion}",
    "serving.first_stage_k": "candidates the first stage keeps",
    "serving.log_top": "ranked items logged per request",
    "monitoring": "loopline monitor: drift and alerts (outside the spec hash)",
    "monitoring.window": "the default window",
    "monitoring.drift": "a feature drifts when its test is significant and its effect large enough",
    "monitoring.drift.alpha": "the test's significance level",
    "monitoring.drift.min_effect": "least effect: Wasserstein over the sd, or Jensen-Shannon",
    "monitoring.drift.min_new_share": "or this share of categories unseen in training",
    "monitoring.drift.min_rows": "fewer values are too few to judge",
    "monitoring.drift.dataset_share": "the dataset drifts when this share of features does",
    "monitoring.alerts": "rules, e.g. {metric: drift.share, op: \">=\", threshold: 0.5} each",
    "monitoring.cooldown": "a rule fires again for a version only after this",
    "monitoring.webhook": "alerts are POSTed here: an http(s) URL, or env:NAME",
    "retrain": "loopline loop: the continual-learning policy (outside the spec hash)",
    "retrain.deployment": "the deployment whose champion is looked after; the gates run in it",
    "retrain.triggers": "what starts a retrain; none is on by default",
    "retrain.triggers.schedule": "when the champion's data ends this long ago, e.g. 7d",
    "retrain.triggers.drift": "when monitoring finds the dataset drifted",
    "retrain.triggers.drift_ignore": "features whose drift does not count",
    "retrain.triggers.decay": "when the metric falls, e.g. {metric: log_loss, drop: 0.005}",
    "retrain.mode": "full (retrain) | warm_start (continue the champion's trees)",
    "retrain.window": "the training data: this long before now (null: all of it)",
    "retrain.min_interval": "never retrain sooner than this after the last",
    "retrain.warm_start_rounds": "trees added by warm_start",
    "retrain.judge": "the challenger against the champion on the freshest data",
    "retrain.judge.window": "the freshest labelled data: the judge's test split",
    "retrain.judge.valid": "the validation split just before it",
    "retrain.judge.min_improvement": "in units of the primary metric",
    "retrain.judge.significant": "the whole 95% interval must lie above min_improvement",
    "retrain.judge.n_boot": "bootstrap resamples (0: no interval)",
    "retrain.gates": "passed in order; null skips a gate",
    "retrain.gates.shadow": "scored beside the champion, unseen",
    "retrain.gates.shadow.duration": "how long",
    "retrain.gates.shadow.min_rows": "scored exposures needed",
    "retrain.gates.shadow.max_loss_increase": "worse than the champion by at most this",
    "retrain.gates.canary": "serves a share of units",
    "retrain.gates.canary.share": "of units",
    "retrain.gates.canary.duration": "how long",
    "retrain.gates.canary.min_requests": "requests needed",
    "retrain.gates.canary.max_error_rate": "taken out at once above this ...",
    "retrain.gates.canary.max_p99_ms": "... or this p99 latency ...",
    "retrain.gates.canary.window_s": "... over this many seconds",
    "retrain.gates.ab": "an A/B test against the champion",
    "retrain.gates.ab.share": "of units in treatment",
    "retrain.gates.ab.min_duration": "read from then on",
    "retrain.gates.ab.max_duration": "still undecided then: rolled back",
    "retrain.gates.ab.primary": "the experiment's primary metric",
    "retrain.gates.ab.experiment": "more experiment settings, e.g. {cuped: true}",
    "timezone": "IANA zone dates without an offset are read in (split cut dates), and boundaries printed in",
    "seed": "for the split's sampling, the models and the bootstraps",
}
"""A short note for every setting, by its dotted path (a test checks that none is missing)."""


@dataclass(frozen=True)
class _Checks:
    """What the data stage's checks flagged on the guessed spec, as notes by column, or why they did not run."""

    exclude: dict[str, str] = field(default_factory=dict)
    known_after: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None


def draft_spec(path: Path, *, spec_path: Path | None = None) -> str:
    """YAML text of a complete, commented spec for the table at ``path``.

    ``spec_path`` is where the spec will be written: ``data.source`` is then written relative to its folder
    (as the spec reads it). Without it the data path is written as given. The guesses are filled in and
    marked; every other setting is commented out with its default; the columns the data stage's checks flag
    as id-like or leaking are listed in ``features.exclude`` and ``features.known_after`` with the reason.
    """
    frame = load_table(str(path), what="--data")
    schema = infer_schema(frame)
    time = _guess_time(frame, schema)
    entity = _guess_entity(frame, schema)
    label = _guess_label(frame, schema, exclude={time, entity})
    task = _task(frame[label]) if label else "binary"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-_.") or "model"
    base_dir = spec_path.resolve().parent if spec_path is not None else Path.cwd()
    body: dict[str, Any] = {
        "name": name,
        "task": task,
        "data": {"source": _source(path, spec_path)},
        "event_time": time or PLACEHOLDER,
    }
    if entity:
        body["entity"] = entity
    body["label"] = {"column": label or PLACEHOLDER}
    missing = int(frame[label].isna().sum()) if label else 0
    if missing:
        body["label"]["drop_missing"] = True
    # The checks read the table by its absolute path: the spec's folder may not exist yet.
    checks = _run_checks({**body, "data": {"source": str(path.resolve())}}) if time and label else _Checks(
        skipped="the guesses name no event time or no label; set them")
    features = {k: list(v) for k, v in (("exclude", checks.exclude), ("known_after", checks.known_after)) if v}
    if features:
        body["features"] = features
    spec = ProblemSpec.from_dict(body, base_dir=base_dir)

    notes = dict(_NOTES)
    notes.update(checks.notes)
    notes["name"] = f"from the file name; {_NOTES['name']}"
    notes["task"] = (f"guessed from the label's {frame[label].nunique(dropna=True)} values; {_NOTES['task']}"
                     if label else f"set it once the label is named: {_NOTES['task']}")
    notes["event_time"] = (f"guessed: {_NOTES['event_time']}" if time else
                           "no timestamp column found: name the column of when each row happened")
    if entity:
        notes["entity"] = f"guessed: {_NOTES['entity']}"
    notes["label.column"] = (f"guessed: {_NOTES['label.column']}" if label else
                             "no label found: name the column to predict")
    if missing:
        notes["label.drop_missing"] = (f"guessed: the label is missing in {missing:,} of {len(frame):,} rows; true "
                                       "drops them, false stops validate and train until they are filled in")
    notes["metrics.primary"] = f"picks the best model; default for {task}: {DEFAULT_PRIMARY[task]}"
    notes["metrics.report"] = f"more to report, of: {', '.join(METRICS[task])}"
    items = {"features.exclude": checks.exclude, "features.known_after": checks.known_after}

    validate = f"loopline validate --spec {spec_path}" if spec_path is not None else "loopline validate"
    header = [
        f"# loopline.yaml drafted from {path.name} ({len(frame)} rows, {len(frame.columns)} columns).",
        f"# Check every guess (marked 'guessed' below), then run: {validate}",
        "# Lines starting with '# ' show a setting at its default: remove the '# ' and edit the value to change it.",
        "# Columns: " + ", ".join(f"{c.name} ({c.kind.value})" for c in schema.columns),
        *_checks_summary(checks),
    ]
    return "\n".join([*header, "", *_render(spec, notes=notes, items=items), ""])


def _source(path: Path, spec_path: Path | None) -> str:
    """The data path as the spec should hold it: relative to the spec's folder when that is known."""
    if spec_path is None:
        return str(path)
    try:
        return Path(os.path.relpath(path.resolve(), spec_path.resolve().parent)).as_posix()
    except ValueError:  # on another drive (Windows): no relative path exists
        return str(path.resolve())


def _run_checks(body: dict[str, Any]) -> _Checks:
    """Run the data stage on the guessed spec, as ``loopline validate`` would, and note what it flags."""
    try:
        prepared = prepare(ProblemSpec.from_dict(body))
    except LooplineError as exc:
        return _Checks(skipped=str(exc))
    report = prepared.validation
    unique = {c.name: c.n_unique for c in report.columns}
    exclude = {name: f"id-like: a distinct value in {unique[name] / max(report.rows, 1):.0%} of rows"
               for name in report.flagged("id_like")}
    known_after: dict[str, str] = {}
    notes: dict[str, str] = {}
    splits = prepared.splits
    metric = "ROC AUC" if body["task"] == "binary" or _binary_relevance(splits.train[splits.label]) else "R²"
    for finding in prepared.findings:
        if finding.column is None or finding.score is None:
            continue
        if finding.kind == "after_event":
            known_after.setdefault(finding.column, f"possible leak: later than {splits.time} in {finding.score:.0%} "
                                                   "of rows, so recorded after the event")
        elif finding.kind == "predictive_power":
            known_after.setdefault(finding.column, f"possible leak: alone it reaches validation {metric} "
                                                   f"{finding.score:.3f}; delete this line if it is known before "
                                                   "the event")
        elif finding.kind == "shared_entities":
            notes["split.group_by_entity"] = (f"{finding.score:.0%} of test rows belong to {finding.column} values "
                                              f"seen earlier; {_NOTES['split.group_by_entity']}")
    return _Checks(exclude=exclude, known_after=known_after, notes=notes)


def _checks_summary(checks: _Checks) -> list[str]:
    if checks.skipped is not None:
        lines = f"The data checks (id-like columns, leakage) did not run: {checks.skipped}".splitlines()
        return [f"# {line}" for line in [*lines, "Fix the guesses, then run loopline validate to see them."]]
    found = []
    if checks.exclude:
        found.append(f"{len(checks.exclude)} id-like column{'s' * (len(checks.exclude) > 1)} in features.exclude")
    if checks.known_after:
        found.append(f"{len(checks.known_after)} possible leak{'s' * (len(checks.known_after) > 1)} in "
                     "features.known_after")
    if not found:
        return ["# The data checks of loopline validate found no id-like column and no sign of leakage."]
    return [f"# The data checks of loopline validate put {' and '.join(found)}, each with the reason; delete a "
            "line to use that column."]


def _render(spec: ProblemSpec, *, notes: Mapping[str, str], items: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The spec as YAML lines: what was set is written, every other setting commented out at its default."""
    lines: list[str] = []
    _block(spec, spec.model_dump(mode="json"), path="", depth=0, commented_at=None, notes=notes, items=items,
           lines=lines)
    return lines


def _block(model: BaseModel, dumped: dict[str, Any], *, path: str, depth: int, commented_at: int | None,
           notes: Mapping[str, str], items: Mapping[str, Mapping[str, str]], lines: list[str]) -> None:
    """Append the lines of ``model``'s fields. ``commented_at`` is the depth of the ``#`` of a commented-out block."""
    after_block = False
    for name in type(model).model_fields:
        key = f"{path}{name}"
        value, shown = getattr(model, name), dumped[name]
        active = commented_at is None and name in model.model_fields_set
        mark = commented_at if commented_at is not None else (None if active else depth)
        is_block = isinstance(value, BaseModel)
        if depth == 0 and lines and (is_block or after_block):
            lines.append("")
        after_block = is_block
        if is_block:
            lines.append(_line(f"{name}:", note=notes.get(key), depth=depth, mark=mark))
            _block(value, shown, path=f"{key}.", depth=depth + 1, commented_at=mark, notes=notes, items=items,
                   lines=lines)
        elif active and key in items and isinstance(shown, list) and shown:
            lines.append(_line(f"{name}:", note=notes.get(key), depth=depth, mark=None))
            lines.extend(_line(f"- {_flow(item)}", note=items[key].get(item), depth=depth + 1, mark=None)
                         for item in shown)
        else:
            lines.append(_line(f"{name}: {_flow(shown)}", note=notes.get(key), depth=depth, mark=mark))


def _line(text: str, *, note: str | None, depth: int, mark: int | None) -> str:
    """One YAML line at ``depth``; with ``mark``, commented out by a ``# `` at that depth."""
    content = "  " * depth + text if mark is None else "  " * mark + "# " + "  " * (depth - mark) + text
    if not note:
        return content
    return f"{content.ljust(_COMMENT_AT - 2)}  # {note}"


def _flow(value: Any) -> str:
    """``value`` as inline YAML, quoted only where YAML needs it.

    >>> _flow([0.7, 0.15, 0.15]), _flow(None), _flow({}), _flow("churned"), _flow("a: b")
    ('[0.7, 0.15, 0.15]', 'null', '{}', 'churned', "'a: b'")
    """
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=2**31 - 1)
    return text.removesuffix("...\n").strip()


def _guess_time(frame: pd.DataFrame, schema: Schema) -> str | None:
    times = list(schema.names(Kind.TIMESTAMP))
    named = [c for c in times if _TIME_NAMES.search(c)]
    found = named or times
    return found[0] if found else None


def _guess_entity(frame: pd.DataFrame, schema: Schema) -> str | None:
    for col in schema.columns:
        if _ID_NAMES.search(col.name) and col.n_unique >= 0.05 * len(frame):
            return col.name
    return None


def _guess_label(frame: pd.DataFrame, schema: Schema, *, exclude: set[str | None]) -> str | None:
    for col in schema.columns:
        if _LABEL_NAMES.match(col.name) and col.name not in exclude:
            return col.name
    two_valued = [c.name for c in schema.columns if c.n_unique == 2 and c.name not in exclude]
    return two_valued[-1] if two_valued else None


def _task(values: pd.Series) -> str:
    distinct = values.nunique(dropna=True)
    if distinct <= 2:
        return "binary"
    if pd.api.types.is_float_dtype(values.dtype) or (pd.api.types.is_numeric_dtype(values.dtype) and distinct > 20):
        return "regression"
    return "multiclass"
