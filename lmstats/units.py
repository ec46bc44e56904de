"""Evaluation units: how a split is cut into the sequences a model scores, per evaluation mode.

Two modes, the same for every model (the evaluator checks the mode once, here):

``sentence`` (KenLM/SRILM)
    every non-empty line on its own, ``</s>`` appended; each unit is scored from ``<s>``.
``stream`` (PyTorch word_language_model)
    one sequence: every line, empty ones too, followed by ``</s>`` as the end-of-line token.

Training uses the same units (an n-gram model fitted in ``sentence`` mode counts sentences).

The text the units cover, for bits per character and per byte (:func:`scored_text_size`): the
characters (code points) and UTF-8 bytes of every scored line as the corpus read it (after
``--lower``/``--letters-only``, without ``\r``), plus one line break for every ``</s>`` the
model predicts.  A word model and a char model of the same text therefore divide by the same
count in ``stream`` mode; in ``sentence`` mode too, unless the text has lines of only
whitespace (no words, so a word model skips them, while a char model scores their spaces).
"""

from __future__ import annotations

import numpy as np

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


def scored_text_size(split: EncodedSplit, mode: str) -> tuple[int | None, int | None]:
    """Characters and UTF-8 bytes of the text the units of ``mode`` cover (see the module docstring);
    (None, None) when the split does not know its text's size."""
    if split.line_chars is None or split.line_bytes is None:
        return None, None
    lengths = split.lines.lengths
    if len(split.line_chars) != len(lengths):
        raise LmstatsError(f"the {split.name} split has {len(lengths)} lines but character counts for {len(split.line_chars)}")
    keep = lengths > 0 if check_mode(mode) == "sentence" else np.ones(len(lengths), dtype=bool)
    breaks = int(keep.sum())  # one line break per </s>
    return int(split.line_chars[keep].sum()) + breaks, int(split.line_bytes[keep].sum()) + breaks
