import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import optimize, special

from lmstats.cli import main
from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.zipf import analyse_zipf, order_counts
from lmstats.zipf.counting import encode_sentences, frequencies, ngram_type_ids
from lmstats.zipf.heaps import fit_heaps, heaps_curve
from lmstats.zipf.powerlaw import fit_power_law, power_law_ccdf, power_law_pmf, sample_power_law
from lmstats.zipf.rank_fits import check_frequencies, fit_least_squares, fit_mandelbrot, fit_rank_mle
from lmstats.zipf.scale import occurrences, zipf_counts_on_disk
from lmstats.zipf.spectrum import Spectrum

from helpers import TINY, assert_one_line_error, shared_corpus
from oracles import zipf_frame


def run(args, **kw):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kw)


def freqs_of(sentences, order):
    return frequencies(ngram_type_ids(encode_sentences(sentences), order))


def power_law_sample(beta, xmin, n, seed, below=0):
    """Frequencies: ``n`` draws from the discrete power law, plus ``below`` uniform values in 1..xmin-1."""
    rng = np.random.default_rng(seed)
    parts = [sample_power_law(n, beta, xmin, rng)]
    if below:
        parts.append(rng.integers(1, xmin, below))
    return np.concatenate(parts)


# -- counting ----------------------------------------------------------------------------


def test_ngrams_are_counted_within_lines():
    # a b a | c a b d  ->  unigrams a=3 b=2 c=1 d=1; bigrams ab=2 ba ca bd; trigrams aba cab abd
    assert freqs_of(TINY, 1).tolist() == [3, 2, 1, 1]
    assert freqs_of(TINY, 2).tolist() == [2, 1, 1, 1]
    assert freqs_of(TINY, 3).tolist() == [1, 1, 1]
    assert freqs_of(TINY, 4).tolist() == [1]  # only "c a b d"; nothing spans the line break
    assert len(ngram_type_ids(encode_sentences(TINY), 5)) == 0


def test_ngram_ids_match_a_python_count():
    rng = np.random.default_rng(1)
    sentences = [[f"w{int(i)}" for i in rng.zipf(1.6, rng.integers(0, 12)) % 40] for _ in range(300)]
    for order in (1, 2, 3):
        counts = {}
        for s in sentences:
            for i in range(len(s) - order + 1):
                counts[tuple(s[i : i + order])] = counts.get(tuple(s[i : i + order]), 0) + 1
        assert freqs_of(sentences, order).tolist() == sorted(counts.values(), reverse=True)


def test_heaps_curve_counts_first_occurrences():
    ids = ngram_type_ids(encode_sentences(TINY), 1)  # a b a c a b d: new at N = 1, 2, 4, 7
    positions, types = heaps_curve(ids, n_points=100)
    assert dict(zip(positions.tolist(), types.tolist(), strict=True)) == {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 3, 7: 4}


# -- estimators, hand-computed -----------------------------------------------------------


def test_least_squares_is_exact_on_a_perfect_power_law():
    ranks = np.arange(1, 51)
    fit = fit_least_squares(1000.0 * ranks**-1.5)
    assert fit.alpha == pytest.approx(1.5, abs=1e-12)
    assert fit.intercept == pytest.approx(math.log(1000))
    assert fit.alpha_se < 1e-10 and fit.r_squared == pytest.approx(1)
    assert (fit.min_rank, fit.max_rank) == (1, 50)
    assert fit_least_squares(1000.0 * ranks**-1.5, min_rank=5, max_rank=20).max_rank == 20


def test_rank_mle_two_types_by_hand():
    # counts (3, 1): P(r=1) = 1 / (1 + 2^-a) = 3/4  ->  2^-a = 1/3  ->  a = log2(3)
    fit = fit_rank_mle(np.array([3, 1]))
    assert fit.alpha == pytest.approx(math.log2(3), abs=1e-9)
    # observed information n Var[ln r] = 4 * (3/4)(1/4) ln(2)^2
    assert fit.alpha_se == pytest.approx(1 / math.sqrt(4 * 0.75 * 0.25 * math.log(2) ** 2))


def test_rank_mle_recovers_alpha_from_exact_zipf_counts():
    ranks = np.arange(1, 5001)
    expected = 1e6 * ranks**-1.1 / np.sum(ranks**-1.1)  # the exact expected counts of a finite-V Zipf law
    assert fit_rank_mle(expected).alpha == pytest.approx(1.1, abs=1e-9)


def test_mandelbrot_recovers_alpha_and_shift():
    ranks = np.arange(1, 3001)
    expected = 1e6 * (ranks + 2.5) ** -1.3
    fit = fit_mandelbrot(expected)
    assert fit.alpha == pytest.approx(1.3, abs=1e-4) and fit.b == pytest.approx(2.5, abs=1e-3)
    assert fit.converged and fit.alpha_se > 0 and fit.b_se > 0


def test_heaps_on_a_square_root_vocabulary():
    # A new type exactly at N = k^2: V(N) = floor(sqrt(N)), so V ~ N^0.5 with K ~ 1.
    n = 1_000_000
    is_new = np.zeros(n, dtype=bool)
    is_new[np.arange(1, 1001) ** 2 - 1] = True
    type_ids = np.cumsum(is_new) - 1  # a new type at each marked position, else repeat the last
    fit = fit_heaps(*heaps_curve(type_ids), n_min=100)
    assert fit.beta == pytest.approx(0.5, abs=0.005) and fit.k == pytest.approx(1.0, rel=0.05)
    assert fit.n_min >= 100 and fit.n_max == n


# -- the CSN discrete power law ----------------------------------------------------------


@pytest.mark.parametrize("beta, xmin", [(1.7, 1), (2.5, 3), (3.5, 10)])
def test_power_law_pmf_sums_to_one(beta, xmin):
    x = np.arange(xmin, xmin + 200_000)
    total = power_law_pmf(x, beta, xmin).sum() + power_law_ccdf(xmin + 200_000, beta, xmin)
    assert total == pytest.approx(1, abs=1e-12)
    assert power_law_pmf(np.array([xmin - 1]), beta, xmin)[0] == 0


def test_sampler_matches_the_pmf(rng):
    x = sample_power_law(200_000, 2.5, 2, rng)
    assert x.min() >= 2
    for value in (2, 3, 5):
        p = power_law_pmf(np.array([value]), 2.5, 2)[0]
        assert np.mean(x == value) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / len(x)))


def test_csn_exponent_is_the_exact_mle_at_its_xmin():
    freqs = power_law_sample(2.3, 4, 4000, seed=3, below=3000)
    fit = fit_power_law(freqs, compare=False)
    tail = freqs[freqs >= fit.xmin].astype(float)
    nll = lambda b: b * np.log(tail).sum() + len(tail) * math.log(special.zeta(b, fit.xmin))  # noqa: E731
    direct = optimize.minimize_scalar(nll, bounds=(1.01, 10), method="bounded", options={"xatol": 1e-10})
    assert fit.freq_exponent == pytest.approx(direct.x, abs=1e-6)
    assert fit.n_tail == len(tail)
    assert fit.freq_exponent_se == pytest.approx((fit.freq_exponent - 1) / math.sqrt(fit.n_tail))
    assert fit.rank_exponent == pytest.approx(1 / (fit.freq_exponent - 1))  # rank exponent of the same law
    assert fit.freq_exponent == pytest.approx(2.3, abs=4 * fit.freq_exponent_se)


def test_csn_fits_exponents_above_three():
    freqs = power_law_sample(3.5, 1, 20_000, seed=5)
    fit = fit_power_law(freqs, compare=False)
    assert fit.freq_exponent == pytest.approx(3.5, abs=4 * fit.freq_exponent_se) and fit.freq_exponent > 3.2
    assert any("powerlaw 2.0.0 would discard" in w for w in fit.warnings)


def test_likelihood_ratios_point_the_right_way(rng):
    power = fit_power_law(power_law_sample(2.0, 1, 5000, seed=7))
    assert {c.alternative for c in power.comparisons} == {"exponential", "lognormal"}
    assert next(c for c in power.comparisons if c.alternative == "exponential").normalized_R > 2
    geometric = fit_power_law(rng.geometric(0.05, 5000))
    exp = next(c for c in geometric.comparisons if c.alternative == "exponential")
    assert exp.R < 0 and exp.normalized_R < -1  # the exponential fits the geometric tail better


@pytest.mark.slow
def test_bootstrap_p_value_is_seeded_and_plausible():
    freqs = power_law_sample(2.2, 1, 800, seed=11)
    a = fit_power_law(freqs, bootstrap=25, rng=np.random.default_rng(0), compare=False)
    b = fit_power_law(freqs, bootstrap=25, rng=np.random.default_rng(0), compare=False)
    assert a.p_value == b.p_value and a.n_bootstrap == 25
    assert a.p_value > 0.1  # the data are a power law


# -- agreement with powerlaw 2.0.0 -------------------------------------------------------


def powerlaw_fit(freqs):
    powerlaw = pytest.importorskip("powerlaw", reason="powerlaw is a test extra: pip install -e .[test]")
    assert powerlaw.__version__.startswith("2.0.0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return powerlaw.Fit(freqs, discrete=True, verbose=0)


def assert_agrees(freqs):
    ours = fit_power_law(freqs, compare=False)
    theirs = powerlaw_fit(freqs)
    assert ours.xmin == theirs.xmin
    assert ours.freq_exponent == pytest.approx(theirs.alpha, abs=1e-3)  # powerlaw's alpha is our frequency exponent
    assert ours.ks == pytest.approx(theirs.D, abs=1e-4)
    return ours, theirs


def test_agrees_with_powerlaw_on_a_synthetic_sample():
    assert_agrees(power_law_sample(2.2, 3, 3000, seed=2, below=1500))


@pytest.mark.parametrize("order", [1, 2])
def test_agrees_with_powerlaw_on_real_text(order):
    path = shared_corpus("timemachine") / "timemachine.txt"
    sentences = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    assert_agrees(freqs_of(sentences, order))


def test_powerlaw_caps_alpha_below_three_and_we_do_not():
    freqs = power_law_sample(3.5, 1, 20_000, seed=5)
    assert powerlaw_fit(freqs).alpha < 3  # its valid range is (0, 3): the true 3.5 cannot come out
    assert fit_power_law(freqs, compare=False).freq_exponent > 3.2


# -- the analysis, the frame, bad input --------------------------------------------------


@pytest.mark.slow
def test_bigram_exponents_are_smaller_than_unigram_ones_on_real_text():
    path = shared_corpus("timemachine") / "timemachine.txt"
    sentences = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    frame = zipf_frame(analyse_zipf(encode_sentences(sentences), (1, 2), compare=False))
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == [1, 2]
    for column in ("ls_alpha", "mle_alpha", "zm_alpha", "csn_rank_exponent"):
        assert frame.loc[1, column] > frame.loc[2, column], column


@pytest.mark.parametrize("freqs, pattern", [
    ([5, 3, 2], "only 3 type"),
    ([2, 2, 2, 2, 2, 2], "equally often"),
    ([], "only 0 type"),
])
def test_bad_frequency_lists_raise(freqs, pattern):
    with pytest.raises(LmstatsError, match=pattern):
        check_frequencies(np.array(freqs, dtype=np.int64))


def test_two_distinct_frequencies_is_a_clear_error():
    with pytest.raises(LmstatsError, match="distinct value"):
        fit_power_law(np.array([2, 1, 1, 1, 1, 1]))


@pytest.mark.slow
def test_cli_json_on_the_default_corpus():
    result = run(["zipf", "--n", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["corpus"] == "python-docs" and "train+valid+test" in data["text"]
    uni, bi = data["fits"]
    assert (uni["order"], bi["order"]) == (1, 2)
    assert uni["n_types"] < bi["n_types"] and 0 < uni["hapax_ratio"] < 1
    pl = uni["power_law"]
    assert "alpha" not in pl and "beta" not in pl  # unambiguous: Clauset's alpha is our frequency exponent
    assert pl["rank_exponent"] == pytest.approx(1 / (pl["freq_exponent"] - 1)) and pl["p_value"] is None
    assert "Clauset" in data["notation"]["power_law.freq_exponent"]
    assert {c["alternative"] for c in pl["comparisons"]} == {"exponential", "lognormal"}
    assert uni["least_squares"]["alpha"] > bi["least_squares"]["alpha"]
    assert "freqs" not in uni and "scan_ks" not in pl


@pytest.mark.slow
def test_cli_table_and_plot(tmp_path):
    out = tmp_path / "z.png"
    result = run(["zipf", "--n", "2", "--no-compare", "--max-rank", "1000", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    for label in ("least squares (textbook)", "ranks 1-1,000", "rank MLE", "Zipf-Mandelbrot", "x_min", "Heaps", "bigrams"):
        assert label in result.output, label
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bad_corpora(tmp_path):
    (tmp_path / "few.txt").write_text("a b\n" * 30)
    (tmp_path / "flat.txt").write_text("".join(f"w{i} v{i}\n" for i in range(30)))
    (tmp_path / "short.txt").write_text("".join(f"the cat {i} sat on a mat\n" for i in range(30)))
    return tmp_path


BAD = [
    (["zipf", "{tmp}/few.txt", "--n", "1"], "only 2 type"),
    (["zipf", "{tmp}/flat.txt", "--n", "1"], "equally often"),
    (["zipf", "{tmp}/short.txt", "--n", "8"], "longest line has 7"),
    (["zipf", "{tmp}/missing.txt"], "no such file"),
    (["zipf", "--n", "0"], "--n"),
    (["zipf", "--bootstrap", "-1"], "--bootstrap"),
]


@pytest.mark.parametrize("args, pattern", BAD)
def test_bad_input_is_one_line_exit_2(bad_corpora, args, pattern):
    args = [a.format(tmp=bad_corpora) for a in args]
    result = CliRunner().invoke(main, args)
    assert_one_line_error(result, pattern)
    assert "nan" not in result.output.lower()


# -- out of core: the n-gram engine's tables give the same counts --------------------------


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Out-of-core counting in blocks of 1000 positions, runs merged in key ranges of about 1000 entries."""
    import lmstats.ngram.external as external

    monkeypatch.setattr(external, "MIN_BLOCK", 1000)
    monkeypatch.setattr(external, "BYTES_PER_POSITION", 1 << 40)
    monkeypatch.setattr(external, "BYTES_PER_ENTRY", 1 << 16)


def same_spectrum(a, b) -> bool:
    return np.array_equal(a.values, b.values) and np.array_equal(a.counts, b.counts)


def random_type_lines(seed: int, n_lines: int, n_types: int) -> Lines:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 9, size=n_lines)
    ids = np.minimum(rng.zipf(1.4, size=int(lengths.sum())) - 1, n_types - 1).astype(np.int32)  # a few common types, a long tail
    return Lines.from_lengths(ids, lengths)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_out_of_core_counts_equal_the_in_memory_counts(tiny_blocks, tmp_path, seed):
    lines = random_type_lines(seed, 3000, 40)
    n_types = int(lines.ids.max()) + 1
    orders = (1, 2, 3, 4)
    got = zipf_counts_on_disk(lines, n_types, orders, memory=1 << 20, workdir=tmp_path)
    for k, counted in zip(orders, got, strict=True):
        expected = order_counts(ngram_type_ids(lines, k), k)
        assert counted.order == k and counted.n_occurrences == expected.n_occurrences == occurrences(lines, k)
        assert same_spectrum(counted.freqs, expected.freqs), k
        assert np.array_equal(counted.heaps_positions, expected.heaps_positions), k
        assert np.array_equal(counted.heaps_types, expected.heaps_types), k


def test_heaps_pass_in_many_chunks_equals_one_chunk(tiny_blocks, tmp_path, monkeypatch):
    """Chunks of 1-2 lines: the running count of distinct n-grams carries across chunk boundaries."""
    import lmstats.zipf.scale as scale

    lines = random_type_lines(7, 400, 25)
    n_types = int(lines.ids.max()) + 1
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole = zipf_counts_on_disk(lines, n_types, (1, 2), memory=1 << 20, workdir=tmp_path / "a")
    monkeypatch.setattr(scale, "LOOKUP_BYTES_PER_POSITION", 1 << 40)  # chunks of the minimum size
    monkeypatch.setattr(scale, "MIN_CHUNK", 10)
    small = zipf_counts_on_disk(lines, n_types, (1, 2), memory=1 << 20, workdir=tmp_path / "b")
    for a, b in zip(whole, small, strict=True):
        assert np.array_equal(a.heaps_types, b.heaps_types) and same_spectrum(a.freqs, b.freqs)


@pytest.mark.slow
def test_analysis_out_of_core_equals_in_memory_on_real_text(tight_memory, tmp_path, monkeypatch):
    """The Time Machine (whole analysis, 3 orders) with --memory forcing the out-of-core path: every figure equal."""
    import lmstats.ngram.plan as plan

    path = shared_corpus("timemachine") / "timemachine.txt"
    lines = encode_sentences([line.split() for line in path.read_text(encoding="utf-8").splitlines()])
    plans = []
    expected = analyse_zipf(lines, (1, 2, 3), compare=False)
    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 1 << 20)  # every corpus is "too large" to count in memory
    got = analyse_zipf(lines, (1, 2, 3), compare=False, memory=tight_memory(), tmp=tmp_path, on_plan=plans.append)
    assert len(plans) == 1 and not plans[0].in_memory
    assert json.dumps(got.to_dict(), sort_keys=True) == json.dumps(expected.to_dict(), sort_keys=True)
    assert list(tmp_path.iterdir()) == []  # the work folder is removed


@pytest.mark.slow
def test_cli_out_of_core_prints_its_plan_and_the_same_figures(tight_memory, monkeypatch):
    import lmstats.ngram.plan as plan

    expected = json.loads(run(["zipf", "--n", "2", "--no-compare", "--json"]).stdout)
    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 1 << 20)
    result = CliRunner().invoke(main, ["zipf", "--n", "2", "--no-compare", "--json", "--memory", str(tight_memory())])
    assert result.exit_code == 0, result.output
    assert "out of core" in result.stderr and "order 2 counted" in result.stderr
    assert json.loads(result.stdout) == expected


def test_cli_memory_that_cannot_work_is_refused_upfront(monkeypatch):
    import lmstats.ngram.plan as plan

    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 1 << 20)  # too large to count in memory, and
    assert_one_line_error(run(["zipf", "--memory", "128M"]), "cannot work: this process already holds")  # < held + MIN_WORKING


# -- the frequency spectrum ------------------------------------------------------------------


def test_spectrum_by_hand_and_from_counts_in_pieces():
    spectrum = Spectrum.of([1, 5, 2, 1, 1, 5])
    assert spectrum.values.tolist() == [5, 2, 1] and spectrum.counts.tolist() == [2, 1, 3]
    assert spectrum.n_types == 6 and spectrum.total == 15 and spectrum.count_of(1) == 3 and spectrum.count_of(7) == 0
    assert spectrum.at_ranks(np.arange(1, 7)).tolist() == [5, 5, 2, 1, 1, 1]
    assert spectrum.expand().tolist() == [5, 5, 2, 1, 1, 1]
    pieces = [np.array([0, 1, 5]), np.array([2, 1, 0, 1]), np.array([5, 1 << 27, 1 << 27])]  # zeros dropped; huge counts too
    merged = Spectrum.of_counts(pieces)
    expected = Spectrum.of(np.array([1, 5, 2, 1, 1, 5, 1 << 27, 1 << 27]))
    assert merged.values.tolist() == expected.values.tolist() and merged.counts.tolist() == expected.counts.tolist()


def test_rank_blocks_cover_every_rank_once():
    spectrum = Spectrum.of(np.random.default_rng(0).zipf(1.6, 5000))
    ranks, values = zip(*spectrum.blocks(block=333), strict=True)
    assert np.array_equal(np.concatenate(ranks), np.arange(1, 5001))
    assert np.array_equal(np.concatenate(values), spectrum.expand())
    ranks, _ = zip(*spectrum.blocks(17, 4000, block=100), strict=True)
    assert np.array_equal(np.concatenate(ranks), np.arange(17, 4001))


@pytest.mark.slow
def test_rank_fits_in_many_blocks_equal_one_block(monkeypatch):
    """The fits sum over ranks block by block: small blocks give the same estimates as one block."""
    import lmstats.zipf.spectrum as spectrum_module

    freqs = np.sort(np.random.default_rng(1).zipf(1.7, 20_000))[::-1]
    one = (fit_least_squares(freqs, 2, 15_000), fit_rank_mle(freqs), fit_mandelbrot(freqs))
    monkeypatch.setattr(spectrum_module, "BLOCK", 777)
    many = (fit_least_squares(freqs, 2, 15_000), fit_rank_mle(freqs), fit_mandelbrot(freqs))
    assert many[0].alpha == pytest.approx(one[0].alpha, rel=1e-12) and many[0].alpha_se == pytest.approx(one[0].alpha_se, rel=1e-9)
    assert many[1].alpha == pytest.approx(one[1].alpha, rel=1e-10) and many[1].loglik == pytest.approx(one[1].loglik, rel=1e-12)
    assert many[2].alpha == pytest.approx(one[2].alpha, rel=1e-6) and many[2].b == pytest.approx(one[2].b, rel=1e-5)
    # against scipy's own regression on the materialised list
    from scipy import stats

    reg = stats.linregress(np.log(np.arange(2, 15_001)), np.log(freqs[1:15_000]))
    assert one[0].alpha == pytest.approx(-reg.slope, rel=1e-12) and one[0].alpha_se == pytest.approx(reg.stderr, rel=1e-9)
    assert one[0].r_squared == pytest.approx(reg.rvalue**2, rel=1e-12)
