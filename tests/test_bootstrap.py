"""Bootstrap intervals of perplexity and the paired bootstrap (lmstats.bootstrap), against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lmstats.bootstrap as bootstrap
from lmstats import LmstatsError
from lmstats.bootstrap import UnitSums, paired_bootstrap, perplexity_interval, unit_sums
from lmstats.encoded import Lines


def sums(*nll: float) -> UnitSums:
    return UnitSums(np.array(nll, dtype=np.float64), np.ones(len(nll), dtype=np.int64), "line")


def test_two_units_by_hand():
    """Units of one token with P = 1/2 and 1/8. A replicate draws both units twice (ppl 2 or 8, 1/4 each) or one of each
    (ppl sqrt(2*8) = 4, 1/2), so the 2.5% and 97.5% percentiles are 2 and 8."""
    got = perplexity_interval(sums(math.log(2), math.log(8)), replicates=4000, seed=1)
    assert got.ppl == pytest.approx(4.0) and (got.low, got.high) == (pytest.approx(2.0), pytest.approx(8.0))
    assert (got.units, got.unit, got.level) == (2, "line", 0.95)


def test_paired_by_hand():
    """a = (1/2, 1/8), b = (1/2, 1/2): δ = 4 - 2 = 2. Replicates: δ* = 0 (unit 1 twice, 1/4), 2 (one of each, 1/2),
    6 (unit 2 twice, 1/4); δ* > 2δ = 4 only for the last, so p = 1/4, and the interval of δ is (0, 6)."""
    got = paired_bootstrap(sums(math.log(2), math.log(8)), sums(math.log(2), math.log(2)), replicates=4000, seed=2)
    assert got.difference == pytest.approx(2.0)
    assert (got.low, got.high) == (pytest.approx(0.0, abs=1e-12), pytest.approx(6.0))
    assert got.p_value == pytest.approx(0.25, abs=0.03)  # binomial s.d. at 4000 replicates: 0.007
    worse = paired_bootstrap(sums(math.log(2), math.log(2)), sums(math.log(2), math.log(8)), replicates=100, seed=2)
    assert worse.p_value == 1.0  # a is the better model: nothing to test


def test_invariants_same_seed_same_numbers_and_chunks_do_not_matter(monkeypatch):
    rng = np.random.default_rng(0)
    s = UnitSums(rng.gamma(2.0, 3.0, 300), rng.integers(1, 20, 300), "line")
    a = perplexity_interval(s, seed=5)
    assert a == perplexity_interval(s, seed=5) and a != perplexity_interval(s, seed=6)
    assert a.low < a.ppl < a.high
    monkeypatch.setattr(bootstrap, "_CHUNK", 7 * 300)  # 7 replicates at a time: the same draws
    assert perplexity_interval(s, seed=5) == a
    flat = UnitSums(np.full(50, 2.0), np.full(50, 2, dtype=np.int64), "line")  # every unit alike: no spread
    b = perplexity_interval(flat)
    assert b.low == pytest.approx(math.e) and b.high == pytest.approx(math.e)
    same = paired_bootstrap(s, s)
    assert (same.low, same.high, same.p_value) == (0.0, 0.0, 1.0)


def test_unit_sums_are_lines_or_blocks():
    units = Lines.from_seqs([[1, 2, 3], [4], [5, 6]])
    lp = -np.arange(1, 7, dtype=np.float64)
    line = unit_sums(units, lp, "sentence")
    assert list(line.nll) == [6.0, 4.0, 11.0] and list(line.n) == [3, 1, 2] and line.unit == "line"
    block = unit_sums(Lines.single(np.arange(6)), lp, "stream", block=4)
    assert list(block.nll) == [10.0, 11.0] and list(block.n) == [4, 2] and block.unit == "block of 4 tokens"
    assert line.ppl == pytest.approx(block.ppl) == pytest.approx(math.exp(21 / 6))


def test_stream_blocks_are_256_tokens_or_fewer_in_a_short_text():
    assert [bootstrap.stream_block(n) for n in (10, 700, 20 * 100, 20 * 256, 10**6)] == [16, 32, 96, 256, 256]
    units = Lines.single(np.arange(700))
    got = unit_sums(units, -np.ones(700), "stream")
    assert got.unit == "block of 32 tokens" and len(got.n) == 22 and got.n[-1] == 700 - 21 * 32


def test_many_units_are_merged_into_runs_of_consecutive_ones():
    s = UnitSums(np.arange(10, dtype=np.float64), np.ones(10, dtype=np.int64), "line")
    g = bootstrap.grouped(s, max_units=4)
    assert list(g.nll) == [3.0, 12.0, 21.0, 9.0] and list(g.n) == [3, 3, 3, 1] and g.unit == "run of 3 lines"
    assert g.ppl == pytest.approx(s.ppl) and bootstrap.grouped(s, 10) is s
    assert bootstrap.plural(4, g.unit) == "4 runs of 3 lines" and bootstrap.plural(1, "line") == "1 line"


def test_no_interval_for_one_unit_or_an_infinite_perplexity():
    assert bootstrap.interval_of(sums(1.0)) == {} and bootstrap.interval_of(sums(1.0, math.inf)) == {}
    assert not bootstrap.resamplable(sums(1.0, 2.0), sums(1.0, math.inf)) and bootstrap.resamplable(sums(1.0, 2.0))
    assert bootstrap.interval_of(sums(1.0, 2.0), seed=3)["ppl_interval"] == perplexity_interval(sums(1.0, 2.0), seed=3).to_dict()


def test_bad_inputs_are_errors():
    with pytest.raises(LmstatsError, match="at least 2 scored units"):
        perplexity_interval(sums(1.0))
    with pytest.raises(LmstatsError, match="between 0 and 1"):
        perplexity_interval(sums(1.0, 2.0), level=1.5)
    with pytest.raises(LmstatsError, match="same units"):
        paired_bootstrap(sums(1.0, 2.0), sums(1.0, 2.0, 3.0))
