"""Where a figure comes from: the machine, the software versions and the thread count.

Reports and benchmarks record it beside every figure.  Nothing here imports torch: its
version comes from the installed package's metadata, and its thread count is read only when
the run has already imported it (the report sets the threads before recording them).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    torch = sys.modules.get("torch")
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": _version("torch"),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "gpu": bool(torch.cuda.is_available()) if torch is not None else None,
        "cpu_model": cpu_model(),
        "load_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
