"""Text to vocabulary ids, as KenLM's ``query`` reads: one compiled pass over the UTF-8 bytes (numba),
or ``str.split`` and ``dict`` lookups for a short text.

:func:`lmstats.text.ingest.ingest` builds the type table of a new corpus with ``str.split`` and a
``dict`` lookup per token (about 4-5 M tokens/s with the line lengths).  Scoring a text under a
model's *fixed* vocabulary needs no new types, so here the bytes are scanned once: words end at
the same whitespace as ``str.split()`` (ASCII and the Unicode spaces, listed in ``_space_len``),
lines at ``\\n``, and each word is looked up in a hash table of the vocabulary's UTF-8 strings
(FNV-1a, linear probing as in :mod:`lmstats.hashtable`, bytes compared on a hit).  A word outside
the vocabulary, and a literal ``<s>``/``</s>``/``<pad>``, is ``<unk>`` (:meth:`Vocab.text_id`).
The ids equal those of the ingest path (tested on text with Unicode whitespace, CRLF, a BOM,
empty lines and no final line end).

The table is built with numpy (no compiler; 15-30 ms for WikiText-2's 33K words), and a saved
n-gram model stores it (:meth:`TextEncoder.tables`, :meth:`TextEncoder.from_tables`), so opening
a model builds nothing.  The compiled scan costs a fresh process 0.35-0.6 s to start
(:mod:`lmstats.jit`), more than ``str.split`` and the vocabulary's ``dict`` take for a few
megabytes (WikiText-2 test x 3, 3.8 MB: 0.21-0.24 s, 3-3.5 M tokens/s, against 0.04-0.06 s
compiled on one thread once started; a busy 2-core machine): an encoder reads the first
:data:`SHORT_BYTES` of text it is given that way, with the same ids (tested), and the rest
compiled.  4 MiB is about the 1 M positions the n-gram model scores without its compiled kernel.  Where the
install built the C loops (:mod:`lmstats.native`), the scan runs in C from the first byte (nothing to start).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from lmstats import native
from lmstats.encoded import Lines
from lmstats.hashtable import hash_bits, slot_table
from lmstats.jit import njit
from lmstats.threads import resolve_threads
from lmstats.vocab import BOS, EOS, PAD, Vocab

PARALLEL_BYTES = 1 << 20  # texts above this are scanned in parts, one per thread
SHORT_BYTES = 1 << 22  # bytes an encoder reads with str.split before it scans compiled (see the module docstring)
TABLES = {"strings": "|u1", "offsets": "<i8", "entry_ids": "<i4", "slots": "<i4"}  # TextEncoder.tables(): name -> dtype
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(nogil=True, inline="always")
def _space_len(data, i, n):
    """Length in bytes of the whitespace character at ``i`` (0 if it is not whitespace), as ``str.isspace``."""
    b = data[i]
    if b == 32 or 9 <= b <= 13 or 28 <= b <= 31:
        return 1
    if b < 0xC2 or i + 1 >= n:
        return 0
    c = data[i + 1]
    if b == 0xC2:
        return 2 if c == 0x85 or c == 0xA0 else 0  # U+0085, U+00A0
    if i + 2 >= n:
        return 0
    d = data[i + 2]
    if b == 0xE1:
        return 3 if c == 0x9A and d == 0x80 else 0  # U+1680
    if b == 0xE2:
        if c == 0x80 and (0x80 <= d <= 0x8A or d == 0xA8 or d == 0xA9 or d == 0xAF):  # U+2000..200A, 2028, 2029, 202F
            return 3
        return 3 if c == 0x81 and d == 0x9F else 0  # U+205F
    if b == 0xE3:
        return 3 if c == 0x80 and d == 0x80 else 0  # U+3000
    return 0


def _byte_classes() -> NDArray[np.uint8]:
    """0: part of a word; 1: ASCII whitespace; 2: ``\n``; 3: may start a Unicode space (see ``_space_len``)."""
    classes = np.zeros(256, dtype=np.uint8)
    classes[[9, 11, 12, 13, 32, 28, 29, 30, 31]] = 1
    classes[10] = 2
    classes[[0xC2, 0xE1, 0xE2, 0xE3]] = 3
    return classes


_CLASSES = _byte_classes()


@njit(nogil=True)
def _scan(data, classes, slots, bits, strings, offsets, entry_ids, unk_id, ids, lengths):
    """Ids of every word into ``ids`` and words per line into ``lengths``; returns (words, lines)."""
    n = data.shape[0]
    shift = np.uint64(64 - bits)
    n_words = 0
    n_lines = 0
    in_line = 0
    line_open = False
    i = 0
    while i < n:
        c = classes[data[i]]
        if c == 2:  # \n ends a line
            lengths[n_lines] = in_line
            n_lines += 1
            in_line = 0
            line_open = False
            i += 1
            continue
        line_open = True
        if c == 1:
            i += 1
            continue
        if c == 3:
            skip = _space_len(data, i, n)
            if skip:
                i += skip
                continue
        start = i
        h = _FNV_OFFSET
        while True:  # the word runs to the next whitespace or the end
            h = (h ^ np.uint64(data[i])) * _FNV_PRIME
            i += 1
            if i >= n:
                break
            c = classes[data[i]]
            if c == 1 or c == 2 or (c == 3 and _space_len(data, i, n) > 0):
                break
        probe = np.int64(h >> shift)
        word = unk_id
        while slots[probe] >= 0:
            e = slots[probe]
            a, b = offsets[e], offsets[e + 1]
            if b - a == i - start:
                same = True
                for j in range(b - a):
                    if strings[a + j] != data[start + j]:
                        same = False
                        break
                if same:
                    word = entry_ids[e]
                    break
            probe += 1
        ids[n_words] = word
        n_words += 1
        in_line += 1
    if line_open:  # a last line without a line end
        lengths[n_lines] = in_line
        n_lines += 1
    return n_words, n_lines


class TextEncoder:
    """A vocabulary's words as a byte-keyed hash table: ``encoder(text)`` gives the text's :class:`Lines`."""

    def __init__(self, vocab: Vocab):
        words = [(t, i) for i, t in enumerate(vocab.tokens) if t not in (BOS, EOS, PAD)]  # literal markers are read as <unk>
        encoded = [t.encode("utf-8") for t, _ in words]
        strings = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, dtype=np.uint8)
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        entry_ids = np.array([i for _, i in words], dtype=np.int32)
        slots = slot_table(np.asarray(_fnv1a(strings, offsets) >> np.uint64(64 - hash_bits(len(words))), dtype=np.int64),
                           hash_bits(len(words)))
        self._set(vocab, strings, offsets, entry_ids, slots)

    @classmethod
    def from_tables(cls, vocab: Vocab, tables: dict[str, NDArray]) -> TextEncoder:
        """The encoder of ``vocab`` from its :meth:`tables` (stored with a model; memory-mapped or not), built from nothing."""
        encoder = cls.__new__(cls)
        encoder._set(vocab, *(tables[name] for name in TABLES))
        return encoder

    def _set(self, vocab: Vocab, strings, offsets, entry_ids, slots) -> None:
        self.vocab, self.strings, self.offsets, self.entry_ids, self.slots = vocab, strings, offsets, entry_ids, slots
        self.bits = hash_bits(len(entry_ids))
        self.unk_id = vocab.unk_id
        self.short_bytes = 0  # bytes read so far with str.split

    def tables(self) -> dict[str, NDArray]:
        """The arrays of the table (their names and dtypes: :data:`TABLES`): the words' UTF-8 bytes end to end, where
        each starts (and the end), each word's id, and the hash slots (an entry per slot, -1 where empty)."""
        return {"strings": self.strings, "offsets": self.offsets, "entry_ids": self.entry_ids, "slots": self.slots}

    def __call__(self, text: str | bytes, *, threads: int | None = None) -> Lines:
        """``text`` (a ``str``, or UTF-8 ``bytes``) as lines of ids; a BOM at its start is dropped.

        The first :data:`SHORT_BYTES` this encoder reads are split in Python.  Beyond, a text of more than
        :data:`PARALLEL_BYTES` is cut at line ends into one part per thread (default:
        :func:`lmstats.threads.resolve_threads`); the parts are scanned at once (the scan releases the GIL).
        """
        if self.short_bytes + len(text) <= SHORT_BYTES and not native.available():
            self.short_bytes += len(text)
            return self._split(text if isinstance(text, str) else bytes(text).decode("utf-8", "surrogateescape"))
        self.short_bytes = SHORT_BYTES + 1
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        data = data.removeprefix(b"\xef\xbb\xbf")
        threads = resolve_threads(threads, parts=1 if len(data) <= PARALLEL_BYTES else None)
        cuts = [0]
        if threads > 1 and len(data) > PARALLEL_BYTES:
            for j in range(1, threads):  # each part ends at a line end
                end = data.find(b"\n", max(len(data) * j // threads, cuts[-1]))
                cuts.append(len(data) if end < 0 else end + 1)
        cuts.append(len(data))
        buffer = np.frombuffer(data, dtype=np.uint8)
        parts = [buffer[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        if len(parts) == 1:
            results = [self._scan(parts[0])]
        else:
            with ThreadPoolExecutor(len(parts)) as pool:
                results = list(pool.map(self._scan, parts))
        ids = np.concatenate([r[0] for r in results])
        lengths = np.concatenate([r[1] for r in results])
        return Lines.from_lengths(ids, lengths)

    def _split(self, text: str) -> Lines:
        """The lines of ``text`` by ``str.split``: lines at ``\\n`` (a last empty one is not a line), words at whitespace
        (undecodable bytes, kept as lone surrogates, are parts of words as the scan reads them)."""
        lines = text.removeprefix("\ufeff").split("\n")
        if lines[-1] == "":
            lines.pop()
        words = [line.split() for line in lines]
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        return Lines.from_lengths(self.vocab.encode(list(chain.from_iterable(words))).astype(np.int32), lengths)

    def _scan(self, part: NDArray[np.uint8]) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        ids = np.empty(len(part) // 2 + 1, dtype=np.int32)  # a word and the space after it take at least 2 bytes
        lengths = np.empty(int(np.count_nonzero(part == 10)) + 1, dtype=np.int64)
        scan = native.scan if native.available() else _scan
        n_words, n_lines = scan(part, _CLASSES, self.slots, self.bits, self.strings, self.offsets, self.entry_ids,
                                self.unk_id, ids, lengths)
        return ids[:n_words].copy(), lengths[:n_lines].copy()


def _fnv1a(strings: NDArray[np.uint8], offsets: NDArray[np.int64]) -> NDArray[np.uint64]:
    """The 64-bit FNV-1a hash of each string ``strings[offsets[e]:offsets[e + 1]]`` (the scan's), byte position by byte
    position over the strings still that long (longest first)."""
    lengths = np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")
    starts, by_length = offsets[:-1][order], lengths[order]
    h = np.full(len(order), _FNV_OFFSET, dtype=np.uint64)
    for j in range(int(by_length[0]) if len(order) else 0):
        m = int(np.searchsorted(-by_length, -j, side="left"))  # strings longer than j
        h[:m] = (h[:m] ^ strings[starts[:m] + j].astype(np.uint64)) * _FNV_PRIME
    out = np.empty_like(h)
    out[order] = h
    return out


def encode_text(text: str | bytes, vocab: Vocab, *, threads: int | None = None) -> Lines:
    """The words of ``text`` (split as ``str.split()``, lines at ``\\n``) as ids of ``vocab``."""
    return TextEncoder(vocab)(text, threads=threads)
