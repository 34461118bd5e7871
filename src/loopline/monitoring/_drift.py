"""Drift of each feature, of the prediction and of the label, between a version's reference and a window.

Numeric features and the prediction: two-sample Kolmogorov-Smirnov on the reference's grid, Wasserstein-1
normalised by the reference's standard deviation, PSI on ten cells of equal reference mass. Categorical
and boolean features: the chi-square test of homogeneity, the Jensen-Shannon distance, PSI on the
categories, and the share of categories never seen in training. A feature is drifted when its test is
significant *and* its effect is large enough (:mod:`loopline.monitoring._stats` has the rules and their
defaults), so that a million rows do not flag trivial shifts and fifty rows do not flag noise.

The dataset drifts when at least ``dataset_share`` (half) of the tested features drift, or when a
classifier tells the window's rows from a sample of the training rows (:mod:`loopline.monitoring._domain`:
a shift in how the features move together that no single test sees). Text and
timestamp features are not tested (their quality is checked); a feature without a usable reference (a
profile stored before drift references existed) is listed with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopline.features import BooleanProfile, CategoricalProfile, NumericProfile, Profile
from loopline.features._binning import Binned, bin_values
from loopline.monitoring._domain import DomainCheck
from loopline.monitoring._stats import chi_square, jensen_shannon, ks, new_share, psi, psi_binned, wasserstein
from loopline.monitoring._verdicts import Verdict, categorical_verdict, numeric_verdict
from loopline.monitoring._window import CategoricalWindow, NumericWindow, WindowStats

OTHER = "__other__"


@dataclass(frozen=True)
class DriftThresholds:
    """The defaults of the verdicts (see :mod:`loopline.monitoring._stats`), and the dataset's share."""

    alpha: float = 0.05
    min_effect: float = 0.05
    min_new_share: float = 0.005
    min_rows: int = 30
    dataset_share: float = 0.5


@dataclass(frozen=True)
class ColumnDrift:
    """One feature's (or the prediction's, or the label's) statistics and verdict."""

    name: str
    kind: str
    rows: int
    statistics: dict[str, float | None]
    verdict: Verdict

    @property
    def drifted(self) -> bool:
        return self.verdict.drifted


@dataclass(frozen=True)
class Drift:
    features: list[ColumnDrift]
    prediction: ColumnDrift | None
    label: ColumnDrift | None
    share: float | None                # of the tested features, drifted
    drift_detected: bool
    skipped: dict[str, str] = field(default_factory=dict)  # feature -> why it was not tested
    domain: DomainCheck | None = None  # the multivariate check, when the profile keeps a sample

    def values(self) -> dict[str, float | None]:
        """Flat values for alert rules: ``drift.share``, ``drift.detected``, ``feature.NAME.STATISTIC``,
        ``prediction.STATISTIC``, ``label.STATISTIC``."""
        out: dict[str, float | None] = {"drift.share": self.share, "drift.detected": float(self.drift_detected),
                                        "drift.features_drifted": float(sum(c.drifted for c in self.features))}
        if self.domain is not None:
            out["drift.domain_auc"] = self.domain.auc
            out["drift.domain_drifted"] = float(self.domain.drifted)
        for column in self.features:
            out.update({f"feature.{column.name}.{k}": v for k, v in column.statistics.items()})
            out[f"feature.{column.name}.drifted"] = float(column.drifted)
        for prefix, other in (("prediction", self.prediction), ("label", self.label)):
            if other is not None:
                out.update({f"{prefix}.{k}": v for k, v in other.statistics.items()})
                out[f"{prefix}.drifted"] = float(other.drifted)
        return out


def drift(profile: Profile, window: WindowStats, *, prediction: str | None = None,
          thresholds: DriftThresholds = DriftThresholds(), domain: DomainCheck | None = None) -> Drift:
    """Test every profiled feature found in ``window``, and the column named ``prediction`` (the model's score)
    against the prediction profile. The label's drift needs the labels: :func:`label_drift`. The dataset
    drifts when ``dataset_share`` of the tested features do, or when the ``domain`` check (if run) finds it."""
    tested: list[ColumnDrift] = []
    skipped: dict[str, str] = {}
    for name, reference in profile.features.items():
        seen = window.columns.get(name)
        if seen is None:
            skipped[name] = "absent from the window" if name in window.absent else "not read from the window"
            continue
        result = _column(name, reference, seen, thresholds)
        if isinstance(result, str):
            skipped[name] = result
        else:
            tested.append(result)
    predicted = _optional(prediction, profile.prediction.binned() if profile.prediction is not None else None,
                          profile.prediction.std if profile.prediction is not None else None, window, thresholds,
                          "prediction")
    share = sum(c.drifted for c in tested) / len(tested) if tested else None
    by_share = share is not None and share >= thresholds.dataset_share
    return Drift(features=tested, prediction=predicted, label=None, share=share,
                 drift_detected=by_share or (domain is not None and domain.drifted), skipped=skipped, domain=domain)


def reference_grid(reference: Any) -> np.ndarray | None:
    """The grid edges a window's numeric column is counted on, from a feature's reference (None: none)."""
    binned = reference.binned() if isinstance(reference, NumericProfile) else None
    if binned is None and isinstance(reference, NumericProfile) and len(reference.edges) >= 2:
        return np.asarray(reference.edges, dtype=np.float64)  # a profile stored before the fine grid existed
    return None if binned is None else binned.edges


def reference_binned(reference: NumericProfile) -> Binned | None:
    """The reference's counts on its grid; for an old profile, its ten-bin histogram (coarser, still valid)."""
    binned = reference.binned()
    if binned is not None:
        return binned
    if len(reference.edges) < 2 or not reference.counts:
        return None
    counts = np.array([0.0, *reference.counts, 0.0])
    return Binned(np.asarray(reference.edges), counts, float(counts.sum()))


def _column(name: str, reference: Any, seen: NumericWindow | CategoricalWindow,
            t: DriftThresholds) -> ColumnDrift | str:
    if isinstance(reference, NumericProfile):
        if not isinstance(seen, NumericWindow):
            return "numeric in training but read as categorical"
        ref = reference_binned(reference)
        if ref is None or seen.binned is None:
            return "the reference holds no present value"
        return _numeric(name, "numeric", ref, reference.std, seen.binned, t, seen.mean, reference.mean)
    if isinstance(reference, CategoricalProfile | BooleanProfile):
        if not isinstance(seen, CategoricalWindow):
            return "categorical in training but read as numeric"
        counts, n_eff, complete = _reference_counts(reference)
        if counts is None:
            return ("the reference keeps only the top-50 shares (a profile stored before drift references "
                    "existed): retrain to store a full one")
        window_counts = _boolean_keys(seen.counts) if isinstance(reference, BooleanProfile) else seen.counts
        return _categorical(name, "boolean" if isinstance(reference, BooleanProfile) else "categorical", counts,
                            n_eff, complete, window_counts, t)
    return f"{getattr(reference, 'kind', 'this')} features are checked for quality, not tested for drift"


def _numeric(name: str, kind: str, ref: Binned, ref_std: float | None, cur: Binned, t: DriftThresholds,
             cur_mean: float | None, ref_mean: float | None) -> ColumnDrift:
    verdict = numeric_verdict(ref, cur, ref_std=ref_std, alpha=t.alpha, min_effect=t.min_effect, min_rows=t.min_rows)
    rows = round(cur.n)
    stats: dict[str, float | None] = {"mean": cur_mean, "reference_mean": ref_mean}
    if cur.n > 0 and ref.n > 0:
        test = ks(ref, cur)
        distance = wasserstein(ref, cur)
        stats.update({"ks": test.statistic, "ks_p_value": test.p_value, "wasserstein": distance,
                      "wasserstein_norm": verdict.effect_value if verdict.effect == "wasserstein_norm" else None,
                      "psi": psi_binned(ref, cur)})
    return ColumnDrift(name, kind, rows, stats, verdict)


def _categorical(name: str, kind: str, ref_counts: Mapping[str, float], ref_n_eff: float, complete: bool,
                 cur_counts: Mapping[str, float], t: DriftThresholds) -> ColumnDrift:
    cur_n = float(sum(cur_counts.values()))
    verdict = categorical_verdict(ref_counts, cur_counts, ref_n_eff=ref_n_eff, cur_n=cur_n, complete=complete,
                                  alpha=t.alpha, min_effect=t.min_effect, min_new_share=t.min_new_share,
                                  min_rows=t.min_rows)
    stats: dict[str, float | None] = {}
    if cur_n > 0:
        keys, ref_vector, cur_vector = aligned(ref_counts, cur_counts, complete=complete)
        scale = ref_n_eff / float(ref_vector.sum()) if ref_vector.sum() else 0.0
        test = chi_square(ref_vector * scale, cur_vector)
        stats = {"chi_square": test.statistic, "chi_square_p_value": test.p_value,
                 "jensen_shannon": jensen_shannon(ref_vector, cur_vector), "psi": psi(ref_vector, cur_vector),
                 "new_share": new_share(cur_counts, [k for k in ref_counts if k != OTHER]) if complete else None,
                 "categories": float(len(keys))}
    return ColumnDrift(name, kind, int(cur_n), stats, verdict)


def aligned(ref_counts: Mapping[str, float], cur_counts: Mapping[str, float], *,
            complete: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Both count vectors over one list of categories: the reference's, then the window's new ones (folded
    into :data:`OTHER` when the reference is not complete, since they may be its rare categories)."""
    keys = [k for k in ref_counts if k != OTHER]
    known = set(keys)
    extra = sorted(k for k in cur_counts if k not in known and k != OTHER)
    if complete:
        keys += extra
        ref = np.array([ref_counts.get(k, 0.0) for k in keys], dtype=np.float64)
        cur = np.array([cur_counts.get(k, 0.0) for k in keys], dtype=np.float64)
        return keys, ref, cur
    folded = sum(cur_counts.get(k, 0.0) for k in extra) + cur_counts.get(OTHER, 0.0)
    ref = np.array([*(ref_counts.get(k, 0.0) for k in keys), ref_counts.get(OTHER, 0.0)], dtype=np.float64)
    cur = np.array([*(cur_counts.get(k, 0.0) for k in keys), folded], dtype=np.float64)
    return [*keys, OTHER], ref, cur


def _reference_counts(reference: CategoricalProfile | BooleanProfile) -> tuple[dict[str, float] | None, float, bool]:
    if isinstance(reference, BooleanProfile):
        if reference.true_count is None or reference.false_count is None:
            return None, 0.0, True
        counts = {"true": float(reference.true_count), "false": float(reference.false_count)}
        return counts, float(reference.n_eff or sum(counts.values())), True
    if reference.counts is None:
        return None, 0.0, False
    counts = {str(k): float(v) for k, v in reference.counts.items()}
    return counts, float(reference.n_eff or sum(counts.values())), bool(reference.complete)


def _boolean_keys(counts: Mapping[str, int]) -> dict[str, float]:
    """Window values of a boolean feature as 'true'/'false' (numbers 1/0 and words as training reads them)."""
    out = {"true": 0.0, "false": 0.0}
    for key, n in counts.items():
        word = key.strip().lower()
        if word in ("true", "t", "yes", "y", "1", "1.0"):
            out["true"] += n
        elif word in ("false", "f", "no", "n", "0", "0.0"):
            out["false"] += n
        else:
            out[key] = out.get(key, 0.0) + n
    return out


def _optional(column: str | None, ref: Binned | None, ref_std: float | None, window: WindowStats,
              t: DriftThresholds, kind: str) -> ColumnDrift | None:
    if column is None or ref is None:
        return None
    seen = window.columns.get(column)
    if not isinstance(seen, NumericWindow) or seen.binned is None:
        return None
    return _numeric(column, kind, ref, ref_std, seen.binned, t, seen.mean, None)


def label_drift(profile: Profile, labels: np.ndarray, *, name: str = "label",
                thresholds: DriftThresholds = DriftThresholds()) -> ColumnDrift | None:
    """Drift of the labels that arrived for the window's exposures against the training labels (None when the
    profile holds no label); binary and class labels as categories, numeric ones on the label's grid."""
    label = profile.label
    if label is None:
        return None
    values = np.asarray(labels)
    if label.kind == "numeric" and label.binned() is not None:
        ref = label.binned()
        numbers = values.astype(np.float64)
        present = numbers[np.isfinite(numbers)]
        if ref is None:
            return None
        cur = bin_values(present, ref.edges)
        return _numeric(name, "label", ref, label.std, cur, thresholds, float(present.mean()) if present.size else None,
                        label.mean)
    n_eff = float(label.n_eff or label.rows)
    if label.kind == "binary" and label.rate is not None:
        ref_counts = {"1": label.rate * n_eff, "0": (1.0 - label.rate) * n_eff}
    elif label.classes:
        ref_counts = {k: share * n_eff for k, share in label.classes.items()}
    else:
        return None
    keys = [_label_key(v) for v in values.tolist() if v is not None and v == v]
    counts: dict[str, float] = {}
    for key in keys:
        counts[key] = counts.get(key, 0.0) + 1.0
    return _categorical(name, "label", ref_counts, n_eff, True, counts, thresholds)


def _label_key(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
