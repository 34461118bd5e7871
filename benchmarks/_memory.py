"""Peak memory of a benchmark's child process, from Linux's /proc (shared by the benchmarks).

``reset_peak()`` clears the high-water mark (``/proc/self/clear_refs``) so that ``status("VmHWM")`` reads
the peak since then; where that is not allowed it returns False and callers fall back to ``ru_maxrss``
(the peak of the whole process).
"""

from __future__ import annotations

import resource
from pathlib import Path


def status(field: str) -> float:
    """A field of /proc/self/status in MiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_since(reset: bool) -> float:
    """The peak resident set in MiB since :func:`reset_peak` (the process's whole peak if it failed)."""
    return status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
