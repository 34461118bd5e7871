from __future__ import annotations

from dataclasses import replace

from loopline.evaluation import MetricValue, ModelScores, PairedDifference
from loopline.reports._headline import champion_sentence, constant_baseline, headline
from tests.reports.samples import binary_evaluation, regression_evaluation


def test_binary_headline_reads_as_a_sentence() -> None:
    h = headline(binary_evaluation())
    assert h.sentence == "log-loss 0.170 [0.168, 0.172], 11.2% better than the constant baseline (0.191)"
    assert h.comparison == "Beats all 2 baselines on log-loss."
    assert h.good is True


def test_regression_headline_names_a_baseline_that_is_not_constant() -> None:
    h = headline(regression_evaluation())
    assert h.sentence == "RMSE 12.34 [11.93, 12.75], 23.4% better than the baseline 'mean' (16.10)"
    assert h.comparison == "Beats the baseline on RMSE."


def test_a_model_worse_than_the_baseline_says_so() -> None:
    evaluation = replace(
        regression_evaluation(),
        scores=[ModelScores("linear", "model", {"rmse": MetricValue(17.0)}),
                ModelScores("mean", "baseline", {"rmse": MetricValue(16.0)}),
                ModelScores("median", "baseline", {"rmse": MetricValue(18.0)})],
        lift={"mean": {"rmse": -0.0625}},
    )
    h = headline(evaluation)
    assert h.sentence == "RMSE 17.00, 6.2% worse than the baseline 'mean' (16.00)"
    assert h.good is False
    assert h.comparison == "Does not beat mean on RMSE (1 of 2 beaten)."


def test_without_lift_the_verdict_compares_without_a_percentage() -> None:
    evaluation = replace(regression_evaluation(), lift={})
    assert headline(evaluation).verdict == "better than the baseline 'mean' (16.10)"
    same = replace(evaluation, scores=[ModelScores("linear", "model", {"rmse": MetricValue(3.0)}),
                                       ModelScores("constant_mean", "baseline", {"rmse": MetricValue(3.0)})])
    assert headline(same).verdict == "no better than the constant baseline (3.000)"


def test_no_baseline_and_no_primary_metric() -> None:
    alone = replace(regression_evaluation(), scores=[regression_evaluation().scores[0]], lift={})
    assert headline(alone).sentence == "RMSE 12.34 [11.93, 12.75], no baseline was evaluated"
    assert headline(alone).good is None
    missing = replace(alone, primary_metric="mae", scores=[ModelScores("linear", "model", {})])
    assert headline(missing).sentence == "MAE n/a, linear has no MAE in this evaluation"


def test_the_constant_baseline_is_preferred_over_the_first_one() -> None:
    evaluation = binary_evaluation()
    reordered = replace(evaluation, scores=[s for s in evaluation.scores if s.name != "constant"]
                        + [evaluation.scores_of("constant")])
    found = constant_baseline(reordered)
    assert found is not None and found.name == "constant"


def test_the_champion_comparison_says_better_worse_or_no_clear_difference() -> None:
    h = headline(binary_evaluation())
    assert h.champion == ("Better than the current champion (champion v3: log-loss 0.176): improvement +0.006, "
                          "95% paired interval [+0.003, +0.009].") and h.champion_good is True
    worse = PairedDifference("champion v3", "roc_auc", 0.71, 0.74, -0.03, -0.045, -0.012)
    assert champion_sentence(worse) == (
        "Worse than the current champion (champion v3: ROC AUC 0.740): improvement -0.030, "
        "95% paired interval [-0.045, -0.012].", False)
    unsure = PairedDifference("champion v3", "rmse", 12.3, 12.4, 0.1, -0.2, 0.4)
    assert champion_sentence(unsure)[0].startswith("No clear difference from the current champion (champion v3: RMSE")
    assert champion_sentence(unsure)[1] is None
    assert champion_sentence(None) == ("", None)
    assert headline(regression_evaluation()).champion == ""


def test_docstring_examples() -> None:
    import doctest

    from loopline.reports import _headline

    result = doctest.testmod(_headline)
    assert result.failed == 0 and result.attempted > 0
