"""The monitoring package's public names: every one importable, the list sorted."""

from __future__ import annotations

import loopline.monitoring as monitoring


def test_public_names_are_exported_and_sorted() -> None:
    assert monitoring.__all__ == sorted(monitoring.__all__)
    for name in monitoring.__all__:
        assert getattr(monitoring, name) is not None, name
