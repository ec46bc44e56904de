"""The report's size stage (lmstats/report/sizes.py): each point is the saved model's bytes and test perplexity; reference
points are drawn only for the corpus, order and mode they were measured on; bad settings are refused when the config is made."""

import json
import math

import pytest

from lmstats import LmstatsError
from lmstats.evaluation import evaluate
from lmstats.ngram import NgramLM
from lmstats.ngram.entropy_prune import prune_entropy
from lmstats.report.config import ReportConfig
from lmstats.report.run import ReportState, Stage
from lmstats.report.sizes import folder_bytes, plot_sizes, size_rows, size_section
from lmstats.text.corpus import load_corpus
from lmstats.text.spec import CorpusSpec


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sizes")
    words = [f"w{i}" for i in range(60)]
    lines = [" ".join(words[(7 * i + 3 * j * j) % 60] for j in range(4 + i % 9)) for i in range(900)]
    (folder / "c.txt").write_text("\n".join(lines) + "\n")
    corpus = load_corpus(CorpusSpec(str(folder / "c.txt")))
    return corpus.encode(corpus.build_vocab())


def config(**fields):
    return ReportConfig(orders=(1, 2, 3), rnn_cells=(), cross_levels=(), **fields)


def test_each_point_is_the_saved_models_bytes_and_perplexity(splits, tmp_path):
    rows, data = size_rows(config(size_prune=("0,1", "0,0,1"), size_entropy=(1e-4,), size_quantize=()), splits, "sentence",
                           lambda msg: None)
    assert [r["pruning"] for r in rows] == ["unpruned", "--prune 0,1", "--prune 0,0,1", "--prune-entropy 0.0001"]
    assert data == {"reference": {"points": [], "note": ""}}
    full = NgramLM(splits.vocab, 3, "mkn", discount_fallback=True).fit(splits.train)
    assert rows[0]["ppl"] == pytest.approx(evaluate(full, splits.test).ppl, rel=1e-12)
    assert rows[0]["n_ngrams"] == sum(len(t) for t in full.counts_.tables)
    full.save(tmp_path / "m", query_only=True)
    assert rows[0]["bytes"] == folder_bytes(tmp_path / "m")
    entropy = prune_entropy(full, 1e-4)
    assert rows[3]["ppl"] == pytest.approx(evaluate(entropy, splits.test).ppl, rel=1e-12)
    assert rows[3]["n_ngrams"] == sum(len(t) for t in entropy.counts_.tables) < rows[0]["n_ngrams"]
    assert rows[1]["bytes"] < rows[2]["bytes"] < rows[0]["bytes"]  # fewer n-grams kept, fewer bytes
    assert rows[1]["ppl"] > rows[0]["ppl"]


def test_quantised_points_are_the_saved_tries(splits, tmp_path):
    from lmstats.ngram.compact import CompactNgramLM

    rows, _ = size_rows(config(size_prune=(), size_entropy=(), size_quantize=(8, 3)), splits, "sentence", lambda msg: None)
    assert [r["storage"] for r in rows] == ["query-only", "8-bit trie", "3-bit trie"]
    full = NgramLM(splits.vocab, 3, "mkn", discount_fallback=True).fit(splits.train)
    CompactNgramLM.from_model(full, 8).save(tmp_path / "q8")
    assert rows[1]["bytes"] == folder_bytes(tmp_path / "q8") < rows[0]["bytes"]
    assert rows[1]["ppl"] == pytest.approx(evaluate(CompactNgramLM.load(tmp_path / "q8"), splits.test).ppl, rel=1e-12)
    assert rows[1]["ppl"] == pytest.approx(rows[0]["ppl"], rel=0.05) and rows[2]["bytes"] < rows[1]["bytes"]
    # the sums of P over the vocabulary: 1 unquantised; off 1 quantised, within the bound the quantisation puts on them
    assert rows[0]["sum_min"] == pytest.approx(1, abs=1e-9) and rows[0]["sum_max"] == pytest.approx(1, abs=1e-9)
    bound = CompactNgramLM.from_model(full, 3).describe()["log_sum_bound"]
    assert max(abs(rows[2]["sum_min"] - 1), abs(rows[2]["sum_max"] - 1)) > 1e-6
    assert math.exp(-bound) - 1e-12 <= rows[2]["sum_min"] <= rows[2]["sum_max"] <= math.exp(bound) + 1e-12


def test_context_sums_by_hand(splits):
    """A uniform model sums to 1 in every context; a model whose every probability is doubled sums to 2."""
    from lmstats.report.sizes import context_sums
    from lmstats.uniform import UniformLM

    uniform = UniformLM(splits.vocab)
    uniform.order = 3
    assert context_sums(uniform, splits.test, "sentence") == pytest.approx((1.0, 1.0), abs=1e-12)

    class Doubled(UniformLM):
        order = 3

        def logprobs_lines(self, units, **kwargs):
            return super().logprobs_lines(units) + math.log(2)

    assert context_sums(Doubled(splits.vocab), splits.test, "stream") == pytest.approx((2.0, 2.0), abs=1e-12)


def test_reference_points_are_drawn_for_their_own_corpus_order_and_mode_only(splits, tmp_path):
    ref = tmp_path / "ref.json"
    points = [{"label": "KenLM trie -q 8 -b 8", "bytes": 12345, "ppl": 99.5}]
    source = "tiny"  # a corpus name; the stage compares it with the config's
    ref.write_text(json.dumps({"corpus": source, "order": 3, "mode": "sentence", "reference_points": points}))
    cfg = config(corpus=CorpusSpec(source), size_prune=(), size_entropy=(), size_reference=str(ref))
    rows, data = size_rows(cfg, splits, "sentence", lambda msg: None)
    assert data["reference"]["points"] == points
    state = ReportState(cfg, "lmstats report", stages=[Stage("sizes", 1.0, rows, data)])
    title, header, table, note = size_section(state)
    assert table[-1] == ["KenLM trie -q 8 -b 8", "(reference)", "–", "0.0", "99.50", "–"] and str(ref) in note
    assert plot_sizes(state) is not None
    _, other = size_rows(cfg, splits, "stream", lambda msg: None)
    assert other["reference"]["points"] == [] and "not drawn" in other["reference"]["note"]
    ref.write_text("{}")
    with pytest.raises(LmstatsError, match="not a reference file benchmarks/bench_compact.py wrote"):
        size_rows(cfg, splits, "sentence", lambda msg: None)


@pytest.mark.parametrize("fields, pattern", [
    ({"size_prune": ("0,1,1,1",)}, r"size_prune '0,1,1,1': --prune takes 1 to 3 thresholds"),
    ({"size_prune": ("0,x",)}, "is not comma-separated whole counts"),
    ({"size_entropy": (-1.0,)}, "size_entropy -1.0"),
    ({"size_quantize": (40,)}, "size_quantize 40: --quantize takes the bits of a code"),
])
def test_bad_size_settings_are_refused_when_the_config_is_made(fields, pattern):
    with pytest.raises(LmstatsError, match=pattern):
        config(**fields)


def test_a_unigram_report_has_no_size_stage():
    assert not ReportConfig(orders=(1,)).has_sizes and config().has_sizes
