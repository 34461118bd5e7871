"""``python -m loopline.cli``: the ``loopline`` command, e.g. under ``python -X importtime``."""

from __future__ import annotations

from loopline.cli import main

main()
