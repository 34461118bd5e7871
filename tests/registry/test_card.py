"""The model card: what it says when the context is rich, and when it is empty."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from pathlib import Path

from loopline.registry import ModelVersion, _card, render_card


def _version(**over: object) -> ModelVersion:
    fields: dict[str, object] = {
        "name": "churn", "version": 4, "run_id": "r1", "artifact_path": Path("/a"), "sha256": "f" * 64,
        "family": "lightgbm", "task": "binary", "features": ("tenure",), "metrics": {"test": {"roc_auc": 0.75}},
        "baselines_beaten": (), "spec_hash": "s", "data_fingerprint": "d", "code_version": "c",
        "created_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "card_path": Path("/a/MODEL_CARD.md"),
        "report_path": None,
    }
    fields.update(over)
    return ModelVersion(**fields)  # type: ignore[arg-type]


def test_an_empty_context_says_what_is_missing() -> None:
    card = render_card(_version())
    for expected in ("# Model card: churn v4", "| created at (UTC) | 2024-05-01T12:00:00+00:00 |",
                     "Not stated. Describe the intended use in loopline.yaml.", "No split summaries were recorded.",
                     "| roc_auc | 0.7500 |", "None: this version did not beat any baseline.",
                     "decision threshold: n/a", "calibration: none", "## Features (1)", "## Caveats\n\nNone recorded."):
        assert expected in card
    assert "Other notes" not in card


def test_cells_cannot_break_the_tables_and_extra_context_is_kept() -> None:
    card = render_card(_version(metrics={"valid": {"a|b": 1.0}, "test": {"c": 2.0}}),
                       {"caveats": "one caveat", "owner": "growth team"})
    assert "| metric | valid | test |" in card
    assert "| a\\|b | 1.0000 | n/a |" in card and "| c | n/a | 2.0000 |" in card
    assert "## Caveats\n\n- one caveat" in card
    assert "## Other notes\n\n- owner: growth team" in card


def test_split_summaries_may_be_objects() -> None:
    class Summary:
        def __init__(self) -> None:
            self.name, self.rows, self.start, self.end, self.label_rate, self.entities = "test", 10, "a", "b", None, 3

    assert "| test | 10 | a | b | n/a | 3 |" in render_card(_version(), {"splits": [Summary()]})


def test_doctests() -> None:
    assert doctest.testmod(_card).failed == 0
