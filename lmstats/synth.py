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
sentence and ``h_s`` the entropy of the next token in state ``s``,

    H = Σ_s ν_s h_s / Σ_s ν_s   nats per token (``</s>`` counted as a token),

and ``h_s = H(class | s) + Σ_c P(c | s) H(word | c)``.  ν solves ``ν = e_start + ν Q`` over the
states reachable from the start (:func:`expected_visits`): directly when they are few, else by
summing ``e_start Q^t`` in steps of one sparse product each, until a proven bound on the error
is below :func:`visits_tolerance` (a relative 1e-12 for sentences of up to 100 words), so the
solve reports progress and a signal ends it within a step.  :meth:`MarkovSource.logprobs_words`
gives the true ln P of every token, so a model's perplexity can be compared with the truth on
the very same test tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
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


MAX_STATES = 2_000_000  # context states, (classes + 1) ** order
MAX_TRANSITIONS = 50_000_000  # states × branching: the transition table (about 50 bytes each while it is built)
DENSE_STATES = 2_000  # reachable states up to which ν is solved directly (a dense solve of this size takes < 1 s)

#: ``on_progress(stage, done, total)``: stage "building" counts context states; stage "solving"
#: counts digits of accuracy of ν (``-log10`` of the relative error bound, up to the tolerance's).
Progress = Callable[[str, float, float], None]


MAX_LOG_WEIGHT_RATIO = 600.0  # ln of the largest ratio of two word weights: e^-600 is far above float64's smallest normal


@dataclass(frozen=True)
class SourceConfig:
    """The source's parameters; each refusal names the ``lmstats corpus synth`` flag that sets the field."""

    vocab_size: int = 5000  # --vocab
    n_classes: int = 20  # --classes
    order: int = 2  # --order: the next token depends on this many previous tokens (n-gram order - 1)
    branching: int = 4  # --branching: classes allowed after each context
    zipf: float = 1.0  # --zipf
    mean_words: float = 20.0  # --mean-words: mean words per sentence, </s> not counted
    seed: int = 0  # --seed

    def __post_init__(self) -> None:
        states = (self.n_classes + 1) ** self.order if 1 <= self.order <= 6 and self.n_classes >= 1 else 0
        max_zipf = MAX_LOG_WEIGHT_RATIO / math.log(max(self.vocab_size, 2))  # the steepest whose weights stay above 0
        checks = [
            (self.vocab_size >= 2, f"--vocab {self.vocab_size}: the source needs at least 2 word types; use --vocab 2 or more"),
            (self.n_classes >= 1, f"--classes {self.n_classes}: the source needs at least one word class; use --classes 1 or more"),
            (self.n_classes <= self.vocab_size,
             f"--classes {self.n_classes} is more than --vocab {self.vocab_size}: every class needs at least one word; "
             f"use --classes {self.vocab_size} or fewer, or a larger --vocab"),
            (1 <= self.order <= 6, f"--order {self.order}: the Markov order must be 1 to 6; use --order 1 to 6"),
            (self.branching >= 1, f"--branching {self.branching}: each context must allow at least one class; use --branching 1 or more"),
            (self.branching <= self.n_classes,
             f"--branching {self.branching} is more than --classes {self.n_classes}: a context can only allow the classes "
             f"there are; use --branching {self.n_classes} or fewer, or more --classes"),
            (self.zipf > 0, f"--zipf {self.zipf}: the Zipf exponent must be > 0; use e.g. --zipf 1"),
            (not self.zipf > 0 or self.zipf <= max_zipf,
             f"--zipf {self.zipf} is so steep that the rarest of {self.vocab_size:,} words would have probability 0 in floating "
             f"point (its weight (rank + 1) ** -zipf underflows); use --zipf {max_zipf:.0f} or less"),
            (self.mean_words >= 1 and math.isfinite(self.mean_words),
             f"--mean-words {self.mean_words}: a sentence has at least one word, and a finite mean (sentences must end); "
             "use --mean-words 1 or more, e.g. 20"),
            (states <= MAX_STATES,
             f"--classes {self.n_classes} with --order {self.order} gives {states:,} context states ((classes + 1) ** order), "
             f"more than the {MAX_STATES:,} the exact entropy is computed for; use fewer --classes or a lower --order"),
            (states * self.branching <= MAX_TRANSITIONS,
             f"--classes {self.n_classes}, --order {self.order} and --branching {self.branching} give "
             f"{states * self.branching:,} transitions (context states × branching), more than the {MAX_TRANSITIONS:,} "
             f"the source holds in memory; use a smaller --branching, fewer --classes or a lower --order"),
        ]
        for ok, msg in checks:
            if not ok:
                raise LmstatsError(msg)


def visits_tolerance(mean_words: float) -> float:
    """The relative ℓ1 error allowed in ν, ``max(1e-12, 1e-14 · mean_words)``.

    The system's condition number grows like ``mean_words``, so rounding alone makes errors of
    about ``1e-16 · mean_words`` (in a direct solve as in the sum); the tolerance stays 20 times
    above that.  Since ``Σ_s ν_s = 1 + mean_words`` holds exactly for the estimate too, the entropy
    rate's error is at most ``tolerance · max_s h_s`` nats (``h_s <= ln(branching + 1) + ln(vocab)``).
    """
    return max(1e-12, 1e-14 * mean_words)


def expected_visits(trans, start: int, p_end: float, tol: float, on_progress: Progress | None = None,
                    dense_states: int = DENSE_STATES) -> NDArray[np.float64]:
    """ν, the expected visits per sentence to each state: the solution of ``ν = e_start + ν Q``.

    ``trans`` (scipy CSR, S × S) is Q, the substochastic transition matrix of a chain started in
    ``start`` that is never re-entered, in which every other state ends the sentence with
    probability ``p_end``.  Only the states reachable from ``start`` are solved for: directly when
    there are at most ``dense_states`` of them, else by :func:`_sum_visits` (relative ℓ1 error at
    most ``tol``).
    """
    import scipy.sparse.csgraph as csgraph  # here, not at import: scipy adds 0.1-0.2 s to every command's start

    reach = np.sort(csgraph.breadth_first_order(trans, start, directed=True, return_predecessors=False))
    sub_t = trans[reach][:, reach].T.tocsr()  # Q^T over the reachable states
    e = (reach == start).astype(np.float64)
    if len(reach) <= dense_states:
        nu_reach = np.linalg.solve(np.eye(len(reach)) - sub_t.toarray(), e)
    else:
        nu_reach = _sum_visits(sub_t, e, p_end, tol, on_progress)
    nu = np.zeros(trans.shape[0])
    nu[reach] = nu_reach
    return nu


def _sum_visits(qt, e: NDArray[np.float64], p: float, tol: float, on_progress: Progress | None) -> NDArray[np.float64]:
    """ν = Σ_t π_t with π_t = e Q^t, summed one sparse product at a time until a proven bound holds.

    After the first step every π_t lies on states that end with probability ``p``, so Q = (1-p) P
    there with P stochastic, and the rest of the sum is ``R_t = Σ_j (1-p)^j π_t P^j`` (mass
    ``|π_t|/p``).  The estimate ``ν_t + π_t / p`` (ν_t = Σ_{k<t} π_k) treats π_t as already
    stationary under P; with ``d = |π_{t+1} - (1-p) π_t|_1 = (1-p) |π_t P - π_t|_1`` and
    ``|π_t P^j - π_t| <= j |π_t P - π_t|`` its ℓ1 error is at most ``d / p²``, and never more than
    ``2 |π_t| / p``.  The sum stops when the smaller bound is ``tol · (1 + 1/p)``, the exact
    ``|ν|_1``.  The first bound shrinks as fast as P mixes, the second at rate ``1 - p``.
    """
    nu, pi = e.copy(), qt @ e  # ν_1 and π_1
    norm = 1.0 + 1.0 / p
    goal = -math.log10(tol)
    while True:
        nxt = qt @ pi
        bound = min(np.abs(nxt - (1.0 - p) * pi).sum() / p**2, 2.0 * pi.sum() / p) / norm
        if on_progress is not None:
            on_progress("solving", min(goal, max(0.0, -math.log10(bound))) if bound > 0 else goal, goal)
        if bound <= tol:
            return nu + pi / p
        nu += pi
        pi = nxt


class MarkovSource:
    """The source defined by a :class:`SourceConfig`; everything derives from the seed.

    Building draws each context state's classes and their weights (one state at a time, so a
    seed gives the same source everywhere) and then solves for the expected visits ν;
    ``on_progress`` hears of both (see :data:`Progress`).  The table is sparse: ``next_classes``
    ``(S, branching)`` in ascending order and ``next_probs`` ``(S, branching + 1)``, their
    probabilities then the sentence end's.
    """

    def __init__(self, config: SourceConfig, on_progress: Progress | None = None):
        self.config = config
        cfg = config
        rng = np.random.default_rng(cfg.seed)
        V, K, b = cfg.vocab_size, cfg.n_classes, cfg.branching
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
        S = self.n_states
        p_end = 1.0 / cfg.mean_words
        classes = np.empty((S, b), dtype=np.int32)
        weights = np.empty((S, b))
        class_p, ones = class_mass / class_mass.sum(), np.ones(b)
        for s in range(S):  # the draws of one state after another: the seed's stream fixes the source
            classes[s] = rng.choice(K, size=b, replace=False, p=class_p)
            weights[s] = rng.dirichlet(ones) * class_mass[classes[s]]
            if on_progress is not None and (s % 4096 == 4095 or s == S - 1):
                on_progress("building", s + 1, S)
        ends = np.full(S, p_end)
        ends[self.start_state] = 0.0  # the first word is never the end: no empty lines
        ascending = np.argsort(classes, axis=1)
        classes = np.take_along_axis(classes, ascending, axis=1)
        probs = np.empty((S, b + 1))
        probs[:, :b] = np.take_along_axis((1 - ends)[:, None] * weights / weights.sum(axis=1, keepdims=True), ascending, axis=1)
        probs[:, b] = ends
        self.next_classes = classes  # (S, b), ascending in each row
        self.next_probs = probs  # (S, b+1): P(next_classes[s, j] | s), then P(</s> | s)
        self.visits = expected_visits(self.transitions(), self.start_state, p_end, visits_tolerance(cfg.mean_words), on_progress)

    # -- exact quantities -------------------------------------------------------------
    def next_state(self, state: NDArray[np.int64], cls: NDArray[np.int64]) -> NDArray[np.int64]:
        return (state * self.base + cls) % self.n_states

    def transitions(self):
        """Q, the class-to-class part of the chain over context states (scipy CSR, S × S; rows sum to 1 - P(</s>))."""
        import scipy.sparse as sp

        S, b = self.n_states, self.config.branching
        cols = self.next_state(np.repeat(np.arange(S, dtype=np.int64), b), self.next_classes.ravel())
        trans = sp.csr_matrix((self.next_probs[:, :b].ravel(), cols, np.arange(0, S * b + 1, b)), shape=(S, S))
        trans.eliminate_zeros()  # --mean-words 1: every sentence ends after its first word
        return trans

    @cached_property
    def entropy_rate(self) -> float:
        """Exact entropy per token (``</s>`` included), in nats, to within :attr:`entropy_rate_error`."""
        p = self.next_probs
        with np.errstate(divide="ignore", invalid="ignore"):
            h_next = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        h_state = h_next + (p[:, : self.config.branching] * self.class_entropy[self.next_classes]).sum(axis=1)
        nu = self.visits
        return float(nu @ h_state / nu.sum())

    @property
    def entropy_rate_error(self) -> float:
        """A bound on the error of :attr:`entropy_rate` in nats: the tolerance of ν times the largest ``h_s``."""
        max_h = math.log(self.config.branching + 1) + float(self.class_entropy.max())
        return visits_tolerance(self.config.mean_words) * max_h

    @property
    def perplexity(self) -> float:
        return float(np.exp(self.entropy_rate))

    @cached_property
    def unigram(self) -> NDArray[np.float64]:
        """Exact long-run frequency of each word (without ``</s>``), summing to 1."""
        b, K = self.config.branching, self.config.n_classes
        flow = self.visits[:, None] * self.next_probs[:, :b]  # expected class draws per sentence, (S, b)
        class_freq = np.bincount(self.next_classes.ravel(), weights=flow.ravel(), minlength=K)
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
            raise LmstatsError(f"--tokens {n_tokens}: nothing to write; use --tokens 1 or more")
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

    @cached_property
    def _next_cdf(self) -> NDArray[np.float64]:
        """Cumulative ``next_probs`` along each row, the last column exactly 1; (S, b+1)."""
        cdf = np.cumsum(self.next_probs, axis=1)
        cdf[:, -1] = 1.0
        return cdf

    def _sample_batch(self, n_sent: int, rng: np.random.Generator) -> list[NDArray[np.int64]]:
        """``n_sent`` independent sentences, generated in lockstep (vectorised over sentences)."""
        b = self.config.branching
        cdf = self._next_cdf
        state = np.full(n_sent, self.start_state, dtype=np.int64)
        alive = np.arange(n_sent)
        sent_ids, steps, word_ids = [], [], []
        step = 0
        while len(alive):
            u = rng.random(len(alive))
            pick = (u[:, None] > cdf[state]).sum(axis=1)  # (n_alive,) in 0..b; b is the sentence end
            go = pick < b
            alive, state, pick = alive[go], state[go], pick[go]
            cls = self.next_classes[state, pick]
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
            lp = np.log(self._transition_prob(state, cls))
            lp[~is_end] += np.log(self.emit[ranks[~is_end]])
        return lp

    @cached_property
    def _transition_keys(self) -> NDArray[np.int64]:
        """``state · (K+1) + class`` of every table entry, ascending (rows in state order, classes ascending); (S·b,)."""
        return (np.arange(self.n_states, dtype=np.int64)[:, None] * self.base + self.next_classes).ravel()

    def _transition_prob(self, state: NDArray[np.int64], cls: NDArray[np.int64]) -> NDArray[np.float64]:
        """P(cls | state) for class ids 0..K-1 and K for the sentence end (0 for a class the state does not allow)."""
        b, K = self.config.branching, self.config.n_classes
        keys = state * self.base + cls
        pos = np.minimum(np.searchsorted(self._transition_keys, keys), len(self._transition_keys) - 1)
        allowed = self._transition_keys[pos] == keys
        probs = np.where(allowed, self.next_probs[:, :b].ravel()[pos], 0.0)
        return np.where(cls == K, self.next_probs[state, b], probs)

    def describe(self) -> dict:
        return {
            "config": asdict(self.config),
            "entropy_rate_nats": self.entropy_rate,
            "entropy_rate_bits": self.entropy_rate / np.log(2),
            "entropy_rate_error_nats": self.entropy_rate_error,
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
