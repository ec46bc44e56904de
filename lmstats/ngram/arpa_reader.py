"""ARPA import: an ARPA file (KenLM's, SRILM's or lmstats') as an :class:`~lmstats.ngram.model.NgramLM` that scores as the file says.

Every value and line is checked, and a malformed one is an error naming the file and the line:
a log10 probability must be a finite number <= 0 (``-inf`` is accepted only for the unigram
``<s>``, whose value is never used), a backoff finite (and 0 at the highest order), every line has
its order's fields, no n-gram is stored twice, and every n-gram's context and suffix are stored
one order below (lmstats backs off through the suffix).  Sections are parsed with numpy; a bad
entry's line is looked up only when there is one.
"""

from __future__ import annotations

import re
from itertools import repeat
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.ngram.arpa import escape_token, unescape_token
from lmstats.ngram.counts import NgramCounts, OrderTable
from lmstats.ngram.model import ARPA, NgramLM
from lmstats.ngram.smoothing import Estimate
from lmstats.text.reader import read_text
from lmstats.vocab import BOS, EOS, UNK, Vocab


def read_arpa(path: str | Path, vocab: Vocab | None = None) -> NgramLM:
    """An :class:`NgramLM` that scores exactly as the ARPA file says (backoff semantics).

    Without ``vocab`` the vocabulary is the file's unigrams: ``<unk> <s> </s>`` first, then the
    others in file order (counts unknown, stored as 0).

    The file is checked as KenLM checks it, and a little further; what breaks a rule is an
    :class:`LmstatsError` naming the file and the line (1-based), what is wrong and what to do:

    * an n-gram line is log10 P, the k words and at most one backoff, separated by spaces or tabs;
    * log10 P is a finite number at most 0.  Above 0 (a probability above 1), ``nan`` and ``inf``
      are refused, and so is ``-inf`` (probability 0 for a stored n-gram, while lmstats scores are
      finite) except for the unigram ``<s>``, whose probability is never used (SRILM writes -99
      there, KenLM's lmplz 0; ``-inf`` says the same and is accepted);
    * a log10 backoff is finite (a positive one is legal); the highest order has none (0 is tolerated);
    * no n-gram appears twice in its section;
    * every k-gram's context (its first k-1 words) and its suffix (its last k-1 words) are
      (k-1)-grams of the file: the context holds the backoff weight and the suffix is where scoring
      backs off to.  KenLM refuses a missing context too, and fills a missing suffix in; lmstats
      refuses both.

    Numbers are converted and checked a section at a time with numpy, so the checks add little to
    the reading of a big file.
    """
    path = Path(path)
    text = read_text(path)
    sizes, pos, line = _header(text, path)
    order = len(sizes)
    sections = _sections(text, pos, line, path)
    for k, n in sizes.items():
        found = sections[k].n_entries if k in sections else 0
        if found < n:
            raise LmstatsError(f"{path}: the header promises {n} {k}-grams but the file has {found}; it is truncated — "
                               "write or copy the file again")
        if found > n:
            raise LmstatsError(f"{path}: the header promises {n} {k}-grams but the file has {found}; "
                               f"the header's count is wrong — fix it to {found}")
    extra = sorted(set(sections) - set(sizes))
    if extra:
        raise LmstatsError(f"{path}: the file has \\{extra[0]}-grams: entries that the header does not announce; add "
                           f"'ngram {extra[0]}=COUNT' to the header or drop the section")
    for k in set(sizes) - set(sections):  # an order without n-grams may have no section at all
        sections[k] = _Section(k, 0, 0, 1, "", path)
    unigrams = _columns(sections[1], order)
    if vocab is None:
        uni_words = dict.fromkeys(unescape_token(w) for w in unigrams[1][:, 0])  # a repeated unigram is refused below, by line
        specials = [UNK, BOS, EOS]
        missing = [s for s in specials if s not in uni_words]
        if missing:
            raise LmstatsError(f"{path}: the unigrams lack {missing}; lmstats needs <unk>, <s> and </s> among them — add them (lmplz "
                               "and SRILM write all three)")
        rest = [t for t in uni_words if t not in specials]
        vocab = Vocab(specials + rest, [0] * (len(rest) + 3))
        outside = "is not one of the file's 1-grams; ARPA lists every word as a 1-gram — add it to the \\1-grams: section"
    else:
        outside = ("is not in the vocabulary the file is read under; read it under the vocabulary of the corpus it was "
                   "built from (the same corpus and vocabulary options)")
    V = len(vocab)
    index = {escape_token(t): i for i, t in enumerate(vocab.tokens)}
    stored = np.zeros(V, dtype=bool)  # the words that are 1-grams of the file
    probs, backoffs, tables = [], [], []
    for k in range(1, order + 1):
        section = sections[k]
        logp, words, logb = unigrams if k == 1 else _columns(section, order)
        ids = np.fromiter(map(index.get, words.ravel(), repeat(-1)), dtype=np.int64, count=words.size).reshape(-1, k)
        if (ids < 0).any():
            j = int(np.flatnonzero(ids.reshape(-1) < 0)[0])
            raise section.error(j // k, f"the word {words.ravel()[j]!r} of the {k}-gram {_gram(words, j // k)} {outside}")
        if k == 1:
            _refuse_repeats(section, ids[:, 0], words)
            stored[ids[:, 0]] = True
            prob = np.zeros(V)
            prob[ids[:, 0]] = 10.0**logp
            prob[vocab.bos_id] = 0.0
            bo = np.ones(V)
            bo[ids[:, 0]] = 10.0**logb
            ar = np.arange(V, dtype=np.int64)
            tables.append(OrderTable(1, ar, np.zeros(V, dtype=np.int64), np.full(V, -1, dtype=np.int64), ar))
            probs.append(prob)
            backoffs.append(bo)
            continue
        prefix, found = _rows_of(tables, stored, ids[:, :-1], V)
        if not found.all():
            j = int(np.flatnonzero(~found)[0])
            raise section.error(j, f"the context '{' '.join(words[j, :-1])}' of the {k}-gram {_gram(words, j)} is not among the "
                                   f"{k - 1}-grams; ARPA keeps every context, with its backoff weight, as an n-gram of the order "
                                   f"below (KenLM refuses this too); add that {k - 1}-gram or remove this line")
        keys = prefix * V + ids[:, -1]
        sort = _refuse_repeats(section, keys, words)
        suffix, found = _rows_of(tables, stored, ids[:, 1:], V)
        if not found.all():
            j = int(np.flatnonzero(~found)[0])
            raise section.error(j, f"the {k}-gram {_gram(words, j)} has no suffix {k - 1}-gram '{' '.join(words[j, 1:])}'; "
                                   "lmstats backs off from an n-gram to its suffix, so it needs it stored (KenLM fills such "
                                   "gaps in, lmstats does not); add that "
                                   f"{k - 1}-gram or remove this line")
        tables.append(OrderTable(k, keys[sort], np.zeros(len(keys), dtype=np.int64), suffix[sort], ids[sort, 0]))
        probs.append(10.0 ** logp[sort])
        backoffs.append(10.0 ** logb[sort])
    counts = NgramCounts(V, vocab.bos_id, tuple(tables), 0)
    est = Estimate(tuple(probs), tuple(backoffs[:-1]), "lower", 1.0, True, {}, ())
    return NgramLM.from_estimate(vocab, counts, est, smoothing=ARPA)


_DATA = re.compile(r"^[^\S\n]*\\data\\[^\S\n]*$", re.M)


def _header(text: str, path: Path) -> tuple[dict[int, int], int, int]:
    """The counts ``{k: n}`` of the ``\\data\\`` block, the offset of the line after it and that line's number."""
    m = _DATA.search(text)
    if m is None:
        raise LmstatsError(f"{path}: not an ARPA file (no \\data\\ header)")
    line = text.count("\n", 0, m.start()) + 2
    pos = m.end() + 1
    sizes = {}
    while text.startswith("ngram ", pos):
        eol = text.find("\n", pos)
        eol = len(text) if eol < 0 else eol
        counted = re.fullmatch(r"ngram (\d+)=(\d+)\s*", text[pos:eol])
        if not counted:
            raise LmstatsError(f"{path}, line {line}: malformed header line {text[pos:eol][:60]!r}; expected 'ngram K=COUNT'")
        sizes[int(counted.group(1))] = int(counted.group(2))
        pos, line = eol + 1, line + 1
    if not sizes or sorted(sizes) != list(range(1, len(sizes) + 1)):
        raise LmstatsError(f"{path}: malformed ARPA header (ngram counts {sizes}); it needs 'ngram 1=COUNT', 'ngram 2=COUNT', "
                           "... for every order from 1 up — fix the header")
    return sizes, min(pos, len(text)), line


class _Section:
    """The entries of one ``\\k-grams:`` section: ``text[start:end]`` of the file, whose first line is
    line ``first``; ``block`` holds its entry lines without blank lines, one space between fields."""

    def __init__(self, k: int, start: int, end: int, first: int, text: str, path: Path):
        self.k, self.text, self.start, self.end, self.first, self.path = k, text, start, end, first, path
        block = text[start:end].replace("\t", " ")
        if "\r" in block or " \n" in block or "\n " in block:  # strip every line of spaces, tabs and CR
            block = re.sub(r"[ \r]*\n[ \r]*", "\n", block)
        if "  " in block:
            block = re.sub(" {2,}", " ", block)
        block = block.strip(" \r\n")
        if "\n\n" in block:
            block = re.sub(r"\n{2,}", "\n", block)
        self.block = block
        self.n_entries = block.count("\n") + 1 if block else 0

    def line_of(self, j: int) -> tuple[int, str]:
        """The line number and text of entry ``j`` (a walk over the section: for error messages only)."""
        seen = -1
        for number, line in enumerate(self.text[self.start : self.end].split("\n"), self.first):
            if line.strip(" \t\r"):
                seen += 1
                if seen == j:
                    return number, line
        raise IndexError(j)

    def error(self, j: int, message: str) -> LmstatsError:
        return LmstatsError(f"{self.path}, line {self.line_of(j)[0]}: {message}")


def _sections(text: str, pos: int, line: int, path: Path) -> dict[int, _Section]:
    """Each ``\\k-grams:`` section from offset ``pos`` (line ``line``) up to ``\\end\\`` or the end of the file."""
    out: dict[int, _Section] = {}
    current: tuple[int, int, int] | None = None  # k, offset and line number of the open section's first line
    for start, end in [*_backslash_lines(text, pos), (len(text), len(text))]:
        if current is not None:
            out[current[0]] = _Section(*current[:2], start, current[2], text, path)
            current = None
        else:
            stray = next((i for i, s in enumerate(text[pos:start].split("\n")) if s.strip()), None)
            if stray is not None:
                raise LmstatsError(f"{path}, line {line + stray}: n-gram entries before any \\k-grams: section")
        line += text.count("\n", pos, start)
        pos = start
        if start == len(text) or text[start:end].strip() == "\\end\\":
            return out
        header = re.fullmatch(r"\\(\d+)-grams:\s*", text[start:end])
        if not header:
            raise LmstatsError(f"{path}, line {line}: unexpected line {text[start:end][:40]!r}; an ARPA file has only "
                               "'\\K-grams:' section headers, their entries and '\\end\\' after \\data\\ — fix the line")
        if int(header.group(1)) in out:
            raise LmstatsError(f"{path}, line {line}: a second {header.group().strip()} section; an ARPA file has one per order — "
                               "merge the two")
        current = (int(header.group(1)), min(end + 1, len(text)), line + 1)
    return out  # not reached: the end of the text ends the loop


def _backslash_lines(text: str, pos: int):
    """(start, end) offsets of the lines from offset ``pos`` (a line start after the header) that begin with a backslash."""
    start = pos if text.startswith("\\", pos) else text.find("\n\\", pos) + 1
    while start > 0:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield start, end
        start = text.find("\n\\", end) + 1


def _columns(section: _Section, order: int) -> tuple[NDArray[np.float64], NDArray[np.object_], NDArray[np.float64]]:
    """log10 probabilities (n,), words (n, k) as written, log10 backoffs (n,) (0 where absent) of a section's
    entries, each value checked (see :func:`read_arpa`)."""
    k = section.k
    lines = section.block.split("\n") if section.block else []
    n = len(lines)
    gaps = np.fromiter(map(str.count, lines, repeat(" ")), dtype=np.int64, count=n)  # fields - 1
    bad = np.flatnonzero((gaps != k) & (gaps != k + 1))
    if len(bad):
        j = int(bad[0])
        raise section.error(j, f"malformed {k}-gram line {section.line_of(j)[1][:60]!r}; expected log10 P, {k} words and an "
                               "optional backoff, separated by spaces or tabs")
    fields = np.array(section.block.replace("\n", " ").split(" ") if n else [], dtype=object)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(gaps[:-1] + 1, out=starts[1:])
    words = fields[starts[:, None] + np.arange(1, k + 1)] if n else np.empty((0, k), dtype=object)
    logp = _numbers(section, fields[starts], np.arange(n), "log10 P")
    with_backoff = np.flatnonzero(gaps == k + 1)
    logb = np.zeros(n)
    logb[with_backoff] = _numbers(section, fields[starts[with_backoff] + k + 1], with_backoff, "backoff")
    too_big = ~(logp <= 0)  # above 0, nan or inf
    never = np.isneginf(logp) & ((words[:, 0] != BOS) if k == 1 else True)
    wrong_b = ~np.isfinite(logb) if k < order else logb != 0
    bad = np.flatnonzero(too_big | never | wrong_b)
    if len(bad):
        j = int(bad[0])
        gram, p = _gram(words, j), fields[starts[j]]
        if too_big[j]:
            why = ("is not a number; the tool that wrote the file failed there" if np.isnan(logp[j]) else
                   "is above 0, a probability above 1 (KenLM refuses it too)")
            raise section.error(j, f"log10 P = {p} of the {k}-gram {gram} {why}; ARPA stores log10 of a probability, a finite "
                                   "number at most 0 — fix the value or rebuild the model")
        if never[j]:
            raise section.error(j, f"log10 P = {p} of the {k}-gram {gram} gives a stored n-gram probability 0 (only <s>'s "
                                   "1-gram may be -inf); lmstats needs finite log-probabilities — write a finite value "
                                   "(SRILM writes -99 for 'never') or rebuild the model")
        b = fields[starts[j] + k + 1]
        if k < order:
            raise section.error(j, f"the backoff {b} of the {k}-gram {gram} is not a finite number; a log10 backoff weight "
                                   "must be finite (positive is fine) — fix the value or rebuild the model")
        raise section.error(j, f"the {k}-gram {gram} has a backoff ({b}), but {k} is the highest order, whose n-grams are "
                               "never a context (KenLM refuses it too); drop the backoff field")
    return logp, words, logb


def _numbers(section: _Section, strings: NDArray[np.object_], entries: NDArray[np.int64], what: str) -> NDArray[np.float64]:
    """``strings`` as float64 (nan and inf included: the caller checks the values), or an error naming the
    line of the first field that is not a number."""
    try:
        return strings.astype(np.float64)
    except ValueError:
        for j, s in zip(entries.tolist(), strings.tolist(), strict=True):
            try:
                float(s)
            except ValueError:
                raise section.error(j, f"{section.line_of(j)[1][:60]!r} has a field that is not a number where {what} "
                                       "belongs; fix the line (fields are log10 P, the words, then the optional backoff)") from None
        raise


def _gram(words: NDArray[np.object_], j: int) -> str:
    return repr(" ".join(words[j]))


def _refuse_repeats(section: _Section, keys: NDArray[np.int64], words: NDArray[np.object_]) -> NDArray[np.int64]:
    """The stable sort of ``keys`` (one per entry, equal for the same n-gram), or an error naming the first
    line that repeats an earlier one."""
    sort = np.argsort(keys, kind="stable")
    ordered = keys[sort]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(same):
        j = int(sort[same + 1].min())  # the stable sort puts every repeat after its first appearance
        first = section.line_of(int(np.flatnonzero(keys == keys[j])[0]))[0]
        raise section.error(j, f"the {section.k}-gram {_gram(words, j)} appears a second time (first at line {first}); "
                               "a section lists each n-gram once — remove one of the two lines")
    return sort


def _rows_of(tables: list[OrderTable], stored: NDArray[np.bool_], ids: NDArray[np.int64],
             V: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Rows of the (k-1)-grams ``ids`` (n, k-1) in the tables built so far, and whether each is in the file
    (the rows of those that are not are meaningless)."""
    rows = ids[:, 0].copy()
    found = stored[rows]
    for j in range(1, ids.shape[1]):
        keys = rows * V + ids[:, j]
        table = tables[j]
        if len(table.keys) == 0:
            return rows, np.zeros(len(rows), dtype=bool)
        pos = np.minimum(np.searchsorted(table.keys, keys), len(table.keys) - 1)
        found &= table.keys[pos] == keys
        rows = pos
    return rows, found
