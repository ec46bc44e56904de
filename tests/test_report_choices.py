"""The report chooses models on validation perplexity once, in the run (:func:`lmstats.report.run.mark_choices`),
and the tables and plots show what the rows record; no figure is chosen on test."""

from lmstats.report.config import ReportConfig
from lmstats.report.run import ReportState, Stage, mark_choices


def ngram_row(smoothing, order, valid_ppl, ppl, mode="stream"):
    return {"family": "ngram", "model": f"{smoothing}-{order}", "mode": mode, "order": order, "smoothing": smoothing,
            "valid_ppl": valid_ppl, "ppl": ppl, "n_tokens": 10, "fit_seconds": 1.0}


def grid():
    """kn: order 2 best on valid (90) but order 3 best on test (70); stupid backoff lowest of all on valid
    (not a distribution, so never the mixture's part); mle infinite on valid at every order."""
    return [ngram_row("kn", 1, 120.0, 130.0), ngram_row("kn", 2, 90.0, 80.0), ngram_row("kn", 3, 95.0, 70.0),
            ngram_row("stupid", 1, 60.0, 65.0), ngram_row("stupid", 2, 50.0, 55.0),
            ngram_row("mle", 1, None, None), ngram_row("mle", 2, None, None)]


def test_the_run_records_the_orders_and_the_model_chosen_on_valid():
    rows = grid()
    mark_choices(rows, "kn-2")  # the run's best distribution on valid
    assert [r["model"] for r in rows if r["best_order_on_valid"]] == ["kn-2", "stupid-2", "mle-1"]  # a tie of infinities: the first
    assert [r["model"] for r in rows if r["best_on_valid"]] == ["kn-2"]
    mark_choices(rows, None)  # no model with a finite validation perplexity
    assert not any(r["best_on_valid"] for r in rows)


def test_the_headline_shows_the_order_chosen_on_valid_not_the_best_on_test():
    from lmstats.report.render import headline_rows

    rows = grid()
    mark_choices(rows, "kn-2")
    state = ReportState(ReportConfig(rnn_cells=(), modes=("stream",)), command="lmstats report")
    state.stages.append(Stage("ngram-stream", 1.0, rows=rows))
    headline = {r[0]: r[1] for r in headline_rows(state)}
    assert headline["kn (order 2, chosen on valid)"] == "80.00"  # not order 3's 70.00, the lowest on test
    assert headline["stupid (order 2, chosen on valid)"] == "55.00"
    assert headline["mle (order 1, chosen on valid)"] == "inf"


def test_the_rnn_plot_marks_the_ngram_model_the_run_chose():
    from lmstats.report.plots import plot_rnn

    rows = grid()
    mark_choices(rows, "kn-2")
    state = ReportState(ReportConfig(rnn_cells=(), modes=("stream",)), command="lmstats report")
    history = {"epochs": [{"elapsed": 1.0, "valid_ppl": 100.0, "train_ppl": 110.0}, {"elapsed": 2.0, "valid_ppl": 95.0, "train_ppl": 99.0}]}
    state.stages += [Stage("ngram-stream", 1.0, rows=rows), Stage("rnn-lstm", 1.0, data={"history": history})]
    _, labels = plot_rnn(state).axes[0].get_legend_handles_labels()
    assert "best n-gram valid (kn-2, stream mode)" in labels  # not stupid-2, lower on valid but not a distribution


def test_change_and_budget_phrases():
    """A gain reads "below", a loss (a cache chosen on valid can lose on test) "above", never "-1.1% below"; a budget
    states its epochs and, when set, the seconds that may end it first."""
    from lmstats.report.cells import budget_phrase, change_phrase, grid

    assert change_phrase(12.34, "its best part") == "12.3% below its best part"
    assert change_phrase(-1.06, "the RNN alone") == "1.1% above the RNN alone"
    assert change_phrase(-0.001, "its best part") == "0.0% below its best part"  # no loss shown where none rounds
    assert budget_phrase({"epochs": 4, "time_budget": 150.0}) == "4 epochs or 150 s, whichever ends first"
    assert budget_phrase({"epochs": 1, "time_budget": None}) == "1 epoch"
    assert grid((100, 500, 2000)) == "{100, 500, 2000}" and grid((0.1, 1.0)) == "{0.1, 1}"
