"""The report's figures: perplexity against order, ε sensitivity, RNN training curves (and Zipf's).

Every function returns a matplotlib ``Figure`` (or None when the stage is missing); writing
it is the renderer's business.  Y axes with a narrow range are linear, wide ones logarithmic
with ticks at 1, 2 and 5 of every decade, so every plot carries several readable tick labels.
"""

from __future__ import annotations

import io

from lmstats.report.run import ReportState

FIGURES = ("perplexity_vs_order", "eps_sensitivity", "rnn_curves", "size_vs_perplexity", "zipf")  # every name make_plots gives



def _readable_y(ax, values) -> None:
    """Linear y under a factor of 10; log10 above, labelled at 1, 2, 5 × 10^k up to 4 decades, at 10^k beyond."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    values = [v for v in values if v is not None and 0 < v < math.inf]
    decades = math.log10(max(values) / min(values)) if values else 0.0
    if decades < 1:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
        return
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 4 else (1.0,), numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())




def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)  # pyplot keeps every figure until closed
    return buf.getvalue()


def plot_orders(state: ReportState):
    from matplotlib.figure import Figure

    rows = [r for r in state.rows if r["family"] == "ngram"]
    if not rows:
        return None
    modes = [m for m in state.config.modes if any(r["mode"] == m for r in rows)]
    fig = Figure(figsize=(6.5 * len(modes), 4.4), layout="constrained")
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    for ax, mode in zip(axes, modes, strict=True):
        shown = []
        for smoothing in state.config.smoothers:
            mine = sorted((r for r in rows if r["mode"] == mode and r["smoothing"] == smoothing and r["ppl"] is not None),
                          key=lambda r: r["order"])
            if mine:  # error bars: the 95% bootstrap interval of each test perplexity
                ax.errorbar([r["order"] for r in mine], [r["ppl"] for r in mine], yerr=_yerr(mine), fmt="o-", capsize=3,
                            label=smoothing)
                shown += [r["ppl"] for r in mine]
        rnn = [r for r in state.rows if r["family"] == "rnn" and r["mode"] == mode and r["ppl"] is not None]
        for i, r in enumerate(rnn):  # RNNs have no order: a horizontal line each (its interval shaded), named in the legend
            color = f"C{len(state.config.smoothers) + i}"
            ax.axhline(r["ppl"], ls=("--", ":", "-.")[i % 3], lw=1.2, color=color, label=f"{r['model']} (neural)")
            if r.get("ppl_interval"):
                ax.axhspan(r["ppl_interval"]["low"], r["ppl_interval"]["high"], color=color, alpha=0.15, lw=0)
            shown.append(r["ppl"])
        _readable_y(ax, shown)
        ax.set(xlabel="n-gram order", ylabel="test perplexity", title=f"perplexity vs order ({mode} mode)")
        ax.set_xticks(sorted(state.config.orders))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    return fig


def _yerr(rows: list[dict]):
    """Asymmetric error bars from the rows' 95% intervals (0 where a row has none)."""
    low = [r["ppl"] - r["ppl_interval"]["low"] if r.get("ppl_interval") else 0.0 for r in rows]
    high = [r["ppl_interval"]["high"] - r["ppl"] if r.get("ppl_interval") else 0.0 for r in rows]
    return [low, high]


def plot_eps(state: ReportState):
    from matplotlib.figure import Figure

    curves = {s.name.removeprefix("ngram-"): s.data.get("eps_curves") or {} for s in state.stages if s.name.startswith("ngram-")}
    curves = {m: c for m, c in curves.items() if c}
    if not curves:
        return None
    fig = Figure(figsize=(6.5 * len(curves), 4.4), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (mode, by_order) in zip(axes, curves.items(), strict=True):
        model_order = max(int(o) for o in by_order)
        trials = list(by_order[str(model_order)])
        for k in sorted({t[0] for t in trials}):
            pts = sorted((t[1], t[2]) for t in trials if t[0] == k)
            ax.plot(*zip(*pts, strict=True), ".-", label=f"ε{k} (order {k})")
        _readable_y(ax, [t[2] for t in trials])
        ax.set(xscale="log", xlabel="ε", ylabel="validation perplexity",
               title=f"ε sensitivity, {model_order}-gram, one ε varied at a time ({mode} mode)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_rnn(state: ReportState):
    """Validation perplexity against training seconds: the curve on a fixed valid sample every few seconds (a line) and
    the per-epoch validation (dots), one colour per model.  The y axis spans the end of every curve and the best n-gram
    model, up to three times the worst final figure: a diverged start does not flatten the models worth reading."""
    from matplotlib.figure import Figure

    histories = {s.name.removeprefix("rnn-"): s.data.get("history") for s in state.stages if s.name.startswith("rnn-")}
    histories = {k: v for k, v in histories.items() if v and v["epochs"]}
    if not histories:
        return None
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    finals = []
    for i, (cell, hist) in enumerate(histories.items()):
        curve = hist.get("curve") or []
        if curve:
            ax.plot([p["elapsed"] for p in curve], [p["valid_ppl"] for p in curve], "-", color=f"C{i}",
                    label=f"{cell} (valid sample, every {curve[1]['elapsed'] - curve[0]['elapsed']:.0f} s)" if len(curve) > 1 else cell)
        epochs = hist["epochs"]
        ax.plot([e["elapsed"] for e in epochs], [e["valid_ppl"] for e in epochs], "o", color=f"C{i}", ms=5,
                label=f"{cell} (valid, per epoch)")
        finals += [min(e["valid_ppl"] for e in epochs)] + ([curve[-1]["valid_ppl"]] if curve else [])
    best = [r for r in state.rows if r["family"] == "ngram" and r.get("best_on_valid") and r["mode"] == state.config.modes[0]]
    if best:  # the n-gram model the run chose on valid (the mixture's)
        top = best[0]
        ax.axhline(top["valid_ppl"], ls="--", color="grey", lw=1, label=f"best n-gram valid ({top['model']}, {top['mode']} mode)")
        finals.append(top["valid_ppl"])
    low, high = 0.85 * min(finals), 3.0 * max(finals)
    _readable_y(ax, [low, high])
    ax.set_ylim(low, high)
    ax.set(xlabel="training seconds (wall clock, validation included)", ylabel="validation perplexity",
           title="Neural baselines: validation perplexity during training")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def make_plots(state: ReportState) -> dict[str, bytes]:
    """PNG bytes of every figure the finished stages allow, by name."""
    from lmstats.report.sizes import plot_sizes
    from lmstats.zipf.plots import plot_zipf

    figures = {"perplexity_vs_order": plot_orders(state), "eps_sensitivity": plot_eps(state), "rnn_curves": plot_rnn(state),
               "size_vs_perplexity": plot_sizes(state)}
    zipf = state.stage("zipf")
    if zipf is not None:
        figures["zipf"] = plot_zipf(zipf.data["analysis"])
    assert set(figures) <= set(FIGURES), "a figure's name missing from FIGURES: the report folder check would refuse it"
    return {name: _png(fig) for name, fig in figures.items() if fig is not None}
