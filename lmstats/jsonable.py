"""Values as JSON: the one conversion every ``--json`` document, results file and report uses.

Non-finite floats (an infinite perplexity, a NaN standard error) become ``null``; numpy scalars
and arrays become plain numbers and lists; tuples become lists; paths become strings; objects
with ``to_dict()`` (results, specs) become their dict, converted in turn.
"""

from __future__ import annotations

import math
from pathlib import PurePath

import numpy as np


def jsonable(value):
    """``value`` with every part JSON can hold as it is (see the module docstring)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    return value
