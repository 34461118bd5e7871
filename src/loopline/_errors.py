"""The error hierarchy.

Every error loopline raises on purpose derives from :class:`LooplineError` and reads like a fix:
what went wrong, where (file, key path, column), what was expected, what was given, and what to do.
Stage errors also inherit the matching built-in so callers can catch them either way. The CLI prints
these without a traceback and exits with code 2.
"""

from __future__ import annotations


class LooplineError(Exception):
    """Base class of every error loopline raises deliberately."""


class SpecError(LooplineError, ValueError):
    """``loopline.yaml`` is missing, malformed or inconsistent."""


class WorkspaceError(LooplineError, ValueError):
    """The workspace or a ``LOOPLINE_*`` setting is unusable."""


class DataError(LooplineError, ValueError):
    """Input data cannot be read or does not fit the spec."""


class FeatureError(LooplineError, ValueError):
    """Feature preprocessing cannot be built or applied."""


class ModelError(LooplineError, ValueError):
    """A model cannot be trained, saved or loaded."""


class IntegrityError(ModelError):
    """A stored artifact does not match its recorded checksum."""


class EvaluationError(LooplineError, ValueError):
    """A metric or evaluation cannot be computed from the given inputs."""


class RegistryError(LooplineError, ValueError):
    """The registry refused an operation (unknown model, version or alias)."""


class EventLogError(LooplineError, ValueError):
    """Event records do not follow the event-log contract."""


class ExperimentError(LooplineError, ValueError):
    """An experiment cannot be designed or analysed from the given inputs."""


class LoopError(LooplineError, ValueError):
    """The continual-learning loop cannot go on as configured (a deployment it cannot change, a policy it cannot
    run)."""


class MonitoringError(LooplineError, ValueError):
    """A monitoring window, reference profile, alert rule or drift statistic cannot be used as given."""


class InputError(LooplineError, ValueError):
    """A request or an input table does not fit a model's schema; ``field`` names the column or JSON field.

    Serving answers it with 422 and this text; batch prediction stops with it before writing anything.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ServingError(LooplineError, ValueError):
    """A deployment, route or server setting cannot be used as given."""


class MissingExtraError(LooplineError, ImportError):
    """An optional dependency is needed; the message says which ``pip install`` fixes it."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional package '{module}'. "
            f"Install it with: pip install 'loopline[{extra}]'"
        )
