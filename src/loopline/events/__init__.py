"""The event log: exposures, feedback and assignments as append-only Parquet segments by UTC date.

Serving and the simulator write it; experiments, monitoring and retraining read it through DuckDB.
The contract columns of each kind are in :data:`SCHEMAS`; writers may add columns, never drop or
retype these. :func:`assign` maps randomization units to experiment arms deterministically, and
:func:`team_draft` / :func:`team_draft_batch` interleave two rankings, the same way in serving, in the
simulator and in experiments' analysis.
"""

from __future__ import annotations

from loopline.events._assignment import N_BUCKETS, assign, buckets
from loopline.events._conform import KINDS, EventKind, conform
from loopline.events._interleave import NO_ITEM, Team, team_draft, team_draft_batch
from loopline.events._log import EventLog
from loopline.events._schema import ASSIGNMENT, EXPOSURE, FEEDBACK, REQUIRED, SCHEMAS, TS
from loopline.events._writer import EventWriter

__all__ = [
    "ASSIGNMENT",
    "EXPOSURE",
    "FEEDBACK",
    "KINDS",
    "NO_ITEM",
    "N_BUCKETS",
    "REQUIRED",
    "SCHEMAS",
    "TS",
    "EventKind",
    "EventLog",
    "EventWriter",
    "Team",
    "assign",
    "buckets",
    "conform",
    "team_draft",
    "team_draft_batch",
]
