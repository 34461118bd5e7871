"""compute_metrics: dispatch by task and the checks every task shares."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopline._errors import EvaluationError
from loopline.evaluation import compute_metrics
from loopline.spec import METRICS


@pytest.mark.parametrize(
    ("task", "y", "prediction", "extra"),
    [
        ("binary", [0, 1, 1, 0], [0.2, 0.8, 0.6, 0.5], {}),
        ("regression", [1.0, 2.0, 3.0], [1.5, 2.0, 2.0], {}),
        ("multiclass", [0, 1, 2], [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], {}),
        ("ranking", [1, 0, 0, 1], [0.9, 0.1, 0.4, 0.3], {"groups": np.array([1, 1, 2, 2])}),
    ],
)
def test_each_task_returns_its_metric_names(task: Any, y: list[Any], prediction: list[Any],
                                            extra: dict[str, Any]) -> None:
    found = compute_metrics(task, np.array(y), np.array(prediction), **extra)
    assert tuple(found) == METRICS[task]
    assert all(isinstance(v, float) for v in found.values())


def test_shared_checks() -> None:
    y, p = np.array([0, 1]), np.array([0.3, 0.6])
    with pytest.raises(EvaluationError, match="unknown task 'survival'"):
        compute_metrics("survival", y, p)  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match="k must be a positive number of items, got 0"):
        compute_metrics("ranking", y, p, groups=np.array([1, 1]), k=0)
    with pytest.raises(EvaluationError, match=r"decision threshold of the model must lie in \[0, 1\], got 1.5"):
        compute_metrics("binary", y, p, threshold=1.5)
    with pytest.raises(EvaluationError, match=r"groups of the data must hold one query id per row \(2\)"):
        compute_metrics("ranking", y, p, groups=np.array([1, 1, 1]))
