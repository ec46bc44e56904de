"""``lmstats report``: every stage, every output file, reproducibility, interruption, and the
HTML rendered in headless Chromium."""

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmstats.cli import main
from lmstats.errors import LmstatsError
from lmstats.interrupts import Terminated

from helpers import assert_one_line_error

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
orders = [1, 2]
smoothers = ["kn", "eps", "laplace"]
rnn_cells = ["lstm"]
zipf_orders = 2
cross_levels = ["char", "bpe"]
char_order = 4
subword_order = 2
cross_rnn_budget = 1.0

[rnn]
time_budget = 3.0
epochs = 100
hidden_size = 16
embed_size = 16
num_layers = 1
seq_len = 8
batch_size = 4
"""


@pytest.fixture
def report_setup(tmp_path, text_file):
    lines = [f"the {w} sat on the mat near {v} and the dog ran to {w}" for w in ("cat", "bird", "fox", "owl") for v in range(12)]
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("\n".join(lines) + "\n")
    config = tmp_path / "report.toml"
    config.write_text(CONFIG)
    return corpus, config


def run_report(corpus, config, out, *extra):
    return CliRunner().invoke(main, ["report", str(corpus), "--config", str(config), "--out-dir", str(out), "--json", *extra],
                              catch_exceptions=False)


@pytest.mark.slow
def test_report_writes_every_output_and_reproduces(report_setup, tmp_path):
    corpus, config = report_setup
    result = run_report(corpus, config, tmp_path / "a")
    assert result.exit_code == 0, result.output
    out = tmp_path / "a"
    for name in ("report.md", "report.html", "results.csv", "results.json", "perplexity_vs_order.png", "eps_sensitivity.png",
                 "rnn_curves.png", "zipf.png", "size_vs_perplexity.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] and data["failed_stages"] == {} and data["seed"] == 0 and data["machine"]["cores"] >= 1
    rows = data["results"]
    models = {(r["model"], r["mode"]) for r in rows}
    for mode in ("sentence", "stream"):
        for model in ("uniform", "kn-1", "kn-2", "eps-1", "eps-2", "laplace-2", "lstm"):
            assert (model, mode) in models
    # every model of the word level was scored on the same test tokens; every model of every level on the same text
    for mode in ("sentence", "stream"):
        assert len({r["n_tokens"] for r in rows if r["mode"] == mode and r["family"] != "level"}) == 1
        assert len({(r["n_chars"], r["n_bytes"]) for r in rows if r["mode"] == mode}) == 1
        levels = {(r["level"], r["model"].split(" ")[0].split("-")[0]) for r in rows if r["family"] == "level" and r["mode"] == mode}
        assert levels == {("char", "mkn"), ("char", "lstm"), ("bpe", "mkn"), ("bpe", "lstm")}
        char_mkn = next(r for r in rows if r["family"] == "level" and r["mode"] == mode and r["model"].startswith("mkn-"))
        assert 1 <= char_mkn["order"] <= 4 and char_mkn["n_tokens"] > rows[0]["n_tokens"]  # more chars than words
    uniform = next(r for r in rows if r["model"] == "uniform")
    assert uniform["ppl"] == pytest.approx(data["corpus"]["vocab_size"] - 1)
    md = (out / "report.md").read_text()
    assert "Headline" in md and "kn" in md and "![zipf](zipf.png)" in md
    assert "## Model size against test perplexity" in md and "![size_vs_perplexity](size_vs_perplexity.png)" in md
    assert "lstm: 1×16, BPTT 8, dropout 0.4" in md and "2×16" not in md  # the config's recipe (dropout: the short recipe's)
    assert "100 epochs or 3 s, whichever ends first" in md  # the budget as run: the epochs, and the seconds that may end it first
    assert "the char-level LSTM: 1×256" in md and "the bpe-level LSTM: 1×16" in md  # each level's LSTM as it ran
    html = (out / "report.html").read_text()
    assert "`" not in html and "<code>lmstats report " in html  # code is marked up, not left as backticks
    with open(out / "results.csv", newline="") as fh:
        orders = [row["order"] for row in csv.DictReader(fh)]
    assert {o for o in orders if o} <= {"0", "1", "2", "3", "4"} and "" in orders  # whole numbers; empty for the RNN rows
    lstm = next(r for r in rows if r["model"] == "lstm")
    history = data["rnn_histories"]["rnn-lstm"]
    seconds = sum(e["train_seconds"] for e in history["epochs"])
    assert lstm["train_tokens_per_s"] == pytest.approx(
        sum(e["train_tokens"] for e in history["epochs"]) / seconds)  # the mean, not the last epoch's
    # the configured budget is what training ran under (recorded in the row), and training stopped on it or on the epochs;
    # scoring is timed apart from training (the figure is the machine's: that it is recorded is asserted, not its size)
    assert isinstance(lstm["score_seconds"], float) and isinstance(lstm["fit_seconds"], float)
    assert lstm["params"]["time_budget"] == 3.0 and history["stopped"] in ("epochs", "time budget")
    # the mixture of the best n-gram (chosen on valid) and the LSTM, weights tuned on valid
    for mode in ("sentence", "stream"):
        mixed = next(r for r in rows if r["family"] == "mixture" and r["mode"] == mode)
        ngram_rows = [r for r in rows if r["family"] == "ngram" and r["mode"] == mode]
        best = min(ngram_rows, key=lambda r: r["valid_ppl"])
        assert mixed["model"] == f"{best['model']} + lstm" and sum(mixed["params"]["weights"]) == pytest.approx(1.0)
        lstm_mode = next(r for r in rows if r["model"] == "lstm" and r["mode"] == mode)
        assert mixed["component_ppl"] == pytest.approx([best["ppl"], lstm_mode["ppl"]], rel=1e-9)  # the evaluator's figures
        assert mixed["gain_pct"] == pytest.approx(100 * (1 - mixed["ppl"] / min(mixed["component_ppl"])))
        assert mixed["n_tokens"] == lstm_mode["n_tokens"] and mixed["bits_per_char"] > 0
    # the mixture against its best part (on this tiny text it may lose on test: "above")
    assert "mixture of the best n-gram and the best RNN" in md and ("below its best part" in md or "above its best part" in md)
    for r in rows:  # every test perplexity of the word level with its bootstrap interval; the mixture against its best part
        if r["family"] in ("baseline", "ngram", "rnn", "mixture") and r["ppl"] is not None:
            ci = r["ppl_interval"]
            assert ci["low"] <= r["ppl"] * (1 + 1e-9) and ci["high"] >= r["ppl"] * (1 - 1e-9) and ci["seed"] == 0
            assert ci["unit"] == "line" if r["mode"] == "sentence" else ci["unit"].startswith("block of")
    for r in (r for r in rows if r["family"] == "mixture"):
        vs = r["best_vs_mixture"]
        assert vs["difference"] == pytest.approx(min(r["component_ppl"]) - r["ppl"]) and 0 <= vs["p_value"] <= 1
        parts = r["first_vs_second"]  # the best n-gram against the best RNN, on the same draws
        assert parts["difference"] == pytest.approx(r["component_ppl"][0] - r["component_ppl"][1]) and 0 <= parts["p_value"] <= 1
    assert "Brackets: the 95% interval of the test perplexity" in md and "best part − mixture" in md
    assert "Sentence mode, the best n-gram minus the best RNN (paired bootstrap): " in md
    assert "## Mixture: the best n-gram model and the best RNN" in md and "## Bits per character (test)" in md
    # the neural rows show what they saw; the curve has its points; the caches; what the statistics cost
    assert lstm["tokens_seen"] == sum(e["train_tokens"] for e in history["epochs"]) and lstm["epochs_done"] > 0
    assert len(history["curve"]) >= 2 and all(p["valid_ppl"] > 1 for p in history["curve"])
    for mode in ("sentence", "stream"):
        cached = next(r for r in rows if r["family"] == "cache" and r["mode"] == mode)
        assert cached["model"] == "lstm + neural cache" and cached["ppl_interval"] and set(cached["params"]) == {"window", "theta", "lam"}
        everything = next(r for r in rows if r["family"] == "cache-mixture" and r["mode"] == mode)
        assert len(everything["params"]["weights"]) == 4 and everything["params"]["components"][2].startswith("unigram cache, window")
        # more components can only fit valid better (at EM's optimum; its stopping tolerance leaves a little)
        assert everything["valid_ppl"] <= min(r["valid_ppl"] for r in rows if r["family"] == "mixture" and r["mode"] == mode) * (1 + 1e-4)
    assert "## Caches" in md and "the best RNN with the neural cache" in md and "The confidence intervals and paired bootstraps took" in md
    assert all(r["stats_seconds"] >= 0 for r in rows if "ppl_interval" in r)  # every row with an interval says what it cost
    # same seed, same n-gram figures
    again = run_report(corpus, config, tmp_path / "b")
    assert again.exit_code == 0, again.output
    rows_b = json.loads((tmp_path / "b" / "results.json").read_text())["results"]
    ngram = lambda rs: [(r["model"], r["mode"], r["nll_sum"]) for r in rs if r["family"] == "ngram"]  # noqa: E731
    assert ngram(rows) == ngram(rows_b)


@pytest.mark.slow
def test_interrupted_report_keeps_finished_stages(report_setup, tmp_path, monkeypatch):
    import lmstats.report.run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lmstats.report.run, "rnn_baseline", interrupted)
    corpus, config = report_setup
    result = CliRunner().invoke(main, ["report", str(corpus), "--config", str(config), "--out-dir", str(tmp_path / "c")])
    assert result.exit_code == 130
    data = json.loads((tmp_path / "c" / "results.json").read_text())
    assert data["complete"] is False
    assert {r["family"] for r in data["results"]} == {"baseline", "ngram", "size"}
    assert "INCOMPLETE" in (tmp_path / "c" / "report.md").read_text()
    assert not list((tmp_path / "c").glob(".*.tmp"))


@pytest.mark.parametrize("text, pattern", [
    ("orders = [1, 2]\nsmoothing = ['kn']\n", "unknown keys ['smoothing']"),
    ("modes = ['both-ways']\n", "modes must be among"),
    ('orders = "abc"\n', "orders = 'abc' has the wrong type; expected list of int"),
    ("orders = [1, 'two']\n", "has the wrong type; expected list of int"),
    ("[rnn]\ntime_budget = true\n", "time_budget = True has the wrong type; expected float or none"),
    ("[rnn]\nhidden_size = 1.5\n", "hidden_size = 1.5 has the wrong type; expected int"),
    ("rnn_hidden = 200\n", "the RNN settings are the table [rnn]"),
    ("[rnn]\nhidden = 200\n", "[rnn]: unknown keys ['hidden']"),
    ("rnn_cells = ['lstm', 'bert']\n", "unknown rnn_cells ['bert']"),
    ("rnn_seeds = 0\n", "rnn_seeds must be >= 1"),
    ("[char_recipe]\nlayers = 1\n", "char_recipe: unknown keys ['layers']"),
    ("[cell_recipes.transformer]\nwidth = 3\n", "cell_recipes.transformer: unknown keys ['width']"),
    ("[cell_recipes.transformer]\nembed_size = 10\nheads = 4\n", "must be a multiple of --heads 4"),
    ("curve_points = 0\n", "curve_points must be >= 1"),
    ("caches = 'yes'\n", "caches = 'yes' has the wrong type; expected bool"),
    ("[rnn]\ndropout = 1.5\n", "dropout must be in [0, 1)"),
    ("threads = 0\n", "threads must be >= 1"),
    ("[corpus]\nsource = 'ptb'\nlevle = 'char'\n", "[corpus]: unknown keys ['levle']"),
    ("[corpus]\nlower = 'yes'\n", "lower = 'yes' has the wrong type; expected bool"),
    ("[corpus]\nformat = 'csv'\n", "format must be one of lines, stream"),
    ("[vocab]\nmin_count = 0\n", "min_count must be >= 1"),
    ("corpus = 'ptb'\n", "corpus = 'ptb' has the wrong type; expected table"),
    ("orders = [1,\n", "not a readable TOML file"),
    ("rnn_budgets = 900\n", "rnn_budgets = 900 has the wrong type; expected table of str = float"),
    ("[rnn_budgets]\nbert = 900\n", "rnn_budgets: unknown cells ['bert']"),
    ("[rnn_budgets]\nlstm = -1\n", "rnn_budgets: lstm = -1 must be a number of seconds > 0"),
    ("[rnn_budgets]\nlstm = 'long'\n", "rnn_budgets = {'lstm': 'long'} has the wrong type; expected table of str = float"),
    ("[rnn]\noptimizer = 'adagrad'\n", "optimizer must be one of"),
    ("[rnn]\ncell = 'gru'\n", "[rnn] cell = 'gru' would be ignored: the report trains the cells of rnn_cells"),
    ("[rnn]\nlr_schedule = 'step'\n", "lr_schedule must be one of"),
    ("[rnn]\nstart_share = 1.0\n", "start_share must be in [0, 1)"),
    ("rnn_cells = ['scratch']\n[rnn]\ntie = true\n", "RNN settings: the scratch RNN has one-hot inputs"),
    ("cross_levels = ['word']\n", "unknown cross_levels ['word']"),
    ("cross_levels = ['char', 'char']\n", "cross_levels repeats a level"),
    ("char_order = 0\n", "char_order must be in 1.."),
    ("cross_rnn_budget = -5\n", "cross_rnn_budget must be >= 0"),
])
def test_bad_config_is_one_line_error_before_any_work(tmp_path, monkeypatch, text, pattern):
    import lmstats.report.run

    ran = []
    monkeypatch.setattr(lmstats.report.run, "run_comparison", lambda *args, **kwargs: ran.append(args))
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert_one_line_error(CliRunner().invoke(main, ["report", "--config", str(bad)]), pattern)
    assert not ran and not (tmp_path / "reports").exists()  # refused before any stage: nothing ran, nothing written


def test_missing_config_file(tmp_path):
    assert_one_line_error(CliRunner().invoke(main, ["report", "--config", str(tmp_path / "none.toml")]), "no such config file")


def test_committed_configs_are_valid():
    from lmstats.report.config import ReportConfig

    for name in ("ptb", "wikitext-2"):
        config = ReportConfig.from_toml(ROOT / "reports" / "configs" / f"{name}.toml")
        assert config.corpus.source == name and config.rnn_cells == ("rnn", "gru", "lstm", "transformer")
        assert config.budget("transformer") == 900.0 and config.rnn_config("transformer", 33_279).optimizer == "adamw"
        tanh = config.rnn_config("rnn", 33_279)  # TANH_RECIPE over [rnn], without the built-in report's changes for 4 epochs
        assert (tanh.optimizer, tanh.lr, tanh.dropout, tanh.batch_size, tanh.epochs) == ("adam", 2e-3, 0.2, 20, 100)
        # the LSTM gets the 15-minute recipe of the RNN baseline issue; GRU and RNN a stated shorter budget
        lstm = config.rnn_config("lstm", vocab_size=33_279)
        assert (lstm.time_budget, lstm.optimizer, lstm.lr, lstm.lr_schedule, lstm.start_share) == (900.0, "sgd", 20.0, "cosine", 0.2)
        assert (lstm.num_layers, lstm.tie, lstm.hidden_size, lstm.dropout) == (2, False, 200, 0.2)  # not the built-in short recipe
        assert config.budget("gru") == config.budget("rnn") == 300.0
        assert config.cross_levels == ("char", "bpe") and config.char_order == 10


@pytest.mark.slow
def test_transformer_row_seeds_and_cell_recipes(report_setup, tmp_path):
    """rnn_cells with the tanh RNN and the Transformer, two seeds each: each cell runs its own recipe, every row gives the
    seeds' mean and spread and the seed used, and the Transformer is a row like the others."""
    corpus, _ = report_setup
    config = tmp_path / "seeds.toml"
    config.write_text('orders = [1, 2]\nsmoothers = ["kn"]\nmodes = ["stream"]\nrnn_cells = ["rnn", "transformer"]\n'
                      'rnn_seeds = 2\ncross_levels = []\nsizes = false\nzipf_orders = 1\n\n[rnn]\ntime_budget = 2.0\n'
                      'hidden_size = 16\nembed_size = 16\nseq_len = 8\nbatch_size = 4\n\n[cell_recipes.transformer]\n'
                      'embed_size = 16\nhidden_size = 32\nnum_layers = 1\nseq_len = 8\nbatch_size = 4\n')
    result = run_report(corpus, config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {r["model"]: r for r in data["results"] if r["family"] == "rnn"}
    transformer = rows["transformer"]
    assert transformer["params"]["optimizer"] == "adamw" and transformer["params"]["warmup"] > 0 and transformer["params"]["tie"]
    for row in rows.values():
        seeds = row["seeds"]
        assert seeds["seeds"] == [0, 1] and seeds["used"] in (0, 1) and len(seeds["test_ppl"]) == 2
        assert seeds["mean"] == pytest.approx(sum(seeds["test_ppl"]) / 2) and seeds["sd"] >= 0
        assert row["ppl"] == pytest.approx(seeds["test_ppl"][seeds["used"]])  # the row is the seed used
    md = (tmp_path / "out" / "report.md").read_text()
    assert transformer["params"]["embed_size"] == 16 and transformer["params"]["num_layers"] == 1  # [cell_recipes.transformer]
    assert "over 2 seeds; seed" in md and "transformer: 1 block of 16 (4 heads, feed-forward 32), window 8" in md


def test_report_config_budgets_and_cross_level_recipes():
    from lmstats.report.config import ReportConfig
    from lmstats.rnn.recipe import CHAR_RECIPE, SHORT_CHAR_CHANGES

    config = ReportConfig.from_dict({"rnn": {"time_budget": 30, "valid_tokens": 0}, "rnn_budgets": {"lstm": 90}, "cross_rnn_budget": 7})
    assert config.budget("lstm") == 90.0 and config.budget("gru") == 30.0
    assert config.rnn_config("lstm", 100).time_budget == 90.0 and config.rnn_config("rnn", 100).time_budget == 30.0
    assert config.rnn_config("lstm", 100).valid_tokens is None  # 0: validate on all of valid
    char = config.cross_rnn_config("char", 100)
    assert all(getattr(char, k) == v for k, v in (CHAR_RECIPE | SHORT_CHAR_CHANGES).items()) and char.time_budget == 7.0
    plain = ReportConfig.from_dict({"char_recipe": {}}).cross_rnn_config("char", 100)  # the committed configs' choice
    assert all(getattr(plain, k) == v for k, v in CHAR_RECIPE.items())
    bpe = config.cross_rnn_config("bpe", 8000)
    assert (bpe.hidden_size, bpe.optimizer, bpe.time_budget) == (config.rnn.hidden_size, config.rnn.optimizer, 7.0)
    assert ReportConfig.from_dict(config.to_dict()) == config  # the TOML round trip
    transformer = config.rnn_config("transformer", 100, seed=3)
    assert (transformer.optimizer, transformer.seed, transformer.time_budget) == ("adamw", 3, 30.0)
    # the built-in report: 4 epochs with a ceiling in seconds, the tanh RNN's and the GRU's changes on top of their
    # recipes; a file's cell_recipes replace them all
    from lmstats.rnn.recipe import SHORT_CELL_CHANGES, SHORT_RECIPE

    built_in = ReportConfig()
    lstm, tanh = built_in.rnn_config("lstm", 100), built_in.rnn_config("rnn", 100)
    assert (lstm.epochs, lstm.time_budget, lstm.batch_size, lstm.lr) == (4, SHORT_RECIPE["time_budget"], 8, 1e-2)
    assert all(getattr(tanh, k) == v for k, v in SHORT_CELL_CHANGES["rnn"].items()) and tanh.epochs == 4
    assert built_in.cross_rnn_config("char", 100).epochs == SHORT_CHAR_CHANGES["epochs"]
    assert built_in.rnn_config("gru", 100).lr == SHORT_CELL_CHANGES["gru"]["lr"]
    assert ReportConfig.from_dict({"cell_recipes": {}}).rnn_config("rnn", 100).lr == 2e-3  # TANH_RECIPE as it is
    own = ReportConfig.from_dict({"cell_recipes": {"transformer": {"lr": 1e-3}}})
    assert own.rnn_config("rnn", 100).lr == 2e-3 and own.rnn_config("gru", 100).lr == 1e-2 and own.rnn_config("transformer", 100).lr == 1e-3
    assert transformer.curve_every == pytest.approx(30.0 / config.curve_points)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
def test_html_renders_in_headless_chromium(report_setup, tmp_path):
    """Every image decodes and every table renders in a real browser (Debian's chromium)."""
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium; install it with apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
    corpus, config = report_setup
    result = run_report(corpus, config, tmp_path / "h")
    assert result.exit_code == 0, result.output
    html_path = tmp_path / "h" / "report.html"
    n_plots = len(list((tmp_path / "h").glob("*.png")))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.goto(html_path.as_uri())
        images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        tables = page.evaluate("Array.from(document.querySelectorAll('table')).map(t => t.rows.length)")
        headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        browser.close()
    assert len(images) == n_plots == 5
    assert all(complete and width > 100 and height > 100 for _, complete, width, height in images), images
    assert {alt for alt, *_ in images} == {"perplexity_vs_order", "eps_sensitivity", "rnn_curves", "zipf", "size_vs_perplexity"}
    assert len(tables) >= 6 and all(n >= 2 for n in tables)  # header row + at least one row
    assert any(h.startswith("Headline") for h in headings)


def test_bits_per_char_table_lists_every_level_and_states_the_character_counts():
    from lmstats.report.config import ReportConfig
    from lmstats.report.render import sections
    from lmstats.report.run import ReportState, Stage
    from lmstats.rnn.recipe import RNNConfig

    def row(family, model, mode, bpc, n_chars, **extra):
        return {"family": family, "model": model, "mode": mode, "ppl": 2.0 ** bpc, "bits_per_char": bpc, "n_chars": n_chars,
                "n_bytes": n_chars, "n_tokens": 10, "order": None, "smoothing": None, "fit_seconds": 1.0} | extra

    state = ReportState(ReportConfig(rnn_cells=()), command="lmstats report")
    params = RNNConfig().resolve(100).to_dict()  # as every real RNN row records its recipe
    state.stages.append(Stage("rnn-lstm", 1.0, rows=[row("rnn", "lstm", m, 1.5, 100, params=params) for m in ("sentence", "stream")],
                              data={"history": {"epochs": []}}))
    state.stages.append(Stage("level-char", 1.0, rows=[
        row("level", "mkn-7 (char)", "sentence", 2.25, 104, level="char", order=7, smoothing="mkn", vocab_size=50),
        row("level", "mkn-7 (char)", "stream", 2.0, 100, level="char", order=7, smoothing="mkn", vocab_size=50),
        row("level", "lstm (char)", "sentence", 1.75, 104, level="char", vocab_size=50),
        row("level", "lstm (char)", "stream", 1.5, 100, level="char", vocab_size=50)]))
    title, header, rows, note = next(s for s in sections(state) if s[0] == "Bits per character (test)")
    assert rows[-2:] == [["mkn at char level (order chosen on valid)", "2.2500 (n=7)", "2.0000 (n=7)"],
                         ["lstm at char level", "1.7500", "1.5000"]]
    assert "in sentence mode the counts differ between rows, 100 and 104 characters" in note  # said, not hidden
    assert "100 characters and 100 UTF-8 bytes in stream mode" in note


# A report of seconds: n-gram models of two orders, no RNN, no other level.
TINY_CONFIG = """
orders = [1, 2]
smoothers = ["kn"]
rnn_cells = []
cross_levels = []
zipf_orders = 1
"""


@pytest.fixture
def tiny_setup(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("".join(f"the {w} sat on the mat near {v}\n" for w in ("cat", "bird", "fox") for v in range(10)))
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_CONFIG)
    return corpus, config


def stage_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("report: stage ")]


def test_stderr_has_one_line_per_stage_without_a_terminal(tiny_setup, tmp_path, monkeypatch):
    import lmstats.report.render

    monkeypatch.setattr(lmstats.report.render, "make_plots", lambda state: {})  # the plots take seconds and are tested elsewhere
    corpus, config = tiny_setup
    result = run_report(corpus, config, tmp_path / "r")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    names = [s["name"] for s in data["stages"]]
    assert names == ["corpus", "zipf", "uniform", "ngram-sentence", "ngram-stream", "sizes"]
    lines = stage_lines(result.stderr)
    assert [line.split()[2] for line in lines] == names  # one line per stage, in order, though stderr is no terminal
    assert all(re.fullmatch(r"report: stage \S+ finished in \d+\.\d s \(\d+\.\d s since the start\)", line) for line in lines), lines
    assert "warning" not in result.stderr and data["failed_stages"] == {}
    assert "Failed stages" not in (tmp_path / "r" / "report.md").read_text()
    json.loads(result.stdout)  # the stage lines stay off stdout


@pytest.mark.slow
def test_a_failed_stage_is_reported_and_the_others_go_on(tiny_setup, tmp_path, monkeypatch):
    import lmstats.zipf

    reason = "the frequencies take too few distinct values; give more text"

    def fails(*args, **kwargs):
        raise LmstatsError(reason)

    monkeypatch.setattr(lmstats.zipf, "analyse_zipf", fails)
    corpus, config = tiny_setup
    out = tmp_path / "r"
    out.mkdir()
    (out / "zipf.png").write_bytes(b"an earlier run's plot")
    (out / "results.json").write_text(json.dumps({"format": "lmstats-report"}))  # and its results: the folder is lmstats'
    result = run_report(corpus, config, out)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] and data["failed_stages"] == {"zipf": reason} and data["zipf"] is None
    assert [(s["name"], s["error"]) for s in data["stages"]][:3] == [("corpus", None), ("zipf", reason), ("uniform", None)]
    assert {r["family"] for r in data["results"]} == {"baseline", "ngram", "size"}  # the stages after it ran
    lines = stage_lines(result.stderr)
    assert len(lines) == len(data["stages"])
    assert lines[1].startswith("report: stage zipf failed after ") and lines[1].endswith(f"): {reason}")
    assert result.stderr.splitlines()[-1].startswith("warning: 1 stage(s) failed: zipf;")
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "## Failed stages" in md and f"| zipf | {reason} |" in md and "FAILED stages: zipf" in md and "| zipf | " in md
    assert "<h2>Failed stages</h2>" in page and reason in page
    assert "## Zipf and Heaps" not in md and not (out / "zipf.png").exists()  # no stale plot beside a report without the stage


@pytest.mark.slow
def test_a_corpus_too_small_for_the_zipf_fit_still_gets_its_report(tmp_path):
    """The real case: three files of one repeated line each; every word type has the same few counts."""
    folder = tmp_path / "texts"
    folder.mkdir()
    for i, words in enumerate(["the cat sat", "a dog ran", "the dog sat"]):
        (folder / f"{i}.txt").write_text(f"{words}\n" * 10)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_CONFIG)
    result = run_report(folder, config, tmp_path / "r")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert list(data["failed_stages"]) == ["zipf"] and "power-law fit needs at least 3" in data["failed_stages"]["zipf"]
    assert any(r["family"] == "ngram" for r in data["results"])


def test_a_corpus_that_cannot_be_split_is_still_an_error(tmp_path):
    """The corpus stage feeds every other one: its user mistake stops the run as one line, exit code 2."""
    corpus = tmp_path / "three.txt"
    corpus.write_text("the cat sat\na dog ran\nhello world\n")
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_CONFIG)
    result = CliRunner().invoke(main, ["report", str(corpus), "--config", str(config), "--out-dir", str(tmp_path / "r")])
    assert_one_line_error(result, "the valid split has no tokens")
    assert not (tmp_path / "r" / "results.json").exists()


@pytest.mark.parametrize("raised, code", [(RuntimeError("a bug"), None), (Terminated(), 143)])
def test_a_bug_or_an_interruption_in_a_stage_still_stops_the_run(tiny_setup, tmp_path, monkeypatch, raised, code):
    import lmstats.zipf

    def fails(*args, **kwargs):
        raise raised

    monkeypatch.setattr(lmstats.zipf, "analyse_zipf", fails)
    corpus, config = tiny_setup
    if code is None:  # a bug keeps its traceback: the exception itself comes out of the command
        with pytest.raises(RuntimeError, match="a bug"):
            run_report(corpus, config, tmp_path / "r")
        return
    result = run_report(corpus, config, tmp_path / "r")
    assert result.exit_code == code
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [s["name"] for s in data["stages"]] == ["corpus"] and not data["complete"]


@pytest.mark.parametrize("value, digits, text", [
    (-0.001, 1, "0.0%"), (-0.0, 2, "0.00%"), (-0.004, 2, "0.00%"), (-0.006, 2, "-0.01%"), (12.345, 1, "12.3%"), (0.0, 0, "0%"),
])
def test_percent_never_prints_a_negative_zero(value, digits, text):
    from lmstats.display import percent

    assert percent(value, digits) == text


def test_tables_print_a_gain_that_rounds_to_zero_without_a_sign():
    from lmstats.cli.mix import format_mix
    from lmstats.report.config import ReportConfig
    from lmstats.report.render import headline_rows, sections
    from lmstats.report.run import ReportState, Stage

    state = ReportState(ReportConfig(rnn_cells=(), modes=("stream",)), command="lmstats report")
    state.stages.append(Stage("mixture", 1.0, rows=[{
        "family": "mixture", "model": "kn-2 + lstm", "mode": "stream", "ppl": 100.001, "valid_ppl": 99.0, "component_ppl": [100.0, 120.0],
        "gain_pct": -0.001, "params": {"weights": [0.99, 0.01], "em_iterations": 3}}]))
    assert headline_rows(state)[-1][1] == "100.00 (kn-2 + lstm: 0.0% below its best part)"
    mixture = next(rows for title, _, rows, _ in sections(state) if title.startswith("Mixture"))
    assert mixture[0][-1] == "0.00%"
    info = {"corpus": "c", "vocab_size": 10, "models": [], "tuned": None, "out": None, "results": {"test": {"stream": {
        "n_tokens": 5, "ppl": 100.001, "best_component_ppl": 100.0, "gain_pct": -0.001, "components": []}}}}
    line = format_mix(info)[-1]
    assert "  0.00%" in line and "-0.00" not in line
