"""One rule for every name a user gives loopline (models, experiments, deployments, arms, ...).

Names end up in file paths (``artifacts/models/<model>/``, ``reports/experiments/<experiment>/``) and
in database keys, so they are plain words: 1-100 letters, digits, ``_``, ``.`` or ``-``, starting with
a letter or digit. No separators, no spaces, never ``..``.

>>> check_name("churn-v2", what="model", error=LooplineError)
'churn-v2'
>>> check_name("../../escape", what="experiment", error=LooplineError)
Traceback (most recent call last):
...
loopline._errors.LooplineError: experiment name '../../escape' is not usable: expected 1-100 letters, digits, '_', \
'.' or '-', starting with a letter or digit (e.g. 'churn'), so that it is safe as a folder name. Rename it.
"""

from __future__ import annotations

import re

from loopline._errors import LooplineError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
NAME_RULE = "1-100 letters, digits, '_', '.' or '-', starting with a letter or digit"


def is_name(value: object) -> bool:
    """Whether ``value`` follows the name rule."""
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None


def check_name(value: object, *, what: str, error: type[LooplineError], example: str = "churn") -> str:
    """``value`` when it follows the name rule; otherwise ``error`` naming ``what`` it names and the rule."""
    if not is_name(value):
        raise error(
            f"{what} name {value!r} is not usable: expected {NAME_RULE} (e.g. {example!r}), so that it is safe as "
            "a folder name. Rename it."
        )
    return str(value)
