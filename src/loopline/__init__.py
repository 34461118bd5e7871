"""loopline: the whole life of a production ML model as one loop.

Frame the problem once (:mod:`loopline.spec`), build leakage-free data (:mod:`loopline.data`),
beat honest baselines (:mod:`loopline.models`), evaluate with calibration and slices
(:mod:`loopline.evaluation`), version everything (:mod:`loopline.registry`).
"""

from __future__ import annotations

from loopline._threads import prefer_passive_openmp

prefer_passive_openmp()  # before any OpenMP runtime loads; see loopline._threads

from loopline._errors import (  # noqa: E402
    DataError,
    EvaluationError,
    EventLogError,
    ExperimentError,
    FeatureError,
    InputError,
    IntegrityError,
    LoopError,
    LooplineError,
    MissingExtraError,
    ModelError,
    MonitoringError,
    RegistryError,
    ServingError,
    SpecError,
    WorkspaceError,
)
from loopline._progress import SILENT, Progress  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "SILENT",
    "DataError",
    "EvaluationError",
    "EventLogError",
    "ExperimentError",
    "FeatureError",
    "InputError",
    "IntegrityError",
    "LoopError",
    "LooplineError",
    "MissingExtraError",
    "ModelError",
    "MonitoringError",
    "Progress",
    "RegistryError",
    "ServingError",
    "SpecError",
    "WorkspaceError",
    "__version__",
]
