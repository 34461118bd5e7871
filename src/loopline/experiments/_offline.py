"""The offline-online gap: each arm's model version, its offline test metrics beside its online result.

The version an arm served is the ``model_version`` on most of its served exposures in the window; it
is looked up in the registry by number (``"3"``, ``"v3"``) or alias. A version the registry does not
know (a heuristic policy, say) is reported with a note and no offline metrics. ``served`` keeps every
version the arm served with its exposures (most first; ``None`` for exposures without a version), so
a promotion can check that the version it ships is the one the arm ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from loopline._errors import LooplineError
from loopline.experiments._effects import Effect
from loopline.experiments._result import ResultDict

if TYPE_CHECKING:
    from loopline.registry import Registry

SPLIT = "test"


@dataclass(frozen=True)
class OfflineOnline(ResultDict):
    """One arm: the version it served, its offline metrics (and their change from control's) and online result."""

    arm: str
    model_version: str | None
    exposure_share: float
    offline: dict[str, float]
    offline_delta: dict[str, float]
    online_metric: str
    online: float
    online_effect: float | None
    online_relative: float | None
    note: str | None
    served: tuple[tuple[str | None, int], ...] = ()


def offline_online(versions: pd.DataFrame, registry: Registry, model_name: str, *, arms: tuple[str, ...],
                   online: dict[str, float], effects: dict[str, Effect], metric: str) -> tuple[OfflineOnline, ...]:
    """Per arm (control first) from ``versions`` rows ``arm, model_version, exposures``."""
    found: dict[str, tuple[str | None, float, dict[str, float], str | None]] = {}
    served: dict[str, tuple[tuple[str | None, int], ...]] = {}
    for arm in arms:
        rows = versions[versions["arm"] == arm].sort_values("exposures", ascending=False, kind="stable")
        served[arm] = tuple((None if label is None or pd.isna(label) else str(label), int(count))
                            for label, count in zip(rows["model_version"], rows["exposures"], strict=True))
        if rows.empty:
            found[arm] = (None, 0.0, {}, "no served exposures in the window")
            continue
        label = rows["model_version"].iloc[0]
        share = float(rows["exposures"].iloc[0] / rows["exposures"].sum())
        if label is None or pd.isna(label):
            found[arm] = (None, share, {}, "exposures carry no model_version")
            continue
        try:
            version = registry.get_version(model_name, str(label))
        except LooplineError as exc:
            found[arm] = (str(label), share, {}, f"not in the registry as '{model_name}': {exc}")
            continue
        note = None if share == 1.0 else f"{1 - share:.1%} of the arm's exposures came from other versions"
        found[arm] = (str(label), share, dict(version.metrics.get(SPLIT, {})), note)
    base = found[arms[0]][2]
    result = []
    for arm in arms:
        label, share, offline, note = found[arm]
        effect = effects.get(arm)
        result.append(OfflineOnline(
            arm=arm, model_version=label, exposure_share=share, offline=offline,
            offline_delta={k: v - base[k] for k, v in offline.items() if k in base} if arm != arms[0] else {},
            online_metric=metric, online=online[arm], online_effect=None if effect is None else effect.absolute,
            online_relative=None if effect is None else effect.relative, note=note, served=served[arm],
        ))
    return tuple(result)
