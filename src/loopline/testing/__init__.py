"""Test helpers for users and for loopline's own tests.

:func:`check_model` asserts that a model honours the :class:`~loopline.models.TrainedModel`
contract: predictions shaped and ranged by task, independent of the other rows, explanations that
add up to the raw score, and a save/load round trip that predicts identically.
"""

from __future__ import annotations

from loopline.testing._check_model import check_model

__all__ = ["check_model"]
