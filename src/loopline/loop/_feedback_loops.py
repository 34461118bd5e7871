"""What the continual demo's feedback-loop guards buy, each measured from the log and set beside the simulator's truth.

- **The holdout's total effect.** A share of units is shown the baseline order, whatever model is champion: the
  click-through rate of everyone else against theirs is the effect of the whole system (models, retraining and
  all), measured as an experiment measures a ratio (per-unit delta method, :func:`loopline.experiments
  .compare_ratios`), beside the true effect (the mean true click probability of each group's impressions).
- **Exploration.** A share of units sees each feed in a random order. Only there does the click rate by position
  measure the examination effect alone: in served traffic the best items sit at the top, so position and appeal
  move together and the drop with position looks steeper than it is. Both curves are set beside the simulator's
  examination probability ``1 / (1 + position) ** position_bias`` (each relative to position 0).
- **Position-debiased training.** Two models are fitted on the same recent days of the served log: one that
  never sees the position (what the demo's models do) and one trained with it and holding it at 0 when predicting
  (``features.fixed_at_serving``). Each is compared with the simulator's true engagement probability without the
  position effect on the held-out day (Spearman's rank correlation), which is what a ranking should follow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from loopline.data import prepare
from loopline.events import EventLog
from loopline.experiments import compare_ratios
from loopline.models import train_candidates
from loopline.serving import EXPLORE_ARM, HOLDOUT_ARM
from loopline.simulate import DaySummary, SimConfig
from loopline.spec import ProblemSpec

POSITIONS = 10
TRAIN_DAYS = 7
MAX_ROWS = 150_000


def total_effect(log: EventLog, deployment: str, summaries: list[DaySummary], *, since: datetime) -> dict[str, Any]:
    """The system's click-through rate against the holdout's: measured (relative, 95% CI) and true."""
    frame = _served(log, deployment, since)
    clicks = _clicks(log, since)
    frame = frame.merge(clicks, on=["request_id", "item_id"], how="left")
    frame["clicked"] = frame["clicked"].fillna(0)
    per_unit = frame.groupby(["unit_id", "arm"], sort=False).agg(clicks=("clicked", "sum"), shown=("clicked", "size"))
    per_unit = per_unit.reset_index()
    held = per_unit[per_unit["arm"] == HOLDOUT_ARM]
    served = per_unit[~per_unit["arm"].isin([HOLDOUT_ARM, EXPLORE_ARM])]
    if held.empty or served.empty:
        return {}
    effect = compare_ratios((held["clicks"], held["shown"]), (served["clicks"], served["shown"]), metric="ctr")
    true = _true_ctr(summaries, since)
    relative_true = true["served"] / true["holdout"] - 1 if true["holdout"] else float("nan")
    return {"holdout_units": len(held), "served_units": len(served),
            "measured_relative": effect.relative, "measured_ci": effect.relative_ci, "p_value": effect.p_value,
            "true_relative": relative_true, "true_ctr": true}


def position_curves(log: EventLog, deployment: str, config: SimConfig, *, since: datetime) -> dict[str, Any]:
    """Click rate by position relative to position 0: among exploring units (random order), among units the model
    served, and the simulator's examination probability."""
    frame = _served(log, deployment, since).merge(_clicks(log, since), on=["request_id", "item_id"], how="left")
    frame["clicked"] = frame["clicked"].fillna(0)
    frame = frame[frame["position"].between(0, POSITIONS - 1)]

    def curve(rows: pd.DataFrame) -> list[float | None]:
        rates = rows.groupby("position")["clicked"].mean().reindex(range(POSITIONS))
        top = rates.iloc[0]
        return [None if not np.isfinite(v) or not top else float(v / top) for v in rates.to_numpy()]

    explored = frame[frame["arm"] == EXPLORE_ARM]
    served = frame[~frame["arm"].isin([HOLDOUT_ARM, EXPLORE_ARM])]
    truth = [float((1 + p) ** -config.position_bias) for p in range(POSITIONS)]
    return {"explore": curve(explored) if len(explored) else [], "served": curve(served), "truth": truth,
            "explore_impressions": len(explored)}


def debiased_training(spec: dict[str, Any], base: ProblemSpec, truth: pd.DataFrame, *, end: datetime,
                      seed: int = 0) -> dict[str, Any]:
    """Two models on the last :data:`TRAIN_DAYS` days before ``end``, without and with the position held at 0,
    each ranked against the true position-blind engagement probability on the held-out last day."""
    found: dict[str, Any] = {}
    variants = {"position-blind": {}, "position held at 0": {"fixed_at_serving": {"position": 0}}}
    for label, change in variants.items():
        features = dict(spec["features"])
        if change:
            features["exclude"] = [c for c in features["exclude"] if c != "position"]
            features.update(change)
        data = {**spec, "name": "feed-debias", "features": features, "sampling": {"max_rows": MAX_ROWS},
                "split": {"valid_start": (end - timedelta(days=2)).isoformat(),
                          "test_start": (end - timedelta(days=1)).isoformat()}, "seed": seed}
        variant = ProblemSpec.from_dict(data, base_dir=base.base_dir)
        prepared = prepare(variant, since=end - timedelta(days=TRAIN_DAYS), until=end)
        model = train_candidates(prepared.splits, variant)[0]
        test = prepared.splits.test
        joined = test[["request_id", "item_id"]].merge(truth, on=["request_id", "item_id"], how="left")
        predicted = model.predict(test)
        found[label] = {"spearman": float(spearmanr(predicted, joined["p_engage"]).statistic),
                        "rows": len(test)}
    return found


def _served(log: EventLog, deployment: str, since: datetime) -> pd.DataFrame:
    frame = log.read("exposures", start=since, columns=["ts", "deployment", "request_id", "unit_id", "item_id",
                                                         "arm", "served", "position"])
    frame = frame[(frame["deployment"] == deployment) & frame["served"].fillna(True).astype(bool)]
    return frame.reset_index(drop=True)


def _clicks(log: EventLog, since: datetime) -> pd.DataFrame:
    feedback = log.read("feedback", start=since, columns=["request_id", "item_id", "event"])
    clicked = feedback[feedback["event"] == "click"][["request_id", "item_id"]].drop_duplicates()
    return clicked.assign(clicked=1.0)


def _true_ctr(summaries: list[DaySummary], since: datetime) -> dict[str, float]:
    held = [0.0, 0]
    served = [0.0, 0]
    for day in summaries:
        if day.start < since:
            continue
        for arm, found in day.arms.items():
            if arm == EXPLORE_ARM:
                continue
            into = held if arm == HOLDOUT_ARM else served
            into[0] += found.true_p * found.impressions
            into[1] += found.impressions
    return {"holdout": held[0] / held[1] if held[1] else float("nan"),
            "served": served[0] / served[1] if served[1] else float("nan")}
