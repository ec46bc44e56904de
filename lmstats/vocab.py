"""The shared vocabulary: one id per token type, specials first, then by descending count.

Every model and every split in a comparison uses one :class:`Vocab`, built from the training
split only.  Ids are stable and documented:

* ``0 <unk>``, ``1 <s>``, ``2 </s>``, and ``3 <pad>`` when asked for;
* then ordinary tokens by descending training count, ties broken lexicographically.

A literal ``<unk>`` in the text (WikiText, PTB) *is* the unknown token: it gets ``unk_id``
and its occurrences are counted as ``<unk>``.  The boundary markers ``<s>``, ``</s>`` and
``<pad>`` are never read from text: a literal one in the text is read as ``<unk>``, since the
evaluator adds the boundaries itself.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write
from lmstats.text.reader import read_text
from lmstats.text.spec import VocabSpec

UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
PAD = "<pad>"
_FORMAT = "lmstats-vocab"


class Vocab:
    """Token <-> id mapping with training counts.

    Build it with :meth:`Vocab.build`; the constructor takes the final token list (specials
    included, in id order) and is used by :meth:`load`.
    """

    def __init__(self, tokens: Sequence[str], counts: Sequence[int], *, pad: bool = False):
        specials = [UNK, BOS, EOS] + ([PAD] if pad else [])
        if list(tokens[: len(specials)]) != specials:
            raise LmstatsError(f"vocabulary must start with the specials {specials}, got {list(tokens[:4])}")
        if len(set(tokens)) != len(tokens):
            raise LmstatsError("vocabulary has duplicate tokens; rebuild it with Vocab.build")
        if len(counts) != len(tokens):
            raise LmstatsError(f"vocabulary has {len(tokens)} tokens but {len(counts)} counts")
        self._tokens = list(tokens)
        self._counts = np.asarray(counts, dtype=np.int64)
        self.has_pad = pad
        self._index = {t: i for i, t in enumerate(self._tokens)}
        # Text lookup: boundary markers in text are ordinary unknown words.
        self._text_index = dict(self._index)
        for marker in (BOS, EOS, PAD):
            self._text_index.pop(marker, None)
        self._fingerprint = hashlib.sha256("\n".join(self._tokens).encode("utf-8")).hexdigest()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        sentences: Iterable[Sequence[str]],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        pad: bool = False,
    ) -> Vocab:
        """Vocabulary of the training ``sentences`` (lists of tokens), by :meth:`from_counts`.

        ``min_count``: types seen fewer times become ``<unk>``.  ``max_size``: keep at most
        this many ordinary types (specials not counted), the most frequent ones.
        """
        sentences = list(sentences)
        counter = Counter(chain.from_iterable(sentences))
        return cls.from_counts(list(counter), list(counter.values()), len(sentences), min_count=min_count, max_size=max_size,
                               pad=pad)

    @classmethod
    def from_counts(cls, types: Sequence[str], counts, n_lines: int, *, min_count: int = 1, max_size: int | None = None,
                    pad: bool = False, extra: Sequence[str] = ()) -> Vocab:
        """The vocabulary of a training text given each type's count: the one ranking rule of the project.

        Specials first (``<unk>`` counts the literal ``<unk>``, boundary markers read from text and
        every type cut; ``<s>`` and ``</s>`` one per line), then the types seen at least
        ``min_count`` times by descending count, ties broken by the string, at most ``max_size``
        of them.  ``extra``: types kept even when the text never showed them (count 0, after the
        others in string order), such as the pieces of a subword model.
        """
        VocabSpec(min_count, max_size)  # the one check of both
        markers = {UNK, BOS, EOS, PAD}
        counts = np.asarray(counts, dtype=np.int64)
        tokens = np.array(types, dtype=object)
        is_marker = np.fromiter((t in markers for t in tokens), dtype=bool, count=len(tokens))
        unk_count = int(counts[is_marker].sum())
        present = np.flatnonzero((counts > 0) & ~is_marker)
        ranked = sorted(zip((-counts[present]).tolist(), tokens[present].tolist(), strict=True))  # by count (descending), then string
        kept = [(t, -c) for c, t in ranked if -c >= min_count][:max_size]  # (plain Python pairs: 4x faster than numpy scalars)
        unk_count += int(counts[present].sum()) - sum(c for _, c in kept)
        seen = {t for t, _ in kept}
        unseen = sorted({t for t in extra if t not in seen and t not in markers})
        items = [(UNK, unk_count), (BOS, n_lines), (EOS, n_lines)] + ([(PAD, 0)] if pad else []) + kept + [(t, 0) for t in unseen]
        return cls([t for t, _ in items], [c for _, c in items], pad=pad)

    # -- lookups ------------------------------------------------------------------------
    unk_id = 0
    bos_id = 1
    eos_id = 2

    @property
    def pad_id(self) -> int:
        if not self.has_pad:
            raise LmstatsError("this vocabulary has no <pad>; build it with pad=True")
        return self._index[PAD]

    @property
    def n_specials(self) -> int:
        return 4 if self.has_pad else 3

    @property
    def unpredictable_ids(self) -> list[int]:
        """Ids no model ever predicts: ``<s>`` (and ``<pad>``)."""
        return [self.bos_id] + ([self.pad_id] if self.has_pad else [])

    @property
    def predictable_mask(self) -> NDArray[np.bool_]:
        """True at every id a model predicts (all but :attr:`unpredictable_ids`); shape (V,)."""
        mask = np.ones(len(self), dtype=bool)
        mask[self.unpredictable_ids] = False
        return mask

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __iter__(self):
        return iter(self._tokens)

    def id(self, token: str) -> int:
        """Id of ``token``; ``unk_id`` when it is not in the vocabulary."""
        return self._index.get(token, self.unk_id)

    def text_id(self, token: str) -> int:
        """Id of ``token`` read from text: boundary markers and unknown tokens are ``unk_id``."""
        return self._text_index.get(token, self.unk_id)

    def token(self, i: int) -> str:
        return self._tokens[i]

    def count(self, token: str) -> int:
        """Training count of ``token`` (0 for unknown tokens; ``<unk>`` counts every token read as unknown)."""
        i = self._index.get(token)
        return 0 if i is None else int(self._counts[i])

    @property
    def counts(self) -> NDArray[np.int64]:
        """Training count per id (a copy)."""
        return self._counts.copy()

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    @property
    def predictable_ids(self) -> NDArray[np.int64]:
        """Ids a model predicts: everything but ``<s>`` (and ``<pad>``).  ``<unk>``, ``</s>`` included."""
        return np.flatnonzero(self.predictable_mask).astype(np.int64)

    @property
    def n_predictable(self) -> int:
        return len(self) - len(self.unpredictable_ids)

    def encode(self, tokens: Sequence[str]) -> NDArray[np.int64]:
        """Ids of text ``tokens``; unknown ones (and literal boundary markers) map to ``unk_id``."""
        get = self._text_index.get
        return np.fromiter(map(get, tokens, repeat(self.unk_id)), dtype=np.int64, count=len(tokens))

    def decode(self, ids: Iterable[int]) -> list[str]:
        tokens = self._tokens
        return [tokens[i] for i in ids]

    # -- identity -----------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """sha256 of the token list in id order: equal fingerprints mean equal vocabularies."""
        return self._fingerprint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._fingerprint == other._fingerprint

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} types, {int(self._counts.sum())} training tokens)"

    # -- persistence --------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": _FORMAT, "version": 1, "pad": self.has_pad, "tokens": self._tokens, "counts": self._counts.tolist()}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "vocabulary") -> Vocab:
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise LmstatsError(f"{source}: not an lmstats vocabulary file (no '{_FORMAT}' header)")
        try:
            return cls(data["tokens"], data["counts"], pad=bool(data["pad"]))
        except KeyError as exc:
            raise LmstatsError(f"{source}: vocabulary file lacks the field {exc}; it is truncated or not ours") from None

    def save(self, path: str | Path) -> None:
        with atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        text = read_text(Path(path))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LmstatsError(f"{path}: not a vocabulary file (invalid JSON: {exc.msg} at line {exc.lineno}); "
                               "it is truncated or not ours") from None
        return cls.from_dict(data, source=str(path))


def check_same_vocab(expected: Vocab, got: Vocab, what: str, fix: str, *, against: str = "the one it is used with") -> None:
    """Refuse ``got`` unless it equals ``expected``: the one vocabulary check of the project.

    ``what`` names the thing that brought ``got`` (a model, a checkpoint, a split),
    ``against`` the owner of ``expected``, ``fix`` says what to do.  Perplexities are only
    comparable under one vocabulary (KenLM's rule).
    """
    if got != expected:
        raise LmstatsError(
            f"{what} uses another vocabulary ({len(got):,} types) than {against} ({len(expected):,} types); "
            f"perplexities are only comparable under one vocabulary — {fix}"
        )
