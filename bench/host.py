"""One line describing the benchmark machine, shared by the bench scripts' reports."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    """CPU model, cores, architecture and Python version, e.g. ``AMD EPYC, 2 cores, x86_64,
    Python 3.11.7``."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
