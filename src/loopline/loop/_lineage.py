"""A registered version's lineage against the spec and data it is evaluated on now.

A version records the spec hash, data fingerprint and feature list it was trained with. Evaluating it
later under an edited spec or on changed data can quietly mislead: a moved split boundary or a new
data file can put rows the version was trained on into today's test split, so its metrics look
better than they are. :func:`lineage_warnings` names each difference and what it means; the changed
spec keys come from the spec kept in the training run's parameters (``params["spec"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopline.evaluation import Evaluation
from loopline.registry import ModelVersion
from loopline.reports import ReportPaths
from loopline.spec import HASH_EXCLUDED, UNHASHED_AT_DEFAULT, ProblemSpec

ROW_KEYS = frozenset({"data", "event_time", "entity", "unit", "group", "label", "features", "feature_tables",
                      "split", "sampling"})
"""Top-level spec keys that decide which rows (and which columns) land in each split."""
BASELINE_FAMILIES = frozenset({"constant", "random", "heuristic"})
SHOWN = 8


@dataclass(frozen=True)
class VersionEvaluation:
    """What ``loopline evaluate --version`` produced: the version, its evaluation and report, and the
    warnings (lineage differences first, then the data stage's findings) also written into the report."""

    version: ModelVersion
    evaluation: Evaluation
    report: ReportPaths
    warnings: tuple[str, ...]


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys whose values differ, as dotted paths two levels deep (``split``, ``split.test_size``)."""
    found: list[str] = []
    for key in sorted((set(old) | set(new)) - set(HASH_EXCLUDED)):  # monitoring settings do not change a model
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            # a setting added later is absent from older stored specs: absent and its default are the same
            defaults = {sub: default for block, sub, default in UNHASHED_AT_DEFAULT if block == key}
            found.extend(f"{key}.{sub}" for sub in sorted(set(a) | set(b))
                         if a.get(sub, defaults.get(sub)) != b.get(sub, defaults.get(sub)))
        else:
            found.append(key)
    return found


def _names(values: list[str]) -> str:
    more = f" and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return ", ".join(values[:SHOWN]) + more


def _spec_warning(version: ModelVersion, spec: ProblemSpec, trained_spec: Mapping[str, Any] | None) -> str:
    v = f"v{version.version}"
    head = f"the spec changed since {v} was trained (spec hash {version.spec_hash[:12]} then, " \
           f"{spec.spec_hash()[:12]} now"
    rows = (f"the test split may now contain rows this version was trained on, so its metrics may look better "
            f"than they are. Evaluate with the spec {v} was trained with, or retrain under this one.")
    if trained_spec is None:
        return f"{head}; the training run does not hold its spec, so which keys changed is unknown): {rows}"
    keys = changed_keys(trained_spec, spec.model_dump(mode="json"))
    if not keys:
        return f"{head}; the spec kept with the training run matches this one, so only the hash differs): {rows}"
    head += f"; changed: {_names(keys)})"
    if any(k.split(".")[0] in ROW_KEYS for k in keys):
        return f"{head}: {rows}"
    return (f"{head}: the rows are split as before, but metrics and settings now follow this spec, not the one "
            f"{v} was chosen under.")


def lineage_warnings(version: ModelVersion, *, spec: ProblemSpec, data_fingerprint: str, features: tuple[str, ...],
                     trained_spec: Mapping[str, Any] | None) -> list[str]:
    """Warnings for each way ``version``'s recorded lineage differs from the current spec and data."""
    v = f"v{version.version}"
    found = []
    if version.spec_hash != spec.spec_hash():
        found.append(_spec_warning(version, spec, trained_spec))
    if version.data_fingerprint != data_fingerprint:
        found.append(f"the data changed since {v} was trained (fingerprint {version.data_fingerprint[:12]} then, "
                     f"{data_fingerprint[:12]} now): the test split is drawn from other rows than {v}'s recorded "
                     "test metrics and may now contain rows this version was trained on. Compare with its recorded "
                     "metrics with care, or retrain on the current data.")
    dropped = [f for f in version.features if f not in features]
    added = [f for f in features if f not in version.features] if version.family not in BASELINE_FAMILIES else []
    if dropped or added:
        parts = []
        if dropped:
            parts.append(f"it uses {_names(dropped)}, which the spec no longer selects as features (if they were "
                         f"excluded for leaking the label, {v}'s metrics here cannot be trusted)")
        if added:
            parts.append(f"the spec now selects {_names(added)}, which {v} never saw")
        found.append(f"the features differ from those {v} was trained on: {'; '.join(parts)}. {v} scores with its "
                     "own features; retrain to use the current list.")
    return found
