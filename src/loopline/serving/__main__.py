"""``python -m loopline.serving --workspace WS --model NAME ...``: the server, from a shell (``_server.main``)."""

from __future__ import annotations

import sys

from loopline.serving._server import main

sys.exit(main())
