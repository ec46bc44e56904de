"""The cells of the report's tables: a figure, a perplexity with its interval, a paired comparison, a neural model's
recipe, epochs and seeds, each as one short string."""

from __future__ import annotations

from lmstats.display import percent


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "inf"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ppl_cell(r: dict) -> str:
    """A row's test perplexity with its 95% bootstrap interval, when the row has one."""
    ci = r.get("ppl_interval")
    return fmt(r["ppl"]) + (f" [{fmt(ci['low'])}, {fmt(ci['high'])}]" if ci else "")


def vs_cell(r: dict) -> str:
    """The paired bootstrap of a mixture's best part against it: the difference, its interval, the p-value."""
    vs = r.get("best_vs_mixture")
    return "" if not vs else (f"; best part − mixture {fmt(vs['difference'])} [{fmt(vs['low'])}, {fmt(vs['high'])}], "
                              f"p = {vs['p_value']:.3g}")


def recipe_cell(c: dict) -> str:
    """One cell's recipe as run, in a phrase."""
    optimizer = {"adam": "Adam", "sgd": "SGD", "adamw": "AdamW"}[c["optimizer"]]
    schedule = {"plateau": f"×{c['lr_decay']:g} on a validation plateau", "linear": "linear to 0",
                "cosine": "half cosine to 0"}[c["lr_schedule"]]
    if c["cell"] == "transformer":
        shape = (f"{c['num_layers']} block{'s' if c['num_layers'] != 1 else ''} of {c['embed_size']} ({c['heads']} heads, "
                 f"feed-forward {c['hidden_size']}), "
                 f"window {c['seq_len']}")
    else:
        shape = f"{c['num_layers']}×{c['hidden_size']}, BPTT {c['seq_len']}"
    extras = [f"warm-up {percent(100 * c['warmup'], 0)}" if c.get("warmup") else "",
              f"weight decay {c['weight_decay']:g}" if c.get("weight_decay") else "",
              f"{percent(100 * c['start_share'], 0)} of steps on line starts" if c.get("start_share") else ""]
    return (f"{shape}, dropout {c['dropout']:g}, {c['softmax']} softmax{' tied' if c['tie'] else ''}, batch {c['batch_size']}, "
            f"{optimizer} {c['lr']:g} {schedule}, clip {c['clip']:g}" + "".join(f", {e}" for e in extras if e) + f", {budget_phrase(c)}")


def budget_phrase(c: dict) -> str:
    """A run's budget: its epochs, and the seconds that stop it first when set (either one may be the ceiling)."""
    epochs = f"{c['epochs']} epoch{'s' if c['epochs'] != 1 else ''}"
    return f"{epochs} or {c['time_budget']:g} s, whichever ends first" if c.get("time_budget") else epochs


def epochs_cell(r: dict) -> str:
    return "–" if r.get("epochs_done") is None else f"{r['epochs_done']:.2f}"


def seeds_cell(r: dict) -> str:
    s = r.get("seeds")
    return "" if not s else f" {{{fmt(s['mean'])} ± {fmt(s['sd'])} over {len(s['seeds'])} seeds; seed {s['used']} used}}"


def grid(values) -> str:
    """A grid of values chosen from, as a set: {0.1, 0.3, 1}."""
    return "{" + ", ".join(f"{v:g}" for v in values) + "}"


def change_phrase(gain_pct: float, what: str) -> str:
    """"12.3% below WHAT" for a gain, "1.1% above WHAT" for a loss (a cache chosen on valid can lose on test); a change
    that rounds to 0.0% reads "0.0% below"."""
    return f"{percent(abs(gain_pct), 1)} {'above' if round(gain_pct, 1) < 0 else 'below'} {what}"
