"""``lmstats zipf``: Zipf and Heaps fits per n-gram order (a thin command over :mod:`lmstats.zipf`)."""

from __future__ import annotations

import math
from pathlib import Path

import click

from lmstats.cli.options import corpus_options, json_option, memory_option, refuse_unused_seed, tmp_option
from lmstats.cli.output import CountingReport, echo, progress_bar
from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write, check_outputs
from lmstats.text.corpus import load_corpus
from lmstats.text.spill import drop_spilled, text_spill

PLOT_FORMATS = ("png", "pdf", "svg")


def check_plot(path) -> str | None:
    """The format ``--plot``'s suffix names (None without --plot); another suffix is refused, not written as a PNG."""
    if path is None:
        return None
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise LmstatsError(f"--plot {path}: the suffix must name the format, one of {', '.join('.' + f for f in PLOT_FORMATS)}; "
                           f"e.g. --plot zipf.png")
    return suffix


@click.command("zipf")
@corpus_options(vocab=False)
@click.option("--n", "order", type=click.IntRange(min=1), default=3, show_default=True, help="Fit n-gram orders 1..N.")
@click.option("--min-rank", type=click.IntRange(min=1), default=1, show_default=True, help="First rank of the least-squares line.")
@click.option("--max-rank", type=click.IntRange(min=3), default=None, help="Last rank of the least-squares line (default: all ranks).")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Bootstrap samples for the CSN goodness-of-fit p-value (0: skip; ~100 for p to ±0.05).")
@click.option("--compare/--no-compare", default=True, show_default=True,
              help="Likelihood-ratio tests of the power-law tail against lognormal and exponential.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help=f"Write the plots: rank-frequency with fits, frequency CCDF with the tail fit, Heaps curves (the suffix says "
                   f"the format: {', '.join(PLOT_FORMATS)}).")
@memory_option("the n-grams are counted out of core in --tmp (same results)")
@tmp_option
@json_option
def zipf_command(corpus, vocab_spec, data_dir, order, min_rank, max_rank, n_bootstrap, compare, plot_path, memory, tmp, as_json):
    """Zipf's and Heaps' laws of CORPUS for unigrams, bigrams, ... (orders 1..N).

    The statistics use all text of the corpus: train, valid and test concatenated in that
    order (no held-out evaluation happens here; the Heaps curve follows that order).  N-grams
    are counted within lines, without boundary tokens.  Every token string is a type.
    --seed also seeds the bootstrap.
    """
    import numpy as np

    from lmstats.zipf import NOTATION, analyse_zipf, plot_zipf

    check_outputs({"--plot": plot_path}, inputs=corpus.local_files())
    plot_format = check_plot(plot_path)
    with text_spill(corpus, memory, tmp) as spill:  # a corpus large for --memory is kept on disk while it is counted
        loaded = load_corpus(corpus, data_dir=data_dir, spill=spill)
        refuse_unused_seed(loaded.predefined, used_otherwise=n_bootstrap > 0)
        text = f"all text (train+valid+test), {loaded.level} level, n-grams within lines"
        lines, name, level = loaded.type_lines(), loaded.name, loaded.level
        del loaded  # the splits' own arrays: the concatenated lines hold the same ids
        drop_spilled(spill, lines.ids)  # nor their files
        with progress_bar(total=order, desc="counting n-grams", unit="order", leave=False) as bar:
            report = CountingReport(bar)
            rng = np.random.default_rng([corpus.seed, 4])
            analysis = analyse_zipf(lines, range(1, order + 1), corpus=name, text=text, level=level, min_rank=min_rank,
                                    max_rank=max_rank, bootstrap=n_bootstrap, rng=rng, compare=compare, memory=memory, tmp=tmp,
                                    on_plan=report.plan, on_order=report.order)
    if plot_path is not None:
        with atomic_write(plot_path, "wb") as fh:
            plot_zipf(analysis).savefig(fh, format=plot_format, dpi=110)
    echo({"notation": NOTATION} | analysis.to_dict() | ({"plot": str(plot_path)} if plot_path else {}), as_json,
         lambda _: format_analysis(analysis) + ([f"wrote {plot_path}"] if plot_path else []))


def _pm(value: float, se: float, digits: int = 3) -> str:
    se_text = f"{se:.{digits}f}" if math.isfinite(se) else "n/a"
    return f"{value:.{digits}f} ± {se_text}"


def format_fit(fit) -> list[str]:
    from lmstats.zipf import order_name

    ls, mle, zm, pl, hp = fit.least_squares, fit.rank_mle, fit.mandelbrot, fit.power_law, fit.heaps
    out = [
        f"{order_name(fit.order)} (n={fit.order}): {fit.n_tokens:,} tokens, {fit.n_types:,} types, "
        f"hapax ratio {fit.hapax_ratio:.3f} ({fit.n_hapax:,} types seen once)",
        f"  {'least squares (textbook)':<26} ln f = -α ln r + c, ranks {ls.min_rank:,}-{ls.max_rank:,}: "
        f"α = {_pm(ls.alpha, ls.alpha_se)}  (R² {ls.r_squared:.3f})",
        f"  {'rank MLE, finite V':<26} P(r) ∝ r^-α, r = 1..{mle.n_types:,}: α = {_pm(mle.alpha, mle.alpha_se, 4)}",
        f"  {'Zipf-Mandelbrot MLE':<26} P(r) ∝ (r+b)^-α: α = {_pm(zm.alpha, zm.alpha_se)}, b = {_pm(zm.b, zm.b_se, 2)}",
        f"  {'CSN discrete power law':<26} P(f) ∝ f^-β, f ≥ x_min = {pl.xmin:,} ({pl.n_tail:,} types, KS {pl.ks:.4f}): "
        f"β = {_pm(pl.freq_exponent, pl.freq_exponent_se)} -> rank α = 1/(β-1) = {_pm(pl.rank_exponent, pl.rank_exponent_se)}",
    ]
    if pl.n_bootstrap:
        out.append(f"  {'':<26} bootstrap goodness of fit: p = {pl.p_value:.3f} ({pl.n_bootstrap} samples; p < 0.1 rejects the power law)")
    for lr in pl.comparisons:
        verdict = "favours power law" if lr.R > 0 else "favours " + lr.alternative
        sig = "significant at p < 0.1, Clauset et al." if math.isfinite(lr.p) and lr.p < 0.1 else "not significant at p < 0.1"
        out.append(f"  {'':<26} vs {lr.alternative}: normalised R = {lr.normalized_R:+.2f}, p = {lr.p:.3g} ({verdict}, {sig})")
    out.append(f"  {'Heaps':<26} V(N) = K·N^b, N = {hp.n_min:,}-{hp.n_max:,}: "
               f"b = {_pm(hp.beta, hp.beta_se, 4)}, K = {hp.k:.3f}  (R² {hp.r_squared:.4f})")
    out.extend(f"  warning: {note}" for note in (*fit.warnings, *pl.warnings))
    return out


def format_analysis(analysis) -> list[str]:
    lines = [f"zipf {analysis.corpus}: {analysis.text}",
             "α: Zipf's rank exponent (f_r ∝ r^-α); β: exponent of the frequency distribution (P(f) ∝ f^-β; "
             "Clauset et al. and powerlaw call it α); β = 1 + 1/α", ""]
    for fit in analysis.fits:
        lines.extend(format_fit(fit))
        lines.append("")
    return lines[:-1]
