"""Evaluation units: how a split is cut into the sequences a model scores, per evaluation mode.

Two modes, the same for every model (the evaluator checks the mode once, here):

``sentence`` (KenLM/SRILM)
    every non-empty line on its own, ``</s>`` appended; each unit is scored from ``<s>``.
``stream`` (PyTorch word_language_model)
    one sequence: every line, empty ones too, followed by ``</s>`` as the end-of-line token.

Training uses the same units (an n-gram model fitted in ``sentence`` mode counts sentences).
"""

from __future__ import annotations

from lmstats.encoded import EncodedSplit, Lines
from lmstats.errors import LmstatsError

EVAL_MODES = ("sentence", "stream")


def check_mode(mode: str) -> str:
    """``mode`` if it is an evaluation mode, else a :class:`LmstatsError` naming the choices."""
    if mode not in EVAL_MODES:
        raise LmstatsError(f"evaluation mode must be one of {', '.join(EVAL_MODES)}, got {mode!r}")
    return mode


def scored_units(split: EncodedSplit, mode: str) -> Lines:
    """The sequences a model scores in ``mode``, each ending with ``</s>`` (see the module docstring)."""
    eos_id = split.vocab.eos_id
    if check_mode(mode) == "sentence":
        return split.lines.nonempty().with_eos(eos_id)
    return split.lines.with_eos(eos_id).as_stream()
