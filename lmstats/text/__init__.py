"""Text: from a corpus description to encoded splits.

:mod:`~lmstats.text.spec` (:class:`CorpusSpec`, :class:`VocabSpec`: what to read and how),
:mod:`~lmstats.text.catalogue` (named corpora, local copies, verified downloads),
:mod:`~lmstats.text.sources` (a source to its files), :mod:`~lmstats.text.reader` (the one
file reader), :mod:`~lmstats.text.ingest` (text to type ids), :mod:`~lmstats.text.subword`
(bpe/unigram pieces), :mod:`~lmstats.text.split` (seeded and positional splits),
:mod:`~lmstats.text.spill` (when a corpus's ids stay on disk), :mod:`~lmstats.text.corpus`
(:func:`load_corpus`, :class:`Corpus`, :class:`Splits`), :mod:`~lmstats.text.stats`
(per-split statistics) and :mod:`~lmstats.text.scan` (text to ids under a fixed vocabulary,
compiled).  This file imports nothing, so a model can import the small spec module alone.
"""
