"""A seeded Markov text source with Zipfian word frequencies and an exactly known entropy.

The source (:class:`MarkovSource`) writes one sentence per line.  Words belong to ``n_classes``
disjoint classes (word of frequency rank ``r`` is in class ``r mod n_classes``).  Inside a
class, words are drawn with Zipf weights ``(r + 1) ** -zipf``.  Which class comes next depends
on the classes of the previous ``order`` words of the sentence (``<s>`` padding before the
start), each context allowing ``branching`` classes, plus the sentence end with probability
``1 / mean_words`` (never as the first token, so lines are never empty).

Since a word determines its class, the word sequence is a Markov chain of order ``order`` (an
n-gram source with n = order + 1), sentences are independent, and the entropy rate has a closed
form (renewal argument): with ``ν_s`` the expected number of visits to context state ``s`` per
sentence (a sparse linear solve) and ``h_s`` the entropy of the next token in state ``s``,

    H = Σ_s ν_s h_s / Σ_s ν_s   nats per token (``</s>`` counted as a token),

and ``h_s = H(class | s) + Σ_c P(c | s) H(word | c)``.  :meth:`MarkovSource.logprobs` gives
the true ln P of every token, so a model's perplexity can be compared with the truth on the
very same test tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.protocol import LanguageModel

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]


def word_for_rank(rank: int) -> str:
    """A pronounceable letters-only word, distinct for every rank (0 -> 'ba')."""
    parts = [_SYLLABLES[rank % len(_SYLLABLES)]]
    rank //= len(_SYLLABLES)
    while rank:
        rank -= 1
        parts.append(_SYLLABLES[rank % len(_SYLLABLES)])
        rank //= len(_SYLLABLES)
    return "".join(reversed(parts))


@dataclass(frozen=True)
class SourceConfig:
    vocab_size: int = 5000
    n_classes: int = 20
    order: int = 2  # the next token depends on this many previous tokens (n-gram order - 1)
    branching: int = 4  # classes allowed after each context
    zipf: float = 1.0
    mean_words: float = 20.0  # mean words per sentence, </s> not counted
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.vocab_size >= 2, "vocab_size must be >= 2"),
            (1 <= self.n_classes <= self.vocab_size, "n_classes must be in 1..vocab_size"),
            (1 <= self.order <= 6, "order must be in 1..6"),
            (1 <= self.branching <= self.n_classes, "branching must be in 1..n_classes"),
            (self.zipf > 0, "zipf exponent must be > 0"),
            (self.mean_words >= 1, "mean_words must be >= 1"),
            ((self.n_classes + 1) ** self.order <= 2_000_000, "(n_classes + 1) ** order must be <= 2,000,000 context states"),
        ]
        for ok, msg in checks:
            if not ok:
                raise LmstatsError(f"synthetic source: {msg}; got {self}")


class MarkovSource:
    """The source defined by a :class:`SourceConfig`; everything derives from the seed."""

    def __init__(self, config: SourceConfig):
        self.config = config
        cfg = config
        rng = np.random.default_rng(cfg.seed)
        V, K = cfg.vocab_size, cfg.n_classes
        self.words = [word_for_rank(r) for r in range(V)]
        ranks = np.arange(V)
        self.word_class = ranks % K  # (V,)
        weight = (ranks + 1.0) ** -cfg.zipf
        class_mass = np.bincount(self.word_class, weights=weight, minlength=K)
        self.emit = weight / class_mass[self.word_class]  # P(word | its class), (V,)
        # words of each class in rank order, and the per-class cumulative emission table
        self.class_words = [ranks[self.word_class == c] for c in range(K)]
        self._emit_cdf = [np.cumsum(self.emit[w]) for w in self.class_words]
        self.class_entropy = np.array([-(self.emit[w] * np.log(self.emit[w])).sum() for w in self.class_words])

        # context states: the last `order` classes, BOS (= K) padding; base K+1 integers
        self.base = K + 1
        self.n_states = self.base**cfg.order
        self.start_state = sum(K * self.base**j for j in range(cfg.order))
        # next-token table over K + 1 outcomes: classes 0..K-1 and the sentence end (index K)
        S = self.n_states
        p_end = 1.0 / cfg.mean_words
        probs = np.zeros((S, K + 1))
        class_p = class_mass / class_mass.sum()
        for s in range(S):
            chosen = rng.choice(K, size=cfg.branching, replace=False, p=class_p)
            w = rng.dirichlet(np.ones(cfg.branching)) * class_mass[chosen]
            end = 0.0 if s == self.start_state else p_end
            probs[s, chosen] = (1 - end) * w / w.sum()
            probs[s, K] = end
        self.next_probs = probs  # (S, K+1)

    # -- exact quantities -------------------------------------------------------------
    def next_state(self, state: NDArray[np.int64], cls: NDArray[np.int64]) -> NDArray[np.int64]:
        return (state * self.base + cls) % self.n_states

    @cached_property
    def visits(self) -> NDArray[np.float64]:
        """Expected visits to each context state per sentence (ν), from the start state."""
        S, K = self.n_states, self.config.n_classes
        rows = np.repeat(np.arange(S), K)
        cls = np.tile(np.arange(K), S)
        vals = self.next_probs[:, :K].ravel()
        keep = vals > 0
        import scipy.sparse as sp  # here, not at import: scipy adds 0.1-0.2 s to every command's start
        import scipy.sparse.linalg as spla

        Q = sp.csr_matrix((vals[keep], (rows[keep], self.next_state(rows[keep], cls[keep]))), shape=(S, S))
        e = np.zeros(S)
        e[self.start_state] = 1.0
        return spla.spsolve((sp.identity(S, format="csc") - Q.T.tocsc()), e)

    @cached_property
    def entropy_rate(self) -> float:
        """Exact entropy per token (``</s>`` included), in nats."""
        p = self.next_probs
        with np.errstate(divide="ignore", invalid="ignore"):
            h_next = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        h_state = h_next + p[:, : self.config.n_classes] @ self.class_entropy
        nu = self.visits
        return float(nu @ h_state / nu.sum())

    @property
    def perplexity(self) -> float:
        return float(np.exp(self.entropy_rate))

    @cached_property
    def unigram(self) -> NDArray[np.float64]:
        """Exact long-run frequency of each word (without ``</s>``), summing to 1."""
        nu = self.visits
        class_freq = nu @ self.next_probs[:, : self.config.n_classes]
        freq = class_freq[self.word_class] * self.emit
        return freq / freq.sum()

    @property
    def mean_tokens_per_line(self) -> float:
        """Expected tokens per sentence, ``</s>`` included."""
        return float(self.visits.sum())

    # -- sampling ---------------------------------------------------------------------
    def sample(self, n_tokens: int, rng: np.random.Generator) -> list[NDArray[np.int64]]:
        """Sentences (arrays of word ranks, ``</s>`` not included) totalling about ``n_tokens``
        tokens counting one ``</s>`` per sentence; whole sentences, the last one may overshoot."""
        return [sentence for batch in self.sample_batches(n_tokens, rng) for sentence in batch]

    def sample_batches(self, n_tokens: int, rng: np.random.Generator) -> Iterator[list[NDArray[np.int64]]]:
        """The sentences of :meth:`sample` (the same ones, from the same draws) in batches of at
        most 200,000, so that a text of any length is written with bounded memory."""
        if n_tokens < 1:
            raise LmstatsError(f"the number of tokens must be >= 1, got {n_tokens}")
        total = 0
        while total < n_tokens:
            n_sent = max(16, int(1.05 * (n_tokens - total) / self.mean_tokens_per_line) + 1)
            batch: list[NDArray[np.int64]] = []
            for sent in self._sample_batch(min(n_sent, 200_000), rng):
                batch.append(sent)
                total += len(sent) + 1
                if total >= n_tokens:
                    break
            yield batch

    def _sample_batch(self, n_sent: int, rng: np.random.Generator) -> list[NDArray[np.int64]]:
        """``n_sent`` independent sentences, generated in lockstep (vectorised over sentences)."""
        K = self.config.n_classes
        cdf = np.cumsum(self.next_probs, axis=1)
        cdf[:, -1] = 1.0
        state = np.full(n_sent, self.start_state, dtype=np.int64)
        alive = np.arange(n_sent)
        sent_ids, steps, word_ids = [], [], []
        step = 0
        while len(alive):
            u = rng.random(len(alive))
            cls = (u[:, None] > cdf[state]).sum(axis=1)  # (n_alive,) in 0..K
            go = cls < K
            alive, state, cls = alive[go], state[go], cls[go]
            words = np.empty(len(alive), dtype=np.int64)
            u = rng.random(len(alive))
            for c in np.unique(cls):
                m = cls == c
                idx = np.minimum(np.searchsorted(self._emit_cdf[c], u[m], side="right"), len(self.class_words[c]) - 1)
                words[m] = self.class_words[c][idx]
            sent_ids.append(alive)
            steps.append(np.full(len(alive), step))
            word_ids.append(words)
            state = self.next_state(state, cls)
            step += 1
        sid = np.concatenate(sent_ids)
        order = np.lexsort((np.concatenate(steps), sid))
        words = np.concatenate(word_ids)[order]
        bounds = np.searchsorted(sid[order], np.arange(n_sent + 1))
        return [words[bounds[i] : bounds[i + 1]] for i in range(n_sent)]

    def text(self, sentences: list[NDArray[np.int64]]) -> str:
        words = np.array(self.words, dtype=object)
        return "".join(" ".join(words[s]) + "\n" for s in sentences)

    # -- the truth as a language model --------------------------------------------------
    def logprobs_words(self, ranks: NDArray[np.int64]) -> NDArray[np.float64]:
        """True ln P of each token of one stream of word ranks, where -1 marks ``</s>``; the
        stream starts at a sentence start (as after ``<s>``)."""
        ranks = np.asarray(ranks, dtype=np.int64)
        K, order = self.config.n_classes, self.config.order
        is_end = ranks < 0
        cls = np.where(is_end, K, self.word_class[np.where(is_end, 0, ranks)])
        # state before token t: classes of the previous `order` tokens of the same sentence
        state = np.full(len(ranks), self.start_state, dtype=np.int64)
        pos = np.arange(len(ranks))
        last_end = np.maximum.accumulate(np.where(is_end, pos, -1))
        sentence_start = np.concatenate([[0], last_end[:-1] + 1])
        for j in range(1, order + 1):
            prev = pos - j
            inside = prev >= sentence_start
            digit = np.where(inside, cls[np.maximum(prev, 0)], K)
            state = state - K * self.base ** (j - 1) + digit * self.base ** (j - 1)
        with np.errstate(divide="ignore"):
            lp = np.log(self.next_probs[state, cls])
            lp[~is_end] += np.log(self.emit[ranks[~is_end]])
        return lp

    def describe(self) -> dict:
        return {
            "config": asdict(self.config),
            "entropy_rate_nats": self.entropy_rate,
            "entropy_rate_bits": self.entropy_rate / np.log(2),
            "true_perplexity": self.perplexity,
            "mean_tokens_per_line": self.mean_tokens_per_line,
            "ngram_order": self.config.order + 1,
        }


class SourceLM(LanguageModel):
    """The source itself behind the :class:`~lmstats.protocol.LanguageModel` protocol.

    Every word the source can emit must be in ``vocab`` (it is when the training text is large
    enough to contain them all); the true probability of ``<unk>`` is not defined otherwise.
    """

    def __init__(self, source: MarkovSource, vocab):
        reachable = source.unigram > 0  # words of classes no context leads to never occur
        missing = [w for w, live in zip(source.words, reachable, strict=True) if live and w not in vocab]
        if missing:
            raise LmstatsError(
                f"{len(missing)} of the source's {len(source.words)} words are not in the vocabulary "
                f"(e.g. {missing[0]!r}); generate more training text so every word occurs"
            )
        self.source = source
        self._vocab = vocab
        rank_of = {w: r for r, w in enumerate(source.words)}
        table = np.full(len(vocab), -2, dtype=np.int64)
        for i, tok in enumerate(vocab.tokens):
            table[i] = rank_of.get(tok, -2)
        table[vocab.eos_id] = -1
        self._rank = table

    @property
    def vocab(self):
        return self._vocab

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]) under the true source; shape (T,)."""
        ranks = self._rank[np.asarray(ids, dtype=np.int64)]
        if (ranks == -2).any():
            raise LmstatsError("the true source gives no probability to <unk> or other specials")
        return self.source.logprobs_words(ranks)
