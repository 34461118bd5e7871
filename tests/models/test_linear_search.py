"""The linear models' search over C: every C fitted for real, the grid widened at an edge, the pick noted."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from loopline.models._linear import C_RANGE, GRID, fit_linear
from loopline.models._targets import prepare_targets
from tests.models.samples import make_frame, make_spec, make_splits


@pytest.mark.slow
def test_every_c_gives_its_own_model_on_a_large_table() -> None:
    """60,000 training rows: the penalty's change between grid values is below scikit-learn's default gradient
    tolerance, so fits warm-started from the previous C stopped at once and every C scored bit-identically."""
    splits = make_splits("binary", n=100_000, seed=3)
    spec = make_spec("binary")
    fitted = fit_linear(prepare_targets(splits, spec), splits, spec)
    losses = fitted.params["valid_loss_by_C"]
    assert {str(c) for c in GRID} <= set(losses)
    assert len(set(losses.values())) == len(losses), losses  # no two C alike
    assert fitted.params["converged"]
    # The kept model is scikit-learn's own fit at the chosen C, to a tight tolerance.
    targets = prepare_targets(splits, spec)
    x = fitted.scorer.preprocessor.transform(targets.train)
    reference = LogisticRegression(C=fitted.params["C"], tol=1e-10, max_iter=5000).fit(x, targets.y_train)
    np.testing.assert_allclose(fitted.scorer.coef[0], reference.coef_[0], atol=1e-5)


def test_the_grid_widens_while_the_best_c_is_on_its_strong_edge_and_says_so_at_the_limit() -> None:
    frame = make_frame("binary", 1500, seed=1)
    frame["y"] = np.random.default_rng(7).integers(0, 2, len(frame))  # labels unrelated to the features
    splits = make_splits("binary", frame=frame)
    spec = make_spec("binary")
    params = fit_linear(prepare_targets(splits, spec), splits, spec).params
    assert params["grid"] == [C_RANGE[0], 1e-3, *GRID]  # widened down to the limit, where the best still sits
    assert params["C"] == C_RANGE[0]
    assert params["notes"] == ["linear: the best regularisation C=0.0001 is the strongest searched (0.0001 to 10): "
                               "its features barely predict the label on validation; check their encoding, or "
                               "whether the validation period differs from training"]
    losses = {float(c): v for c, v in params["valid_loss_by_C"].items()}
    assert params["C"] == min(losses, key=lambda c: (losses[c], c))


def test_the_grid_widens_on_the_weak_edge_without_a_note() -> None:
    splits = make_splits("binary", n=2000, seed=0)  # four features, a strong signal: least penalty is best
    spec = make_spec("binary")
    params = fit_linear(prepare_targets(splits, spec), splits, spec).params
    assert max(params["grid"]) > max(GRID) and params["C"] > max(GRID) and "notes" not in params
