"""The problem spec: task, data, label, features, split, metrics, decision costs, slices, serving, monitoring.

>>> spec = ProblemSpec.from_dict({
...     "name": "churn", "task": "binary", "data": {"source": "customers.csv"},
...     "event_time": "signup_at", "label": {"column": "churned"}})
>>> spec.primary_metric
'log_loss'
"""

from __future__ import annotations

from loopline.spec._duration import format_duration, parse_duration
from loopline.spec._load import describe_validation, read_yaml
from loopline.spec._metrics import (
    DEFAULT_PRIMARY,
    DIRECTION,
    METRICS,
    Direction,
    Task,
    at_k,
    describe_direction,
    is_better,
    metric_direction,
    metric_loss,
    ranking_loss,
)
from loopline.spec._metrics_spec import Gain, MetricsSpec, metric_labels
from loopline.spec._monitoring import (
    AlertRule,
    AlertRules,
    DriftSpec,
    MonitoringSpec,
    Operator,
    Severity,
    load_rules,
)
from loopline.spec._retrain import (
    GATES,
    AbGate,
    CanaryGate,
    DecayTrigger,
    GatesSpec,
    JudgeSpec,
    RetrainMode,
    RetrainSpec,
    ShadowGate,
    TriggersSpec,
)
from loopline.spec._serving_spec import FirstStageSpec, ServingSpec
from loopline.spec._spec import (
    HASH_EXCLUDED,
    UNHASHED_AT_DEFAULT,
    BaselineSpec,
    ColumnType,
    DataSpec,
    DecisionSpec,
    EventLabelSpec,
    FeaturesSpec,
    FeatureTableSpec,
    LabelSpec,
    ModelKind,
    ModelsSpec,
    ProblemSpec,
    SamplingSpec,
    SplitSpec,
    TuneSpec,
)

__all__ = [
    "DEFAULT_PRIMARY",
    "DIRECTION",
    "GATES",
    "HASH_EXCLUDED",
    "METRICS",
    "UNHASHED_AT_DEFAULT",
    "AbGate",
    "AlertRule",
    "AlertRules",
    "BaselineSpec",
    "CanaryGate",
    "ColumnType",
    "DataSpec",
    "DecayTrigger",
    "DecisionSpec",
    "Direction",
    "DriftSpec",
    "EventLabelSpec",
    "FeatureTableSpec",
    "FeaturesSpec",
    "FirstStageSpec",
    "Gain",
    "GatesSpec",
    "JudgeSpec",
    "LabelSpec",
    "MetricsSpec",
    "ModelKind",
    "ModelsSpec",
    "MonitoringSpec",
    "Operator",
    "ProblemSpec",
    "RetrainMode",
    "RetrainSpec",
    "SamplingSpec",
    "ServingSpec",
    "Severity",
    "ShadowGate",
    "SplitSpec",
    "Task",
    "TriggersSpec",
    "TuneSpec",
    "at_k",
    "describe_direction",
    "describe_validation",
    "format_duration",
    "is_better",
    "load_rules",
    "metric_direction",
    "metric_labels",
    "metric_loss",
    "parse_duration",
    "ranking_loss",
    "read_yaml",
]
