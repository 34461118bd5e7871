"""Experiments: design (power, sample size, MDE, duration) and analysis of A/B tests.

Pure statistics on numpy arrays, returning frozen dataclasses with ``to_dict()``:
effects with intervals (Welch t, proportion z, delta-method ratios), CUPED, sample ratio mismatch,
Holm and Benjamini-Hochberg adjustments, always-valid sequential tests (mSPRT), non-inferiority
guardrails and team-draft interleaving.

>>> d = design(MeanMetric(sigma=1.0), mde=0.1, daily_units=1000)
>>> d.n_per_arm, d.days
((1570, 1570), 4)
"""

from __future__ import annotations

from loopline.experiments._cuped import CupedResult, cuped
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
from loopline.experiments._guardrails import GuardrailResult, non_inferiority
from loopline.experiments._interleaving import InterleavingResult, credit, preference_test, team_draft
from loopline.experiments._multiple import AdjustedPValues, adjust_pvalues
from loopline.experiments._sequential import (
    SequentialResult,
    always_valid_p_values,
    confidence_sequence,
    msprt,
)
from loopline.experiments._srm import DailySrm, SrmResult, srm, srm_by_day

__all__ = [
    "AdjustedPValues",
    "CupedResult",
    "DailySrm",
    "Design",
    "Effect",
    "GuardrailResult",
    "InterleavingResult",
    "MeanMetric",
    "Metric",
    "ProportionMetric",
    "RatioEstimate",
    "RatioMetric",
    "SequentialResult",
    "SrmResult",
    "adjust_pvalues",
    "always_valid_p_values",
    "compare_means",
    "compare_proportions",
    "compare_ratios",
    "confidence_sequence",
    "credit",
    "cuped",
    "design",
    "estimate_ratio",
    "mde",
    "msprt",
    "non_inferiority",
    "power",
    "preference_test",
    "srm",
    "srm_by_day",
    "team_draft",
]
