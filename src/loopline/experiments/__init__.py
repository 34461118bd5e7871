"""Experiments: design (power, sample size, MDE, duration) and analysis of A/B tests.

Pure statistics on numpy arrays, returning frozen dataclasses with ``to_dict()``:
effects with intervals (Welch t, proportion z, delta-method ratios), CUPED, sample ratio mismatch,
Holm and Benjamini-Hochberg adjustments, always-valid sequential tests (mSPRT), non-inferiority
guardrails and team-draft interleaving.

Reading an A/B test from the event log: :class:`ExperimentSpec` (arms, metrics, primary, guardrails),
:func:`analyze` (per-unit data aggregated in DuckDB, effects from the statistics above, validity checks,
the daily cumulative effect with always-valid inference), :func:`decide` and :func:`promote_on_ship`.

>>> d = design(MeanMetric(sigma=1.0), mde=0.1, daily_units=1000)
>>> d.n_per_arm, d.days
((1570, 1570), 4)
"""

from __future__ import annotations

from loopline.experiments._analysis import ArmSummary, ExperimentAnalysis, GuardrailCheck, MetricEffect, analyze
from loopline.experiments._cuped import CovariateUnusable, CupedResult, cuped, cuped_ratio
from loopline.experiments._decision import Decision, decide, promote_on_ship
from loopline.experiments._definition import CupedSpec, ExperimentSpec, GuardrailSpec, MetricSpec
from loopline.experiments._design import (
    Design,
    MeanMetric,
    Metric,
    ProportionMetric,
    RatioMetric,
    design,
    mde,
    power,
)
from loopline.experiments._effects import (
    Effect,
    RatioEstimate,
    compare_means,
    compare_proportions,
    compare_ratios,
    estimate_ratio,
)
from loopline.experiments._frames import unit_table
from loopline.experiments._guardrails import GuardrailResult, non_inferiority
from loopline.experiments._interleaving import InterleavingResult, credit, preference_test, team_draft
from loopline.experiments._interleaving_logs import analyze_interleaving
from loopline.experiments._multiple import AdjustedPValues, adjust_pvalues
from loopline.experiments._offline import OfflineOnline
from loopline.experiments._sequential import (
    SequentialResult,
    always_valid_p_values,
    confidence_sequence,
    design_mixing_variance,
    msprt,
    msprt_power,
)
from loopline.experiments._series import DailySeries, NoveltyCheck
from loopline.experiments._srm import DailySrm, SrmResult, srm, srm_by_day
from loopline.experiments._traffic import Enrolment, Traffic, fit_enrolment, recent_traffic
from loopline.experiments._validity import AACheck, CalibrationCheck, Validity, check_assignments

__all__ = [
    "AACheck",
    "AdjustedPValues",
    "ArmSummary",
    "CalibrationCheck",
    "CovariateUnusable",
    "CupedResult",
    "CupedSpec",
    "DailySeries",
    "DailySrm",
    "Decision",
    "Design",
    "Effect",
    "Enrolment",
    "ExperimentAnalysis",
    "ExperimentSpec",
    "GuardrailCheck",
    "GuardrailResult",
    "GuardrailSpec",
    "InterleavingResult",
    "MeanMetric",
    "Metric",
    "MetricEffect",
    "MetricSpec",
    "NoveltyCheck",
    "OfflineOnline",
    "ProportionMetric",
    "RatioEstimate",
    "RatioMetric",
    "SequentialResult",
    "SrmResult",
    "Traffic",
    "Validity",
    "adjust_pvalues",
    "always_valid_p_values",
    "analyze",
    "analyze_interleaving",
    "check_assignments",
    "compare_means",
    "compare_proportions",
    "compare_ratios",
    "confidence_sequence",
    "credit",
    "cuped",
    "cuped_ratio",
    "decide",
    "design",
    "design_mixing_variance",
    "estimate_ratio",
    "fit_enrolment",
    "mde",
    "msprt",
    "msprt_power",
    "non_inferiority",
    "power",
    "preference_test",
    "promote_on_ship",
    "recent_traffic",
    "srm",
    "srm_by_day",
    "team_draft",
    "unit_table",
]
