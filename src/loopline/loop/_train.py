"""The offline loop: spec -> data -> baselines and candidates -> evaluation -> registry -> report.

This is the only place the offline stages are wired together; the CLI calls :func:`train`.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from loopline import __version__
from loopline._errors import DataError, LooplineError, ModelError
from loopline._progress import SILENT, Progress
from loopline._threads import WAIT_POLICY, available_cores, openmp_settings
from loopline.data import Finding, Prepared, Splits, SplitSummary, prepare
from loopline.evaluation import Evaluation, compute_metrics, evaluate, ranking_metric
from loopline.features import PredictionProfile, Profile
from loopline.loop._lineage import VersionEvaluation, lineage_warnings
from loopline.models import TrainedModel, check_params, save_model, train_baselines, train_candidates
from loopline.registry import ModelVersion, Registry
from loopline.reports import ReportPaths, render_evaluation
from loopline.spec import ProblemSpec, is_better, metric_labels, ranking_loss
from loopline.workspace import Workspace

References = Callable[[pd.DataFrame], Mapping[str, np.ndarray]]
Candidates = Callable[[Splits, ProblemSpec], list[TrainedModel]]


@dataclass(frozen=True)
class ModelSummary:
    """One trained model of a run: its validation and test metrics."""

    name: str
    family: str
    is_baseline: bool
    valid: dict[str, float]
    test: dict[str, float]


@dataclass(frozen=True)
class TrainingOutcome:
    """What ``loopline train`` produced."""

    run_id: str
    model_name: str
    best: str
    version: ModelVersion
    promoted: bool
    beats_baselines: bool
    models: list[ModelSummary]
    evaluation: Evaluation
    report: ReportPaths
    splits: tuple[SplitSummary, ...]
    warnings: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    trained: dict[str, TrainedModel] = field(default_factory=dict, repr=False)
    """Every model of the run by name (baselines and candidates), to register another one later."""
    prepared: Prepared | None = field(default=None, repr=False)
    refused: str | None = None
    """Why ``promote`` was refused although the model beats every baseline (a leak warning stands); else None."""


def code_version() -> str:
    """loopline's version, plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def train(spec: ProblemSpec, workspace: Workspace, *, promote: bool = False,
          references: References | None = None, n_boot: int = 200, since: datetime | None = None,
          until: datetime | None = None, candidates: Candidates | None = None,
          progress: Progress = SILENT) -> TrainingOutcome:
    """Run the offline loop once and register the best candidate.

    The best candidate is chosen on the validation split by the spec's primary metric; it is judged
    on the test split against every baseline. With ``promote`` it becomes ``champion`` only when it
    beats every baseline on the test split. ``since`` and ``until`` restrict the data to a window of event
    time, feedback included, as :func:`loopline.data.prepare` does. ``candidates`` fits the candidates in place of
    the spec's ``models.candidates`` (the loop's warm start continues the champion's booster this way).
    """
    check_params(spec)  # a mistake in the spec stops the run before any data is read or run recorded
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    prepared = prepare(spec, since=since, until=until, progress=progress)
    timings["prepare_s"] = time.perf_counter() - clock
    splits = prepared.splits

    registry = Registry(workspace)
    run = registry.start_run(
        spec_name=spec.name, spec_hash=spec.spec_hash(), data_fingerprint=prepared.data_fingerprint,
        params={"spec": spec.model_dump(mode="json"), "splits": [dict(x.__dict__) for x in splits.summaries],
                "runtime": {"available_cores": available_cores(), **openmp_settings()}}, code_version=code_version(),
    )
    try:
        with registry.heartbeat(run.run_id):  # a run killed outright is reported abandoned
            clock = time.perf_counter()
            baselines = train_baselines(splits, spec)
            fitted = (train_candidates(splits, spec, progress=progress, ranking_metric=ranking_metric(spec))
                      if candidates is None
                      else candidates(splits, spec))
            timings["train_s"] = time.perf_counter() - clock

            clock = time.perf_counter()
            valid = {m.name: _metrics(m, splits.valid, spec, splits.label, splits.group)
                     for m in [*baselines, *fitted]}
            best = _choose(fitted, valid, spec.primary_metric)
            refs = dict(references(splits.test)) if references is not None else {}
            refs.update(uncalibrated(best, splits.test))
            others = [m for m in [*fitted, *baselines] if m is not best]
            champion, champion_name, champion_notes = _current_champion(registry, spec, splits.test)
            evaluation = evaluate(best, splits.test, spec, label=splits.label, time=splits.time, split="test",
                                  others=others, references=refs, n_boot=n_boot, seed=spec.seed,
                                  champion=champion, champion_name=champion_name, progress=progress)
            test = {s.name: {k: v.value for k, v in s.metrics.items()} for s in evaluation.scores}
            timings["evaluate_s"] = time.perf_counter() - clock

            primary = spec.primary_metric
            beaten = [b.name for b in baselines if _better(test[best.name][primary], test[b.name][primary], primary)]
            beats_all = len(beaten) == len(baselines)
            warnings = [f.message for f in prepared.findings] + champion_notes
            warnings += [str(note) for m in fitted for note in m.params.get("notes", [])]
            if not beats_all:
                lost = sorted({b.name for b in baselines} - set(beaten))
                warnings.append(f"{best.name} does not beat the baseline(s) {', '.join(lost)} on test {primary}; "
                                "it is registered but not promoted.")
            refusal = leak_refusal(prepared.findings) if promote else None
            if refusal is not None:
                warnings.append(refusal)

            clock = time.perf_counter()
            report_dir = workspace.reports_root / spec.name / f"run-{run.run_id}"
            report = render_evaluation(
                evaluation, report_dir, title=f"{spec.name}: {best.name} on the test split",
                splits=splits.summaries, warnings=warnings,
                facts=_facts(spec, prepared, best, run.run_id, refs, evaluation),
            )
            promoted = promote and beats_all and refusal is None  # registering and promoting: one transaction
            version = _register(registry, spec, prepared, best, run.run_id, valid, test, beaten, report, warnings,
                                alias="champion" if promoted else None,
                                reason=f"run {run.run_id}: best on validation {primary}, beats every baseline on test")
            timings["register_s"] = time.perf_counter() - clock

            models = [ModelSummary(m.name, m.family, m.is_baseline, valid[m.name], test.get(m.name, {}))
                      for m in [*fitted, *baselines]]
            registry.finish_run(run.run_id, status="finished",
                                metrics={"valid": valid[best.name], "test": test[best.name]}, timings=timings)
    except BaseException as exc:
        registry.finish_run(run.run_id, status="failed", metrics={}, timings=timings, error=str(exc)[:2000])
        raise
    return TrainingOutcome(
        run_id=run.run_id, model_name=spec.name, best=best.name, version=version, promoted=promoted,
        beats_baselines=beats_all, models=models, evaluation=evaluation, report=report,
        splits=splits.summaries, warnings=warnings, timings=timings,
        trained={m.name: m for m in [*fitted, *baselines]}, prepared=prepared, refused=refusal,
    )


def uncalibrated(model: TrainedModel, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{"<name> uncalibrated": predictions}`` for a calibrated model, to report beside its calibrated metrics."""
    if getattr(model, "calibrator", None) is None:
        return {}
    bare = copy.copy(model)
    bare.calibrator = None  # type: ignore[attr-defined]
    return {f"{model.name} uncalibrated": np.asarray(bare.predict(frame), dtype=np.float64)}


def leak_refusal(findings: Sequence[Finding]) -> str | None:
    """Why ``--promote`` refuses while a leak warning stands on a feature; None when none does."""
    columns = list(dict.fromkeys(str(f.column) for f in findings if f.blocks_promotion))
    if not columns:
        return None
    named = ", ".join(f"'{c}'" for c in columns)
    return (f"not promoted: a leak warning stands on {named} (see above). If it is recorded after the event or "
            f"derived from the label, add it to features.known_after; if you have checked that it is known when a "
            f"row is scored, list it in features.reviewed: [{', '.join(columns)}]. Then train again.")


def register_candidate(spec: ProblemSpec, workspace: Workspace, outcome: TrainingOutcome, name: str, *,
                       alias: str | None = None, reason: str = "") -> ModelVersion:
    """Register another model of a finished run (e.g. the runner-up as ``challenger``) with its own metrics."""
    if name not in outcome.trained or outcome.prepared is None:
        raise ModelError(f"run {outcome.run_id} has no model '{name}'; it trained {sorted(outcome.trained)}.")
    model = outcome.trained[name]
    summary = next(m for m in outcome.models if m.name == name)
    primary = spec.primary_metric
    baselines = [m for m in outcome.models if m.is_baseline]
    beaten = [b.name for b in baselines if _better(summary.test[primary], b.test[primary], primary)]
    registry = Registry(workspace)
    return _register(registry, spec, outcome.prepared, model, outcome.run_id, {name: summary.valid},
                     {name: summary.test}, beaten, outcome.report, outcome.warnings, alias=alias,
                     reason=reason or f"run {outcome.run_id}: {name}, registered as {alias}")


def _metrics(model: TrainedModel, frame: pd.DataFrame, spec: ProblemSpec, label: str,
             group: str | None) -> dict[str, float]:
    groups = frame[group].to_numpy() if group is not None and spec.task == "ranking" else None
    return compute_metrics(spec.task, frame[label].to_numpy(), model.predict(frame), threshold=model.threshold,
                           groups=groups, classes=model.classes, **spec.metrics.scoring)


def _current_champion(registry: Registry, spec: ProblemSpec,
                      test: pd.DataFrame) -> tuple[TrainedModel | None, str, list[str]]:
    """The model holding ``champion`` for this spec's name, to compare with on the test split: the model, the
    name it is scored under (``champion v<N>``) and warnings. None without a champion, and (with a warning)
    when it cannot be loaded, was trained for another task or needs columns the test split lacks."""
    try:
        version = registry.aliases(spec.name).get("champion")
    except LooplineError:
        return None, "champion", []  # nothing registered under this name yet
    if version is None:
        return None, "champion", []
    name = f"champion v{version}"
    try:
        model = registry.load(spec.name, version)
    except LooplineError as exc:
        return None, name, [f"the report does not compare with the champion ({spec.name} v{version}): {exc}"]
    missing = [c for c in model.features if c not in test.columns]
    if model.task != spec.task or missing:
        why = (f"it was trained for a {model.task} task" if model.task != spec.task
               else f"it needs columns the test split lacks: {', '.join(missing[:5])}")
        return None, name, [f"the report does not compare with the champion ({spec.name} v{version}): {why}."]
    return model, name, []


def _better(a: float, b: float, metric: str) -> bool:
    return is_better(metric, a, b)


def _choose(candidates: list[TrainedModel], valid: dict[str, dict[str, float]], metric: str) -> TrainedModel:
    """The candidate nearest the metric's best on validation (the first of equals; undefined values last)."""
    return min(candidates, key=lambda m: ranking_loss(metric, valid[m.name][metric]))


def _facts(spec: ProblemSpec, prepared: Prepared, best: TrainedModel, run_id: str,
           refs: Mapping[str, np.ndarray], evaluation: Evaluation) -> dict[str, str]:
    facts = {
        "run": run_id,
        "model family": best.family,
        "spec hash": spec.spec_hash()[:12],
        "data fingerprint": prepared.data_fingerprint[:12],
        "features": str(len(best.features)),
        "calibration": best.calibration or "none",
        "decision threshold": "n/a" if best.threshold is None else f"{best.threshold:.4f}",
        "code version": code_version(),
    }
    metrics = evaluation.metrics
    for name in refs:
        ref = evaluation.scores_of(name).metrics
        if "roc_auc" in ref and "roc_auc" in metrics:
            facts[f"AUC: model vs {name}"] = f"{metrics['roc_auc']:.4f} vs {ref['roc_auc'].value:.4f}"
    return facts


def _register(registry: Registry, spec: ProblemSpec, prepared: Prepared, best: TrainedModel, run_id: str,
              valid: dict[str, dict[str, float]], test: dict[str, dict[str, float]], beaten: list[str],
              report: ReportPaths, warnings: list[str], *, alias: str | None = None,
              reason: str = "") -> ModelVersion:
    """Register ``best``; with ``alias`` (e.g. ``champion``) it takes the alias in the same transaction.

    The stored reference profile describes the population the model will meet, not the sample it was
    fitted on. Its features and label come from the training split, weighted to undo negative
    downsampling (:func:`_population_weights`), so label shares and the features that move with the
    label are those of the full data. Its prediction profile comes from ``best``'s predictions on the
    **validation** split: that split is never downsampled (training scores would over-represent
    positives), and the model did not fit its rows (scores on training rows are optimistic: more
    confident and better separated than anything live traffic will show). It also keeps a sample of
    :data:`REFERENCE_SAMPLE_ROWS` training rows (drawn by the same weights; the spec's ``sensitive`` columns
    left out) for monitoring's domain classifier.
    """
    splits = prepared.splits
    profile = Profile.from_frame(splits.train, splits.schema, features=list(best.features), label=splits.label,
                                 weights=_population_weights(splits.train, splits.label, splits.negative_rate),
                                 sample_rows=REFERENCE_SAMPLE_ROWS, private=spec.sensitive, seed=spec.seed)
    predictions = PredictionProfile.of(best.predict(splits.valid), spec.task, classes=best.classes)
    profile = replace(profile, prediction=predictions)
    with tempfile.TemporaryDirectory(prefix="loopline-model-") as tmp:
        artifact = Path(tmp) / "model"
        sha256 = save_model(best, artifact)
        version = registry.register_model(
            name=spec.name, run_id=run_id, artifact_dir=artifact, sha256=sha256, family=best.family,
            task=spec.task, features=list(best.features),
            metrics={"valid": valid[best.name], "test": test[best.name]}, baselines_beaten=beaten,
            spec_hash=spec.spec_hash(), data_fingerprint=prepared.data_fingerprint,
            code_version=code_version(), profile=profile.to_dict(), report_path=str(report.html),
            card_context={
                "intended_use": spec.description or f"{spec.task} model for '{spec.name}'",
                "splits": [s.__dict__ for s in splits.summaries],
                "threshold": best.threshold, "calibration": best.calibration,
                "caveats": warnings,
                "metric_labels": metric_labels(spec.task, spec.metrics, relevant_at=_top_grade(spec, splits.test,
                                                                                           splits.label)),
                **_runtime_note(best),
            },
            alias=alias, reason=reason if alias is not None else None,
        )
        shutil.rmtree(artifact, ignore_errors=True)
    return version


def _top_grade(spec: ProblemSpec, frame: pd.DataFrame, label: str) -> float | None:
    """The default relevance threshold of map and mrr on ``frame`` (its top grade), for the card's labels."""
    return float(frame[label].max()) if spec.task == "ranking" and len(frame) else None


REFERENCE_SAMPLE_ROWS = 1_000  # rows kept with the profile for monitoring's multivariate (domain) check


def _population_weights(train: pd.DataFrame, label: str, negative_rate: float | None) -> np.ndarray | None:
    """Frequency weights that undo negative downsampling of ``train``: ``1 / rate`` on negatives, 1 on positives.

    ``data.prepare`` keeps every row whose (0/1-normalised) binary label is 1 and each row whose label
    is 0 with probability ``negative_rate``, so each kept negative stands for ``1 / rate`` rows. None
    (no weights) when nothing was dropped: no rate, or a rate of 1.
    """
    if negative_rate is None or negative_rate >= 1.0:
        return None
    negative = train[label].to_numpy() == 0
    return np.where(negative, 1.0 / negative_rate, 1.0)


def _runtime_note(model: TrainedModel) -> dict[str, str]:
    """The thread settings a fit ran with (they change its speed, and with LightGBM its exact trees), for the card."""
    used = {k: model.params[k] for k in ("num_threads", WAIT_POLICY) if k in model.params}
    return {"training threads": ", ".join(f"{k}={v}" for k, v in used.items())} if used else {}


def evaluate_version(spec: ProblemSpec, workspace: Workspace, version: str, *, n_boot: int = 200,
                     progress: Progress = SILENT) -> VersionEvaluation:
    """Evaluate a registered version of ``spec.name`` on the spec's test split against fresh baselines.

    The version is resolved (and its artifact verified) before any data is read, so a wrong version
    fails at once. Its recorded spec hash, data fingerprint and features are compared with the current
    spec and data; each difference becomes a warning (see :func:`~loopline.loop._lineage.lineage_warnings`),
    returned and written into the report ahead of the data stage's findings.
    """
    registry = Registry(workspace, create=False)
    found = registry.get_version(spec.name, version)
    model = registry.load(spec.name, found.version)
    prepared = prepare(spec, progress=progress)
    splits = prepared.splits
    absent = [f for f in found.features if f not in splits.test.columns]
    if absent:
        raise DataError(f"{spec.source_name}: v{found.version} of '{spec.name}' was trained on column(s) "
                        f"{', '.join(absent)}, which the current data does not have (it has: "
                        f"{', '.join(map(str, splits.test.columns))}). Restore them, or retrain under the current "
                        "spec and evaluate the new version.")
    try:
        trained_spec = registry.get_run(found.run_id).params.get("spec")
    except LooplineError:
        trained_spec = None
    lineage = lineage_warnings(found, spec=spec, data_fingerprint=prepared.data_fingerprint,
                               features=splits.features,
                               trained_spec=trained_spec if isinstance(trained_spec, dict) else None)
    champion, champion_name, notes = _current_champion(registry, spec, splits.test)
    if champion_name == f"champion v{found.version}":
        champion, notes = None, []  # the evaluated version is the champion itself
    warnings = (*lineage, *(f.message for f in prepared.findings), *notes)
    baselines = train_baselines(splits, spec)
    evaluation = evaluate(model, splits.test, spec, label=splits.label, time=splits.time, split="test",
                          others=baselines, n_boot=n_boot, seed=spec.seed, champion=champion,
                          champion_name=champion_name, progress=progress)
    report = render_evaluation(
        evaluation, workspace.reports_root / spec.name / f"v{found.version}-evaluate",
        title=f"{spec.name} v{found.version} on the test split", splits=splits.summaries,
        warnings=warnings,
        facts={"version": str(found.version), "sha256": found.sha256[:12], "spec hash": spec.spec_hash()[:12],
               "data fingerprint": prepared.data_fingerprint[:12]},
    )
    return VersionEvaluation(version=found, evaluation=evaluation, report=report, warnings=warnings)
