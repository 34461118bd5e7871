"""The headline: the evaluated model's primary metric with its interval, and a plain verdict against
the constant baseline, in words. The relative change is the evaluation's ``lift``, not recomputed.

When the evaluation holds a comparison with the current champion (``Evaluation.champion``), the
headline also says whether the model is better or worse than the champion: "better" or "worse" only
when the 95% interval of the paired difference excludes 0, else "no clear difference"."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.evaluation import Evaluation, MetricValue, ModelScores, PairedDifference
from loopline.reports._format import fmt_interval, fmt_number, fmt_signed, is_number, metric_label
from loopline.reports._tables import best_names

_CONSTANT_HINTS = ("constant", "prior")


@dataclass(frozen=True)
class Headline:
    metric: str  # the reader's name, e.g. "log-loss"
    value: str
    interval: str
    verdict: str  # e.g. "11.2% better than the constant baseline (0.191)"
    comparison: str  # e.g. "Beats all 3 baselines on log-loss."
    good: bool | None  # whether the model beats the constant baseline; None when there is none
    champion: str = ""  # e.g. "Better than the champion (champion v3, 0.181): ..."
    champion_good: bool | None = None  # None when there is no champion or no clear difference

    @property
    def sentence(self) -> str:
        """The headline as one line, e.g. ``log-loss 0.170 [0.168, 0.172], 11.2% better than ...``."""
        text = f"{self.metric} {self.value}" + (f" {self.interval}" if self.interval else "")
        return f"{text}, {self.verdict}" if self.verdict else text


def constant_baseline(evaluation: Evaluation) -> ModelScores | None:
    """The baseline the verdict compares with: one named like a constant/prior baseline, else the first."""
    baselines = [s for s in evaluation.scores if s.role == "baseline"]
    for s in baselines:
        if any(hint in s.name.lower() for hint in _CONSTANT_HINTS):
            return s
    return baselines[0] if baselines else None


def _beats(evaluation: Evaluation, model: MetricValue, other: MetricValue) -> bool | None:
    pair = {"model": model.value, "other": other.value}
    if not all(is_number(v) for v in pair.values()):
        return None
    return best_names(evaluation.primary_metric, pair) == {"model"}


def headline(evaluation: Evaluation) -> Headline:
    primary = evaluation.primary_metric
    label = metric_label(primary, evaluation.metric_labels)
    own = next((s for s in evaluation.scores if s.name == evaluation.model), None)
    value = own.metrics.get(primary) if own is not None else None
    if value is None:
        return Headline(label, "n/a", "", f"{evaluation.model} has no {label} in this evaluation", "", None)
    baseline = constant_baseline(evaluation)
    verdict, good = "no baseline was evaluated", None
    if baseline is not None and primary in baseline.metrics:
        theirs = baseline.metrics[primary]
        good = _beats(evaluation, value, theirs)
        who = ("the constant baseline" if any(h in baseline.name.lower() for h in _CONSTANT_HINTS)
               else f"the baseline '{baseline.name}'")
        change = evaluation.lift.get(baseline.name, {}).get(primary)
        if change is not None and is_number(change) and change != 0:
            verdict = f"{abs(change):.1%} {'better' if change > 0 else 'worse'} than {who} ({fmt_number(theirs.value)})"
        elif good is None:
            verdict = f"not comparable with {who} ({fmt_number(theirs.value)})"
        elif change == 0 or theirs.value == value.value:
            verdict = f"no better than {who} ({fmt_number(theirs.value)})"
        else:
            verdict = f"{'better' if good else 'worse'} than {who} ({fmt_number(theirs.value)})"
    versus, versus_good = champion_sentence(evaluation.champion)
    return Headline(label, fmt_number(value.value), fmt_interval(value.low, value.high), verdict,
                    _comparison(evaluation, value, label), good, versus, versus_good)


def champion_sentence(found: PairedDifference | None) -> tuple[str, bool | None]:
    """The verdict against the champion in words, and whether it is good (None: no clear difference).

    >>> text, good = champion_sentence(PairedDifference("champion v3", "log_loss", 0.170, 0.181, 0.011, 0.004, 0.018))
    >>> good, text[:62]
    (True, 'Better than the current champion (champion v3: log-loss 0.181)')
    >>> text[62:]
    ': improvement +0.011, 95% paired interval [+0.004, +0.018].'
    """
    if found is None:
        return "", None
    label = metric_label(found.metric)
    them = f"the current champion ({found.other}: {label} {fmt_number(found.other_value)})"
    interval = ""
    word, good = "No clear difference from", None
    if found.low is not None and found.high is not None and is_number(found.low) and is_number(found.high):
        interval = f", 95% paired interval [{fmt_signed(found.low)}, {fmt_signed(found.high)}]"
        if found.low > 0:
            word, good = "Better than", True
        elif found.high < 0:
            word, good = "Worse than", False
    elif is_number(found.improvement) and found.improvement != 0:
        word = "Better than" if found.improvement > 0 else "Worse than"
        interval = " (no interval: too few resamples)"
    return f"{word} {them}: improvement {fmt_signed(found.improvement)}{interval}.", good


def _comparison(evaluation: Evaluation, value: MetricValue, label: str) -> str:
    baselines = [s for s in evaluation.scores if s.role == "baseline" and evaluation.primary_metric in s.metrics]
    if not baselines:
        return ""
    lost = [s.name for s in baselines if not _beats(evaluation, value, s.metrics[evaluation.primary_metric])]
    if not lost:
        return (f"Beats the baseline on {label}." if len(baselines) == 1
                else f"Beats all {len(baselines)} baselines on {label}.")
    return f"Does not beat {', '.join(lost)} on {label} ({len(baselines) - len(lost)} of {len(baselines)} beaten)."
