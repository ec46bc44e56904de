"""Rendering a report: report.md, a self-contained report.html, results.csv/.json and the plots.

Formatting only: the figures come from :mod:`lmstats.report.run`.  Every file is written
atomically, and :func:`write_report` can be called after every stage, so an interrupted run
leaves a complete report of what it finished.  Text marks code with backticks; the HTML turns
them into ``<code>`` elements.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
from pathlib import Path

from lmstats.cache import WINDOWS as CACHE_WINDOWS
from lmstats.display import percent
from lmstats.fileio import atomic_write, check_own_folder
from lmstats.jsonable import jsonable
from lmstats.neural_cache import LAMBDAS, THETAS
from lmstats.neural_cache import WINDOWS as NC_WINDOWS
from lmstats.report.cells import change_phrase, epochs_cell, fmt, grid, ppl_cell, recipe_cell, seeds_cell, vs_cell
from lmstats.report.plots import FIGURES, make_plots
from lmstats.report.run import ReportState
from lmstats.report.sizes import size_section

FORMAT = "lmstats-report"  # results.json's "format": what marks a folder as one lmstats wrote a report into

PUBLISHED = {
    "ptb": [
        ("KN5 (Mikolov et al. 2011)", 141.2),
        ("RNNLM (Mikolov et al. 2011)", 124.7),
        ("LSTM small, non-regularised (Zaremba et al. 2014)", 114.5),
    ],
}


def results_json(state: ReportState) -> dict:
    from lmstats import __version__

    corpus = state.stage("corpus")
    zipf = state.stage("zipf")
    return {
        "format": FORMAT,
        "lmstats": __version__,
        "command": state.command,
        "config": state.config.to_dict(),
        "seed": state.config.seed,
        "machine": state.machine,
        "started": state.started,
        "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": state.complete,
        "stages": [{"name": s.name, "seconds": s.seconds, "error": s.error} for s in state.stages],
        "failed_stages": {s.name: s.error for s in state.failed},
        "corpus": corpus.data["stats"] if corpus else None,
        "zipf": zipf.data["analysis"].to_dict() if zipf else None,
        "eps_curves": {s.name: s.data.get("eps_curves") for s in state.stages if s.name.startswith("ngram-")},
        "rnn_histories": {s.name: s.data.get("history") for s in state.stages if s.name.startswith("rnn-")},
        "results": state.rows,
    }


def results_frame(state: ReportState):
    """One row per (model, mode); nested values as JSON text; ``order`` a whole number (empty for RNNs)."""
    import pandas as pd

    rows = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()} for row in state.rows]
    frame = pd.DataFrame(rows)
    if "order" in frame:
        frame["order"] = frame["order"].astype("Int64")
    return frame


# -- tables --------------------------------------------------------------------------------


def _parts_compared(r: dict) -> str:
    """The best n-gram against the best RNN (the mixture's two parts), by the paired bootstrap, in one sentence."""
    vs = r.get("first_vs_second")
    return "" if not vs else (f" {r['mode'].capitalize()} mode, the best n-gram minus the best RNN (paired bootstrap): "
                              f"{fmt(vs['difference'])} [{fmt(vs['low'])}, {fmt(vs['high'])}], "
                              f"p = {vs['p_value']:.3g}.")


INTERVALS = ("Brackets: the 95% interval of the test perplexity, a percentile bootstrap over the scored units (lines in "
             "sentence mode, blocks of up to 256 consecutive tokens in stream mode), 1,000 replicates, seed 0, from per-unit "
             "sums (lmstats/bootstrap.py). The mixture's best part is compared with it by the paired bootstrap "
             "(Berg-Kirkpatrick et al. 2012: p is the share of replicates whose difference exceeds twice the observed one).")


def headline_rows(state: ReportState, value=None) -> list[list[str]]:
    """One row per model: test perplexity in each mode, the order per smoother chosen on valid (as the run
    recorded it in the rows: ``best_order_on_valid``), and the mixture with its gain over its best component.
    ``value(row)``: another figure of each cell (bits per character)."""
    out = []
    modes = list(state.config.modes)
    for family, key in (("baseline", "model"), ("ngram", "smoothing"), ("rnn", "model")):
        rows = [r for r in state.rows if r["family"] == family]
        for name in dict.fromkeys(r[key] for r in rows):
            cells = []
            label = name
            for mode in modes:
                cand = [r for r in rows if r[key] == name and r["mode"] == mode]
                if family == "ngram":  # the order the run chose on valid (reported on test)
                    cand = [r for r in cand if r.get("best_order_on_valid")]
                best = cand[0] if cand else None
                if best and family == "ngram":
                    label = f"{name} (order {best['order']}, chosen on valid)" if len(modes) == 1 else f"{name} (best order on valid)"
                if best is None:
                    cells.append("–")
                    continue
                figure = ppl_cell(best) if value is None else value(best)
                cells.append(figure + (f" (n={best['order']})" if family == "ngram" and len(modes) > 1 else ""))
            out.append([label] + cells)
    mixed = {r["mode"]: r for r in state.rows if r["family"] == "mixture"}
    if mixed:
        cells = []
        for mode in modes:
            r = mixed.get(mode)
            if r is None:
                cells.append("–")
            elif value is None:
                cells.append(f"{ppl_cell(r)} ({r['model']}: {change_phrase(r['gain_pct'], 'its best part')}{vs_cell(r)})")
            else:
                cells.append(f"{value(r)} ({r['model']})")
        out.append(["mixture of the best n-gram and the best RNN (weights tuned on valid)"] + cells)
    for family, label in (("cache", "the best RNN with the neural cache (W, θ, λ chosen on valid)"),
                          ("cache-mixture", "the best n-gram + the best RNN + both caches (weights tuned on valid)")):
        by_mode = {r["mode"]: r for r in state.rows if r["family"] == family}
        below = "the RNN alone" if family == "cache" else "its best part"
        if by_mode:
            out.append([label] + ["–" if m not in by_mode else (ppl_cell(by_mode[m]) if value is None else value(by_mode[m]))
                                  + (f" ({change_phrase(by_mode[m]['gain_pct'], below)})" if m in by_mode and value is None else "")
                                  for m in modes])
    return out


def level_rows(state: ReportState, value) -> list[list[str]]:
    """One row per (level, model kind) of the cross-level stages: ``value`` of each mode's row, with the order."""
    modes = list(state.config.modes)
    rows = [r for r in state.rows if r["family"] == "level"]
    out = []
    for level, name in dict.fromkeys((r["level"], _level_kind(r)) for r in rows):
        cells, notes = [], []
        for mode in modes:
            r = next((x for x in rows if x["level"] == level and x["mode"] == mode and _level_kind(x) == name), None)
            if r is not None and level != "char" and not notes:
                notes.append(f"{r['vocab_size']:,} pieces")
            cells.append("–" if r is None else value(r) + (f" (n={r['order']})" if r.get("order") else ""))
        notes += ["order chosen on valid"] if name == "mkn" else []
        out.append([f"{name} at {level} level" + (f" ({'; '.join(notes)})" if notes else "")] + cells)
    return out


def _level_kind(row: dict) -> str:
    """The kind of a cross-level row: its smoother (mkn), or lstm."""
    return row["smoothing"] or "lstm"


def _char_counts(state: ReportState) -> str:
    parts = []
    for mode in state.config.modes:
        counts = sorted({(r["n_chars"], r["n_bytes"]) for r in state.rows if r["mode"] == mode and r.get("n_chars") is not None})
        if len(counts) == 1:
            parts.append(f"{counts[0][0]:,} characters and {counts[0][1]:,} UTF-8 bytes in {mode} mode")
        elif counts:
            parts.append(f"in {mode} mode the counts differ between rows, " + " and ".join(f"{c:,}" for c, _ in counts)
                         + " characters (sentence mode scores only lines with a token: a line of spaces only is empty at "
                         "word and subword level and one token or more at char level; stream mode scores every line)")
    return "; ".join(parts)


def _level_lstms(levels: list[dict]) -> list[dict]:
    """One row per level's LSTM (the first mode's), in the table's order."""
    seen = {}
    for r in levels:
        if r["model"].startswith("lstm") and r.get("params") and r["level"] not in seen:
            seen[r["level"]] = r
    return list(seen.values())


def _bits_per_char(row: dict) -> str:
    return "–" if row.get("bits_per_char") is None else f"{row['bits_per_char']:.4f}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_html_text(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def sections(state: ReportState) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, header, rows, note) of every table of the report."""
    out = []
    modes = list(state.config.modes)
    if state.failed:
        out.append(("Failed stages", ["stage", "reason"], [[s.name, s.error] for s in state.failed],
                    "These stages stopped on the problem named and are missing below; every other stage ran in full. "
                    "Fix the cause and run the report again."))
    out.append(("Headline: test perplexity", ["model"] + [f"{m} mode" for m in modes], headline_rows(state),
                "One vocabulary (the training split's), the same test tokens, the one evaluator. "
                "For n-gram smoothers the order is chosen by validation perplexity. " + INTERVALS))
    mixed = [r for r in state.rows if r["family"] == "mixture"]
    if mixed:
        rows = [[r["mode"], r["model"], ", ".join(f"{w:.3f}" for w in r["params"]["weights"]), str(r["params"]["em_iterations"]),
                 fmt(r["valid_ppl"]), *(fmt(p) for p in r["component_ppl"]), fmt(r["ppl"]), percent(r["gain_pct"], 2)] for r in mixed]
        out.append(("Mixture: the best n-gram model and the best RNN", ["mode", "components", "weights", "EM iterations",
                                                                        "valid ppl", "test ppl, n-gram", "test ppl, RNN",
                                                                        "test ppl, mixture", "gain over the better part"], rows,
                    "P(w|h) = λ P_ngram(w|h) + (1 − λ) P_rnn(w|h); λ maximises the validation likelihood (EM, as SRILM's "
                    "compute-best-mix). The n-gram model is the one with the lowest validation perplexity; the RNN likewise."
                    + "".join(_parts_compared(r) for r in mixed)))
    if any(r.get("bits_per_char") is not None for r in state.rows):
        out.append(("Bits per character (test)", ["model"] + [f"{m} mode" for m in modes],
                    headline_rows(state, _bits_per_char) + level_rows(state, _bits_per_char),
                    "Every model above, and the same text read at other levels, in bits per character of the test text: its "
                    "characters as read plus one line break per </s> predicted (the same count at every level: "
                    f"{_char_counts(state)}; see the README's evaluator section)."))
    levels = [r for r in state.rows if r["family"] == "level"]
    if levels:
        rows = [[r["level"], r["model"], r["mode"], fmt(r.get("vocab_size")), fmt(r["n_tokens"]), ppl_cell(r),
                 _bits_per_char(r), fmt(r.get("fit_seconds"), 0),
                 "–" if r.get("train_tokens_per_s") is None else fmt(r["train_tokens_per_s"], 0), epochs_cell(r),
                 "–" if r.get("tokens_seen") is None else fmt(r["tokens_seen"])] for r in levels]
        c = state.config
        out.append(("Other levels of tokenisation", ["level", "model", "mode", "vocabulary", "test tokens", "test ppl per token",
                                                    "bits/char", "fit seconds", "train tokens/s", "epochs", "tokens seen"], rows,
                    f"The same corpus and splits read as characters or subword pieces (trained on train only); MKN up to order "
                    f"{c.char_order} at char level and {c.subword_order} at subword level, the order chosen on valid"
                    + "".join(f"; the {r['level']}-level LSTM: {recipe_cell(r['params'])}" for r in _level_lstms(levels))
                    + ". Perplexities per token differ in unit between levels; bits per character compare them."))
    corpus = state.stage("corpus")
    if corpus:
        stats = corpus.data["stats"]
        rows = [[r["split"], fmt(r["lines"]), fmt(r["tokens"]), fmt(r["types"]), fmt(r["oov"]), percent(100 * r["oov_rate"], 2)]
                for r in stats["splits"]]
        out.append((f"Corpus: {stats['corpus']}", ["split", "lines", "tokens", "types", "OOV", "OOV rate"], rows,
                    f"{stats['description']}; splits: {stats['splits_from']}; vocabulary {stats['vocab_size']:,} types incl. specials; "
                    f"level {stats['spec']['level']}."))
    zipf = state.stage("zipf")
    if zipf:
        rows = []
        for fit in zipf.data["analysis"].fits:
            pl = fit.power_law
            rows.append([str(fit.order), fmt(fit.n_tokens), fmt(fit.n_types), f"{fit.hapax_ratio:.3f}",
                         f"{fit.least_squares.alpha:.3f}", f"{fit.rank_mle.alpha:.3f}", f"{pl.freq_exponent:.3f} (x_min {pl.xmin})",
                         f"{pl.rank_exponent:.3f}", f"{fit.mandelbrot.alpha:.3f}, b={fit.mandelbrot.b:.2f}", f"{fit.heaps.beta:.3f}"])
        out.append(("Zipf and Heaps", ["n", "tokens", "types", "hapax ratio", "α least squares (textbook)", "α rank MLE",
                                       "β CSN (frequency exponent)", "rank α = 1/(β−1)", "Zipf–Mandelbrot α", "Heaps exponent"], rows,
                    "All text of the corpus; n-grams within lines. α: Zipf's rank exponent, f_r ∝ r^-α. β: exponent of the frequency "
                    "distribution, P(f) ∝ f^-β, which Clauset et al. and the powerlaw package call α. Heaps: V(N) = K·N^exponent."))
    ngram = [r for r in state.rows if r["family"] == "ngram"]
    for mode in modes:
        sub = [r for r in ngram if r["mode"] == mode]
        if not sub:
            continue
        orders = sorted({r["order"] for r in sub})
        rows = []
        for smoothing in dict.fromkeys(r["smoothing"] for r in sub):
            cells = []
            for order in orders:
                r = next((x for x in sub if x["smoothing"] == smoothing and x["order"] == order), None)
                cells.append(fmt(r["ppl"]) if r else "–")
            rows.append([smoothing] + cells)
        out.append((f"N-gram test perplexity by order ({mode} mode)", ["smoothing"] + [f"n={o}" for o in orders], rows,
                    _ngram_note(state)))
    sizes = size_section(state)
    if sizes:
        out.append(sizes)
    rnn = [r for r in state.rows if r["family"] == "rnn"]
    if rnn:
        rows = [[r["model"], r["mode"], ppl_cell(r) + seeds_cell(r), fmt(r.get("valid_ppl")), epochs_cell(r), fmt(r.get("tokens_seen")),
                 fmt(r["fit_seconds"], 0), fmt(r.get("train_tokens_per_s"), 0), fmt(r.get("score_seconds"), 1)] for r in rnn]
        recipes = "; ".join(f"{cell}: {recipe_cell(params)}" for cell, params in {r["model"]: r["params"] for r in rnn}.items())
        seeds = state.config.rnn_seeds
        out.append(("Neural baselines", ["model", "mode", "test ppl", "best valid ppl", "epochs", "tokens seen", "train seconds",
                                         "train tokens/s", "test scoring seconds"], rows,
                    f"Recipes (each cell its own, lmstats/rnn/recipe.py): {recipes}. Budgets are wall clock and cover training "
                    "and validation; the weights of the best validation are kept; train tokens/s is the mean over the run; "
                    "test scoring is timed apart. "
                    + (f"Each cell was trained with {seeds} seeds ({state.config.rnn.seed} to {state.config.rnn.seed + seeds - 1}): "
                       "the row is the seed with the best validation perplexity (the one the mixtures use), and the braces give "
                       "the mean ± standard deviation of the test perplexity over the seeds." if seeds > 1 else
                       "One seed per cell (rnn_seeds = 1): the spread over seeds is not measured.")))
    caches = section_caches(state)
    if caches:
        out.append(caches)
    name = corpus.data["name"] if corpus else ""
    if name in PUBLISHED:
        out.append(("Published reference figures (quoted, not ours)", ["model", "test ppl"], [[m, f"{p}"] for m, p in PUBLISHED[name]],
                    "Quoted from the papers for comparison; stream-mode figures above are the comparable ones."))
    timing = [[s.name, fmt(s.seconds, 1), "finished" if s.error is None else "failed"] for s in state.stages]
    stats = sum(r.get("stats_seconds") or 0.0 for r in state.rows)
    total = sum(s.seconds for s in state.stages)
    out.append(("Run", ["stage", "seconds", "status"], timing,
                f"The confidence intervals and paired bootstraps took {stats:.1f} s of the stages' {total:,.0f} s "
                f"({percent(100 * stats / total if total else 0.0, 2)}): they resample per-unit sums and never rescore."))
    return out


def section_caches(state: ReportState):
    """The cache stage's table (lmstats/report/caches.py), or None."""
    rows = [r for r in state.rows if r["family"] in ("cache", "cache-mixture")]
    if not rows:
        return None
    body = []
    for r in rows:
        p = r["params"]
        if r["family"] == "cache":
            chosen = f"window {p['window']:,}, θ {p['theta']:g}, λ {p['lam']:g}"
            base = fmt(r["base_ppl"])
        else:
            chosen = "; ".join(f"{w:.3f}·{c}" for c, w in zip(p["components"], p["weights"], strict=True))
            base = fmt(min(x for x in r["component_ppl"] if x is not None))
        body.append([r["mode"], r["model"], chosen, fmt(r["valid_ppl"]), base, ppl_cell(r), percent(r["gain_pct"], 1) + vs_cell(r)])
    return ("Caches", ["mode", "model", "chosen on valid", "valid ppl", "test ppl without (best part)", "test ppl", "gain"], body,
            "The neural cache (Grave et al. 2017): P = (1 − λ) P_model + λ P_cache, P_cache(w) ∝ Σ 1[x_i = w] exp(θ h_t·h_i) over "
            f"the last W positions' hidden states; W, θ, λ from the grid W ∈ {grid(NC_WINDOWS)}, θ ∈ {grid(THETAS)}, λ ∈ "
            f"{grid(LAMBDAS)} on valid. The unigram cache (Kuhn & De Mori 1990): the word's share of the last W tokens, "
            f"smoothed towards uniform, its W ∈ {grid(CACHE_WINDOWS)} chosen on valid for the mixture. Both run inside "
            "the one evaluator: sentence mode empties them at every line, stream mode keeps them across lines. Mixture weights "
            "by EM on valid; nothing is chosen on test.")


def _ngram_note(state: ReportState) -> str:
    from lmstats.ngram.smoothing import DEFAULT_ADD_K

    names = {"eps": "ε tuned per order on valid (recursive variant)", "laplace": "add-one", "lidstone": f"add-k with k = {DEFAULT_ADD_K:g}",
             "wb": "Witten-Bell", "abs": "absolute discounting", "kn": "interpolated Kneser-Ney as KenLM",
             "mkn": "interpolated modified Kneser-Ney as KenLM", "mle": "maximum likelihood (unseen: probability 0)",
             "stupid": "stupid backoff (not a distribution)"}
    return "; ".join(f"{s}: {names[s]}" for s in state.config.smoothers) + "."


def _provenance(state: ReportState) -> list[str]:
    m = state.machine
    threads = f"{m['torch_threads']} torch thread{'s' if m['torch_threads'] != 1 else ''}" if m.get("torch_threads") else "torch not used"
    gpu = {True: "yes", False: "no", None: "not checked"}[m.get("gpu")]
    load = f", load {m['load_at_start']:.2f} at start" if m.get("load_at_start") is not None else ""
    status = "complete" if state.complete else "INCOMPLETE (interrupted or still running): only finished stages are shown"
    if state.failed:
        status += f"; FAILED stages: {', '.join(s.name for s in state.failed)} (see Failed stages)"
    return [
        f"command: `{state.command}`",
        f"seed {state.config.seed}; started {state.started}; {status}",
        f"machine: {m['cpu_model']}, {m['cores']} cores{load}, {threads}, GPU: {gpu}; "
        f"Python {m['python']}, numpy {m['numpy']}, torch {m['torch']}",
    ]


def _html_text(text: str) -> str:
    """Escaped text with `code` spans as <code> elements (no literal backticks in the page)."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))


def render_markdown(state: ReportState, plots: dict[str, bytes]) -> str:
    corpus = state.stage("corpus")
    title = corpus.data["name"] if corpus else "lmstats"
    parts = [f"# Perplexity report: {title}", ""] + [f"- {line}" for line in _provenance(state)] + [""]
    for heading, header, rows, note in sections(state):
        parts += [f"## {heading}", "", _md_table(header, rows), ""] + ([note, ""] if note else [])
    for name in plots:
        parts += [f"![{name}]({name}.png)", ""]
    return "\n".join(parts)


def render_html(state: ReportState, plots: dict[str, bytes]) -> str:
    corpus = state.stage("corpus")
    title = html.escape(corpus.data["name"] if corpus else "lmstats")
    style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
             "td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}.note{color:#555;font-size:.9em}")
    body = [f"<h1>Perplexity report: {title}</h1>", "<ul>" + "".join(f"<li>{_html_text(x)}</li>" for x in _provenance(state)) + "</ul>"]
    for heading, header, rows, note in sections(state):
        body.append(f"<h2>{html.escape(heading)}</h2>{_html_table(header, rows)}")
        if note:
            body.append(f'<p class="note">{_html_text(note)}</p>')
    for name, png in plots.items():
        data = base64.b64encode(png).decode("ascii")
        body.append(f'<h2>{html.escape(name.replace("_", " "))}</h2><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>lmstats report: {title}</title><style>{style}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def write_report(state: ReportState, out_dir: str | Path) -> dict[str, str]:
    """Write every output of ``state`` into ``out_dir`` (each file atomically)."""
    out_dir = Path(out_dir)
    plots = make_plots(state)
    for stale in PLOTS - plots.keys():  # a plot of an earlier run whose stage is missing from this one
        (out_dir / f"{stale}.png").unlink(missing_ok=True)
    written = {}
    for name, png in plots.items():
        with atomic_write(out_dir / f"{name}.png", "wb") as fh:
            fh.write(png)
        written[name] = str(out_dir / f"{name}.png")
    with atomic_write(out_dir / "results.json") as fh:
        json.dump(jsonable(results_json(state)), fh, indent=2, default=str)
    with atomic_write(out_dir / "results.csv") as fh:
        results_frame(state).to_csv(fh, index=False)
    with atomic_write(out_dir / "report.md") as fh:
        fh.write(render_markdown(state, plots))
    with atomic_write(out_dir / "report.html") as fh:
        fh.write(render_html(state, plots))
    written.update({k: str(out_dir / k) for k in ("results.json", "results.csv", "report.md", "report.html")})
    return written


REPORT_FILES = ("report.md", "report.html", "results.csv", "results.json", *(f"{name}.png" for name in FIGURES))
PLOTS = frozenset(name.removesuffix(".png") for name in REPORT_FILES if name.endswith(".png"))


def check_out_dir(path: Path) -> None:
    """Refuse, before any work, an output folder the report may not write into.

    The report writes only into a folder that does not exist, that is empty, or that lmstats
    wrote a report into and that holds nothing else (:func:`lmstats.fileio.check_own_folder`): its
    results.json says ``"format": "lmstats-report"`` (or has the other keys of results.json, which
    reports have had from the start: lmstats, command, config, results), and every file in it is
    one of :data:`REPORT_FILES` or a temporary file of one of them (an interrupted write).  So a
    report never overwrites a user's own report.md or deletes their stale-looking plot.  (A folder
    holding an input is refused by :func:`lmstats.fileio.check_outputs`.)
    """
    check_own_folder(path, "--out-dir", what="a report folder lmstats wrote (no results.json of an lmstats report)",
                     is_ours=lambda p: _is_report_results(p / "results.json"), own_files=lambda p: REPORT_FILES,
                     temporary=lambda name: bool(_TEMPORARY.fullmatch(name)))


def _is_report_results(path: Path) -> bool:
    """True when ``path`` is the results.json of an lmstats report (see :func:`check_out_dir`)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (data.get("format") == FORMAT or {"lmstats", "command", "config", "results"} <= data.keys())


_TEMPORARY = re.compile("|".join(rf"\.{re.escape(name)}\..+\.tmp" for name in REPORT_FILES))  # atomic_write's names
