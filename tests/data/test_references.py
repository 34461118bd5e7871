"""Every name in the spec is checked against the table a run sees, before the run starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loopline import SpecError
from loopline.data import check_references, prepare
from loopline.spec import ProblemSpec
from tests.conftest import customers_spec, make_customers

COLUMNS = "customer_id, snapshot_at, tenure_months, support_tickets, plan, country, churned"


def _spec(tmp_path: Path, **over: Any) -> ProblemSpec:
    return ProblemSpec.from_dict(customers_spec(tmp_path / "customers.csv", **over), base_dir=tmp_path)


def _frame() -> pd.DataFrame:
    return make_customers(200)


def _message(tmp_path: Path, **over: Any) -> str:
    with pytest.raises(SpecError) as info:
        check_references(_spec(tmp_path, **over), _frame())
    return str(info.value)


def test_a_spec_whose_names_all_exist_passes(tmp_path: Path) -> None:
    check_references(_spec(tmp_path, slices=["plan", "country"], features={
        "include": ["tenure_months", "plan"], "exclude": ["country"], "known_after": ["support_tickets"],
        "types": {"plan": "categorical"}}, models={"lightgbm": {"num_leaves": 7, "n_estimators": 50}}), _frame())


@pytest.mark.parametrize(("over", "expected"), [
    ({"slices": ["plan", "contry"]}, "loopline.yaml, slices[1]: no column 'contry'; did you mean 'country'?"),
    ({"sensitive": ["Country"]}, "loopline.yaml, sensitive[0]: no column 'Country'; did you mean 'country'?"),
    ({"features": {"known_after": ["tenure_month"]}},
     "loopline.yaml, features.known_after[0]: no column 'tenure_month'; did you mean 'tenure_months'?"),
    ({"features": {"exclude": ["plan", "suport_tickets"]}},
     "loopline.yaml, features.exclude[1]: no column 'suport_tickets'; did you mean 'support_tickets'?"),
    ({"features": {"include": ["tenure"]}},
     "loopline.yaml, features.include[0]: no column 'tenure'; did you mean 'tenure_months'?"),
    ({"features": {"types": {"plans": "categorical"}}},
     "loopline.yaml, features.types.plans: no column 'plans'; did you mean 'plan'?"),
    ({"slices": ["zzzz"]}, "loopline.yaml, slices[0]: no column 'zzzz'\n"),
])
def test_a_misspelt_column_is_named_with_its_key_and_a_suggestion(tmp_path: Path, over: dict[str, Any],
                                                                    expected: str) -> None:
    message = _message(tmp_path, **over)
    assert expected in message
    assert message.endswith(f"The table has columns {COLUMNS}.")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = _message(tmp_path, slices=["contry"], features={"known_after": ["churn"]},
                       models={"lightgbm": {"num_leave": 7}})
    assert message.splitlines() == [
        "loopline.yaml, slices[0]: no column 'contry'; did you mean 'country'?",
        "loopline.yaml, features.known_after[0]: no column 'churn'; did you mean 'churned'?",
        "loopline.yaml, models.lightgbm.num_leave: not a LightGBM parameter; did you mean 'num_leaves'?",
        f"The table has columns {COLUMNS}.",
    ]


@pytest.mark.parametrize(("rule", "expected"), [
    ("ln(1 + suport_tickets)", "Referenced column \"suport_tickets\" not found .*; did you mean 'support_tickets'\\?"),
    ("plan * 2", r"cannot be evaluated: .*(Could not convert string|No function matches)"),
    ("2 * churned", "uses the label column 'churned'"),
    ("CASE WHEN plan = 'gold' THEN 1 END", "is null \\(or infinite\\) in every row of the table"),
    ("support_tickets; SELECT 1", "is not one SQL expression"),
    ("(SELECT count(*) FROM read_csv('/etc/passwd'))", "is refused: reading or writing files is not allowed"),
])
def test_the_rule_is_bound_against_the_table(tmp_path: Path, rule: str, expected: str) -> None:
    with pytest.raises(SpecError, match=f"^loopline\\.yaml, baseline\\.rule .*{expected}"):
        check_references(_spec(tmp_path, baseline={"rule": rule}), _frame())


def test_prepare_checks_the_names_against_the_assembled_table(tmp_path: Path) -> None:
    make_customers(3000).to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(SpecError, match=r"slices\[0\]: no column 'contry'; did you mean 'country'\?"):
        prepare(_spec(tmp_path, slices=["contry"]))
