import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import CorpusSpec, LmstatsError, MarkovSource, SourceConfig, SourceLM, Vocab, evaluate, load_corpus
from lmstats.cli import main
from lmstats.interrupts import Terminated
from lmstats.synth import DENSE_STATES, expected_visits, visits_tolerance

from helpers import assert_one_line_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_entropy_rate_hand_computed():
    # 2 words in 1 class, zipf 1 -> P(w) = 2/3, 1/3.  Start state: a word surely.  Later states:
    # end with 1/2, another word with 1/2.  Per sentence: visits(start) = 1, visits(after a word) = 2,
    # so 3 tokens; H = [h_w + 2 (ln 2 + h_w / 2)] / 3.
    src = MarkovSource(SourceConfig(vocab_size=2, n_classes=1, order=1, branching=1, zipf=1.0, mean_words=2.0))
    h_w = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert src.mean_tokens_per_line == pytest.approx(3.0, abs=1e-12)
    assert src.entropy_rate == pytest.approx((2 * h_w + 2 * math.log(2)) / 3, abs=1e-12)


def test_unigram_is_a_distribution_and_zipfian():
    src = MarkovSource(SourceConfig(vocab_size=2000, n_classes=10, order=1, seed=3))
    u = src.unigram
    assert u.sum() == pytest.approx(1.0) and (u > 0).all()
    ranks = np.arange(1, 2001)
    slope = np.polyfit(np.log(ranks[20:1000]), np.log(np.sort(u)[::-1][20:1000]), 1)[0]
    assert -1.4 < slope < -0.6  # roughly Zipf with exponent ~1


def test_sampling_is_seeded_and_the_true_model_matches_the_entropy_rate():
    src = MarkovSource(SourceConfig(vocab_size=300, n_classes=6, order=2, branching=3, seed=1))
    a = src.sample(50_000, np.random.default_rng(5))
    b = src.sample(50_000, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)) and len(a) == len(b)
    assert all(len(s) >= 1 for s in a)  # no empty lines
    stream = np.concatenate([np.append(s, -1) for s in src.sample(400_000, np.random.default_rng(6))])
    lp = src.logprobs_words(stream)
    assert np.isfinite(lp).all()
    # Monte Carlo estimate of the entropy rate; 400k tokens -> standard error well below 1%
    assert -lp.mean() == pytest.approx(src.entropy_rate, rel=0.01)


def test_source_lm_plugs_into_the_evaluator(tmp_path):
    src = MarkovSource(SourceConfig(vocab_size=200, n_classes=5, order=1, branching=2, seed=2))
    path = tmp_path / "synth.txt"
    path.write_text(src.text(src.sample(60_000, np.random.default_rng(0))))
    corpus = load_corpus(CorpusSpec(path, seed=0))
    vocab = corpus.build_vocab()
    splits = corpus.encode(vocab)
    truth = SourceLM(src, vocab)
    sent = evaluate(truth, splits["test"], mode="sentence")
    stream = evaluate(truth, splits["test"], mode="stream")
    # sentences are independent and restart from <s>, so both modes give the same sums
    assert sent.nll_sum == pytest.approx(stream.nll_sum) and sent.n_tokens == stream.n_tokens
    assert sent.ppl == pytest.approx(src.perplexity, rel=0.05)
    with pytest.raises(LmstatsError, match="not in the vocabulary"):
        SourceLM(src, Vocab.build([["ba"]]))


def test_bad_source_config_is_a_clear_error():
    with pytest.raises(LmstatsError, match="branching"):
        SourceConfig(n_classes=3, branching=5)


def direct_visits(src: MarkovSource) -> np.ndarray:
    """The oracle: ν from scipy's sparse LU solve of (I - Q^T) ν = e_start over all states."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    e = np.zeros(src.n_states)
    e[src.start_state] = 1.0
    return spla.spsolve(sp.identity(src.n_states, format="csc") - src.transitions().T.tocsc(), e)


@pytest.mark.parametrize("cfg", [
    dict(vocab_size=300, n_classes=6, order=2, branching=3, seed=1),
    dict(vocab_size=1000, n_classes=12, order=3, branching=5, mean_words=7, seed=4),
    dict(vocab_size=500, n_classes=20, branching=1, mean_words=300),  # one path into a cycle: P never mixes, the 1 - p rate ends it
    # sentences of 10^5 words: the mixing bound ends it
    pytest.param(dict(vocab_size=500, n_classes=20, branching=4, mean_words=1e5), marks=pytest.mark.slow),
    dict(vocab_size=50, n_classes=5, branching=2, mean_words=1),  # one word per sentence
])
def test_summed_visits_agree_with_the_direct_solve(cfg):
    src = MarkovSource(SourceConfig(**cfg))
    p_end, tol = 1 / src.config.mean_words, visits_tolerance(src.config.mean_words)
    steps = []
    summed = expected_visits(src.transitions(), src.start_state, p_end, tol, lambda *a: steps.append(a), dense_states=0)
    direct = direct_visits(src)
    assert steps and steps[-1] == ("solving", -math.log10(tol), -math.log10(tol))  # the sum ran, step by step, to the tolerance
    assert np.abs(summed - direct).sum() <= tol * direct.sum()  # the proven bound holds
    assert summed.sum() == pytest.approx(1 + src.config.mean_words, rel=1e-12)
    assert np.abs(src.visits - direct).sum() <= tol * direct.sum()  # and the direct path (few reachable states) too


@pytest.mark.slow
def test_a_large_source_sums_its_visits_and_keeps_the_exact_entropy():
    steps = []
    src = MarkovSource(SourceConfig(vocab_size=2000, n_classes=14, order=3, seed=2), on_progress=lambda *a: steps.append(a))
    assert np.count_nonzero(src.visits) > DENSE_STATES  # too many reachable states for the direct path
    stages = [s[0] for s in steps]
    assert stages.count("solving") > 5 and stages.index("solving") > stages.index("building")
    assert steps[stages.index("solving") - 1] == ("building", src.n_states, src.n_states)
    nu = direct_visits(src)
    p = src.next_probs
    h_next = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)  # the start state's P(</s>) is 0
    h_state = h_next + (p[:, :-1] * src.class_entropy[src.next_classes]).sum(axis=1)
    assert src.entropy_rate == pytest.approx(nu @ h_state / nu.sum(), rel=1e-10)
    assert abs(src.entropy_rate - nu @ h_state / nu.sum()) <= src.entropy_rate_error


def test_the_solve_stops_at_an_exception_raised_between_its_steps():
    # A SIGTERM handler raises Terminated at whatever point Python has reached; the solve is a
    # Python loop of short steps, so it is reached at the next step.
    calls = []

    def stop_at_the_third(stage, done, total):
        calls.append(stage)
        if calls.count("solving") == 3:
            raise Terminated

    with pytest.raises(Terminated):
        MarkovSource(SourceConfig(vocab_size=2000, n_classes=14, order=3, seed=2), on_progress=stop_at_the_third)
    assert calls.count("solving") == 3


REFUSALS = [  # (flags, the flag the message names, what it tells the user to do)
    (["--classes", "100", "--vocab", "50"], "--classes 100 is more than --vocab 50", "use --classes 50 or fewer, or a larger --vocab"),
    (["--branching", "30", "--classes", "5"], "--branching 30 is more than --classes 5", "use --branching 5 or fewer, or more --classes"),
    (["--classes", "200", "--order", "3"], "--classes 200 with --order 3 gives 8,120,601 context states",
     "use fewer --classes or a lower --order"),
    (["--classes", "1413", "--order", "2", "--branching", "26"], "--classes 1413, --order 2 and --branching 26 give 51,984,296 transitions",
     "use a smaller --branching, fewer --classes or a lower --order"),
    (["--vocab", "1"], "--vocab:", ">=2"),
    (["--classes", "0"], "--classes:", ">=1"),
    (["--order", "7"], "--order:", "1<=x<=6"),
    (["--branching", "0"], "--branching:", ">=1"),
    (["--zipf", "0"], "--zipf:", ">0"),
    (["--mean-words", "0.5"], "--mean-words:", ">=1"),
    (["--tokens", "0"], "--tokens:", ">=1"),
    (["--zipf", "400"], "--zipf 400.0 is so steep that the rarest of 5,000 words", "use --zipf 70 or less"),  # NaN entropy before
    (["--mean-words", "inf"], "--mean-words inf:", "use --mean-words 1 or more"),  # sentences that never end: it hung
]


@pytest.mark.parametrize("flags, names, advice", REFUSALS)
def test_every_refusal_of_synth_speaks_in_flags(tmp_path, flags, names, advice):
    out = tmp_path / "x.txt"
    result = CliRunner().invoke(main, ["corpus", "synth", str(out), *flags])
    assert_one_line_error(result, names)
    assert advice in result.output
    assert not any(name in result.output for name in ("SourceConfig", "n_classes", "vocab_size", "mean_words", "n_tokens"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("field, value, flag", [("vocab_size", 1, "--vocab 1"), ("n_classes", 0, "--classes 0"), ("order", 7, "--order 7"),
                                                ("branching", 0, "--branching 0"), ("zipf", -1.0, "--zipf -1.0"),
                                                ("mean_words", 0.5, "--mean-words 0.5")])
def test_source_config_refusals_name_the_flag_and_what_to_do(field, value, flag):
    with pytest.raises(LmstatsError) as info:
        SourceConfig(**{field: value})
    message = str(info.value)
    assert message.startswith(flag) and "; use " in message
    assert not any(name in message for name in ("SourceConfig", "vocab_size", "n_classes", "mean_words"))


def _synth_process(out, *flags) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lmstats", "corpus", "synth", str(out), *flags], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_terminated_cleanly(proc: subprocess.Popen, folder) -> None:
    _, stderr = proc.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert proc.returncode == 143, (proc.returncode, stderr)
    assert len(lines) == 1 and lines[0].startswith("lmstats: error: terminated"), stderr
    assert "Traceback" not in stderr
    assert list(folder.iterdir()) == []  # no output, no .source.json, no hidden temporary file


@pytest.mark.slow
def test_sigterm_while_synth_samples_exits_143_and_leaves_nothing(tmp_path):
    out = tmp_path / "out.txt"
    proc = _synth_process(out, "--order", "3", "--classes", "20", "--vocab", "5000", "--tokens", "1000000000")
    try:
        deadline = time.monotonic() + 120  # a bound on waiting, not an assertion on speed
        while not list(tmp_path.glob(".out.txt.*.tmp")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob(".out.txt.*.tmp")), "synth never started writing"
        proc.send_signal(signal.SIGTERM)
        _assert_terminated_cleanly(proc, tmp_path)
    finally:
        proc.kill()


@pytest.mark.slow
def test_sigterm_while_synth_solves_for_the_visits_exits_143(tmp_path):
    # The signal is sent from the progress callback of the solve's first step, as a signal arriving then would be.
    code = textwrap.dedent(f"""
        import os, signal
        import lmstats.cli.corpus as corpus
        from lmstats.cli import main

        shown = corpus.show_stage
        def show_and_kill(bar, stage, done, total):
            if stage == "solving":
                os.kill(os.getpid(), signal.SIGTERM)
            shown(bar, stage, done, total)

        corpus.show_stage = show_and_kill
        main(["corpus", "synth", {str(tmp_path / "out.txt")!r}, "--order", "3", "--classes", "14", "--vocab", "2000", "--seed", "2"])
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _assert_terminated_cleanly(proc, tmp_path)
    finally:
        proc.kill()
