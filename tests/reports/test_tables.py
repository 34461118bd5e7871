from __future__ import annotations

from dataclasses import replace

from loopline.evaluation import MetricValue, Mistake, ModelScores, SliceRow
from loopline.reports._diagnostics import explanation_tables, mistakes_table, slice_table
from loopline.reports._tables import (
    best_names,
    confusion_table,
    facts_table,
    lift_table,
    metrics_table,
    ordered_scores,
    splits_table,
)
from tests.reports.samples import SPLITS, binary_evaluation, regression_evaluation


def test_best_follows_each_metrics_direction() -> None:
    assert best_names("log_loss", {"a": 0.2, "b": 0.3}) == {"a"}
    assert best_names("roc_auc", {"a": 0.7, "b": 0.8}) == {"b"}
    assert best_names("calibration_ratio", {"a": 0.9, "b": 1.05, "c": 1.3}) == {"b"}
    assert best_names("rmse", {"a": 1.0, "b": 1.0, "c": 2.0}) == {"a", "b"}
    assert best_names("roc_auc", {"a": float("nan"), "b": 0.6}) == set()


def test_metrics_table_orders_scorers_and_metrics_and_marks_the_best() -> None:
    evaluation = binary_evaluation()
    assert [s.name for s in ordered_scores(evaluation)] == [
        "lightgbm", "logistic", "constant", "heuristic", "true_probability"]
    table = metrics_table(evaluation)
    assert [h.text for h in table.headers] == ["metric", "lightgbm", "logistic", "constant", "heuristic",
                                               "true_probability"]
    first = [row[0].text for row in table.rows]
    assert first[:4] == ["log-loss", "ROC AUC", "PR AUC", "Brier score"]
    by_metric = {row[0].text: row for row in table.rows}
    log_loss = by_metric["log-loss"]
    assert (log_loss[1].text, log_loss[1].note, log_loss[1].mark) == ("0.170", "[0.168, 0.172]", "best")
    # the reference's AUC (0.812) is higher, but references are context, not competitors
    assert [c.mark for c in by_metric["ROC AUC"][1:]] == ["best", "", "", "", ""]
    assert by_metric["ROC AUC"][5].text == "0.812"
    assert [c.mark for c in by_metric["ECE"][1:]] == ["", "", "best", "", ""]
    assert [c.mark for c in by_metric["calibration ratio"][1:]] == ["", "", "best", "", ""]
    assert by_metric["precision"][3].text == "n/a"
    assert by_metric["Brier score"][5].text == "—"


def test_lift_table_shows_the_given_relative_improvements() -> None:
    table = lift_table(binary_evaluation())
    assert table is not None
    assert [h.text for h in table.headers] == ["metric", "over constant", "over heuristic"]
    assert [[c.text for c in row] for row in table.rows] == [
        ["log-loss", "+11.2%", "+24.4%"], ["ROC AUC", "+58.2%", "+23.4%"], ["PR AUC", "+342.0%", "+140.7%"],
        ["Brier score", "+7.1%", "+13.8%"]]
    assert "n/a" not in table.note
    worse = replace(regression_evaluation(), lift={"mean": {"rmse": -0.05, "mae": float("nan")}})
    table = lift_table(worse)
    assert table is not None
    assert [(r[1].text, r[1].mark) for r in table.rows] == [("-5.0%", "neg"), ("n/a", "")]
    assert table.note.endswith("n/a: undefined, as when a value is missing.")
    assert lift_table(replace(worse, lift={})) is None


def test_lift_table_shows_differences_where_a_percentage_would_mean_nothing() -> None:
    found = replace(regression_evaluation(), improvement={"mean": {"rmse": 3.76, "mae": 3.88, "r2": 0.412}})
    table = lift_table(found)
    assert table is not None
    assert [[(c.text, c.mark) for c in row] for row in table.rows] == [
        [("RMSE", "primary"), ("+23.4%", "pos")], [("MAE", ""), ("+30.1%", "pos")], [("R²", ""), ("+0.412", "pos")]]
    assert "%" not in table.rows[2][1].text
    assert "differences in the metric's own units" in table.note
    binary = binary_evaluation()
    worse_ece = {"constant": {"ece": -0.0121, "calibration_ratio": -0.0606}}
    table = lift_table(replace(binary, lift={"constant": {"log_loss": 0.112}}, improvement=worse_ece))
    assert table is not None
    assert [[c.text for c in row] for row in table.rows] == [
        ["log-loss", "+11.2%"], ["ECE", "-0.012"], ["calibration ratio", "-0.061"]]
    assert table.rows[1][1].mark == "neg"


def test_confusion_table_puts_actual_classes_in_rows() -> None:
    table = confusion_table({"tn": 7230, "fp": 330, "fn": 263, "tp": 177}, threshold=0.2137)
    assert table is not None
    assert table.caption == "Confusion matrix at threshold 0.214"
    assert [[c.text for c in row] for row in table.rows] == [
        ["actual positive", "177", "263"], ["actual negative", "330", "7,230"]]
    assert confusion_table({}, threshold=None) is None
    odd = confusion_table({"a": 1}, threshold=None)
    assert odd is not None and [[c.text for c in row] for row in odd.rows] == [["a", "1"]]


def test_splits_and_facts_tables() -> None:
    table = splits_table(SPLITS, task="binary", current="test")
    assert table is not None
    assert table.row_marks == ("", "", "current")
    assert [c.text for c in table.rows[2]] == ["test", "8,000", SPLITS[2].start.replace("T", " "),
                                               SPLITS[2].end.replace("T", " "), "5.50%", "2,950"]
    ranking = splits_table(SPLITS, task="ranking", current="test")
    assert ranking is not None and ranking.headers[4].text == "mean relevance" and ranking.rows[2][4].text == "0.055"
    assert splits_table((), task="binary", current="test") is None

    evaluation = binary_evaluation()
    facts = facts_table(evaluation, {"spec hash": "abc"})
    assert facts is not None
    assert [[c.text for c in row] for row in facts.rows] == [["spec hash", "abc"], ["decision threshold", "0.214"]]
    given = facts_table(evaluation, {"decision threshold": "0.2137"})
    assert given is not None and len(given.rows) == 1
    assert facts_table(regression_evaluation(), {}) is None


def test_slices_are_ranked_by_the_low_end_of_the_gap_with_the_worst_highlighted() -> None:
    evaluation = binary_evaluation()
    table = slice_table(evaluation.slices, primary="log_loss", task="binary", worst=evaluation.worst_slices)
    assert [(r[0].text, r[1].text) for r in table.rows] == [
        ("plan", "basic"), ("country", "us"), ("country", "de"), ("plan", "pro"), ("plan", "team"),
        ("country", "(missing)")]  # the 12-row slice has the largest gap but is too small to judge: last
    assert table.row_marks == ("worst", "worst", "", "", "", "")
    assert [h.text for h in table.headers][-2:] == ["gap", "verdict"]
    assert [(r[-2].text, r[-2].note, r[-2].mark) for r in table.rows][:2] == [
        ("+0.031", "[0.019, 0.044]", "neg"), ("+0.012", "[0.0010, 0.024]", "neg")]
    assert [r[-1].text for r in table.rows] == ["worse than overall", "worse than overall", "within noise",
                                               "better than overall", "better than overall", "too small to judge"]
    assert table.rows[-1][-1].mark == "muted" and table.rows[-1][-2].note == ""
    many = [SliceRow("c", str(i), 100, None, {"accuracy": 0.5}, float(i)) for i in range(50)]
    capped = slice_table(many, primary="accuracy", task="multiclass", limit=40)
    assert [h.text for h in capped.headers] == ["column", "value", "rows", "accuracy", "gap", "verdict"]
    assert len(capped.rows) == 40 and capped.rows[0][1].text == "49" and capped.rows[0][-1].text == "no interval"
    assert capped.note == "10 more slices with smaller gaps are in the JSON twin."


def test_only_a_handful_of_mistakes_and_explanations_are_shown() -> None:
    mistakes = [Mistake(i, 0.9, 0.0, {"plan": "basic"}) for i in range(14)]
    table = mistakes_table(mistakes)
    assert len(table.rows) == 10
    assert table.note == "4 more in the JSON twin."
    assert [c.text for c in table.rows[0]] == ["0", "0.900", "0", "basic"]
    assert [h.numeric for h in table.headers] == [True, True, True, False]
    numbers = mistakes_table([Mistake(1, 0.1, 1.0, {"tenure": "12.5", "plan": "pro"}),
                              Mistake(2, 0.2, 1.0, {"tenure": "", "plan": "7"})])
    assert [h.numeric for h in numbers.headers][3:] == [True, False]
    tables = explanation_tables(binary_evaluation().explanations)
    assert tables[0].caption == "Row 101 · prediction 0.912 · label 1"
    assert [(r[0].text, r[1].text, r[1].mark, r[1].bar) for r in tables[0].rows][:2] == [
        ("tickets_30d", "+1.210", "pos", 1.0), ("tenure_months", "-0.430", "neg", 0.43 / 1.21)]
    assert tables[2].caption == "Row 5120 · prediction 0.480"


def test_mistakes_show_the_entity_and_never_a_blank_cell() -> None:
    table = mistakes_table(binary_evaluation().mistakes, entity="customer_id")
    assert [h.text for h in table.headers] == ["customer_id", "prediction", "label", "plan", "tickets_30d", "tenure",
                                               "country"]
    first, second = ([c.text for c in row] for row in table.rows[:2])
    assert first == ["cust-4410", "0.970", "0", "basic", "9", "4", "not among this row's top features"]
    assert second == ["cust-4417", "0.950", "0", "basic", "8", "not among this row's top features", "us"]
    assert table.rows[0][0].title == "row 7001 of the split"
    assert all(c.text.strip() for row in table.rows for c in row)
    assert [h.numeric for h in table.headers] == [False, True, True, False, True, True, False]
    mixed = mistakes_table([Mistake(3, 0.9, 0.0, {"a": "1"}, entity="u1"), Mistake(4, 0.8, 0.0, {"a": "2"})])
    assert [r[0].text for r in mixed.rows] == ["u1", "row 4"] and mixed.headers[0].text == "entity"


def test_missing_scores_show_a_dash() -> None:
    evaluation = replace(regression_evaluation(), scores=[
        ModelScores("linear", "model", {"rmse": MetricValue(1.0)}),
        ModelScores("mean", "baseline", {"mae": MetricValue(2.0)}),
    ])
    table = metrics_table(evaluation)
    assert [[c.text for c in row] for row in table.rows] == [["RMSE", "1.000", "—"], ["MAE", "—", "2.000"]]
