"""The Zipf figure: rank-frequency with the fitted lines, frequency CCDF with the CSN tail, Heaps curves."""

from __future__ import annotations

import numpy as np

from lmstats.zipf.counting import order_name
from lmstats.zipf.powerlaw import power_law_ccdf
from lmstats.zipf.rank_fits import rank_log_normaliser
from lmstats.zipf.results import ZipfAnalysis


def plot_zipf(analysis: ZipfAnalysis):
    """A matplotlib Figure: rank-frequency (with fitted lines), frequency CCDF (with the CSN tail), Heaps curves.

    Returns the figure; writing it is the caller's business.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 5.2), layout="constrained")
    ax_rank, ax_ccdf, ax_heaps = fig.subplots(1, 3)
    colours = ["C0", "C1", "C2", "C3", "C4", "C5"]
    for i, fit in enumerate(analysis.fits):
        c = colours[i % len(colours)]
        name = order_name(fit.order)
        spectrum = fit.spectrum
        V, n = spectrum.n_types, spectrum.total
        ranks = np.unique(np.round(np.geomspace(1, V, 1500)).astype(np.int64))
        ax_rank.loglog(ranks, spectrum.at_ranks(ranks), ".", ms=2.5, color=c, label=f"{name}")
        ls = fit.least_squares
        r_ls = np.array([ls.min_rank, ls.max_rank], dtype=float)
        ax_rank.loglog(r_ls, np.exp(ls.intercept) * r_ls**-ls.alpha, "-", color=c, lw=1.2,
                       label=f"  LS α={ls.alpha:.2f} (ranks {ls.min_rank}–{ls.max_rank})")
        a = fit.rank_mle.alpha
        rr = np.geomspace(1, V, 200)
        log_h = rank_log_normaliser(a, V)
        ax_rank.loglog(rr, n * np.exp(-a * np.log(rr) - log_h), "--", color=c, lw=1.2, label=f"  rank MLE α={a:.2f}")
        zm = fit.mandelbrot
        log_z = rank_log_normaliser(zm.alpha, V, zm.b)
        ax_rank.loglog(rr, n * np.exp(-zm.alpha * np.log(rr + zm.b) - log_z), ":", color=c, lw=1.5,
                       label=f"  Z–M α={zm.alpha:.2f}, b={zm.b:.2f}")

        values, counts = spectrum.values[::-1], spectrum.counts[::-1]  # ascending
        ccdf = np.cumsum(counts[::-1])[::-1] / V  # P(X >= x)
        ax_ccdf.loglog(values, ccdf, ".", ms=3, color=c, label=name)
        pl = fit.power_law
        xs = np.unique(np.round(np.geomspace(pl.xmin, values[-1], 200)))
        ax_ccdf.loglog(xs, pl.n_tail / V * power_law_ccdf(xs, pl.freq_exponent, pl.xmin), "-", color=c, lw=1.2,
                       label=f"  CSN β={pl.freq_exponent:.2f} (rank α={pl.rank_exponent:.2f}), x_min={pl.xmin}")
        hp = fit.heaps
        ax_heaps.loglog(hp.positions, hp.types, ".", ms=3, color=c, label=name)
        nn = np.array([hp.n_min, hp.n_max], dtype=float)
        ax_heaps.loglog(nn, hp.k * nn**hp.beta, "-", color=c, lw=1.2, label=f"  V={hp.k:.2f}·N^{hp.beta:.3f}")
    ax_rank.set(xlabel="rank r", ylabel="frequency f_r", title="rank-frequency")
    ax_ccdf.set(xlabel="frequency f", ylabel="P(F ≥ f) over types", title="CCDF of frequencies, CSN tail fit")
    ax_heaps.set(xlabel="tokens N", ylabel="types V(N)", title="Heaps' law")
    for ax in (ax_rank, ax_ccdf, ax_heaps):
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"{analysis.corpus}: {analysis.text}", fontsize=10)
    return fig
