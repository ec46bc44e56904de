"""What the commands print: one JSON document or text lines on stdout, progress on stderr.

:func:`echo` prints either the ``--json`` document (through :func:`lmstats.jsonable.jsonable`)
or the lines of a formatter; :func:`results_table` is the table of evaluation results;
:func:`progress_bar` is a tqdm bar on stderr; :class:`CountingReport` reports the counting of
a large n-gram fit, order by order.
"""

from __future__ import annotations

import json
import sys
import time

import click

from lmstats.jsonable import jsonable
from lmstats.resources import format_size, own_bytes


def echo(data, as_json: bool, text=None) -> None:
    """Print ``data`` as one JSON document, or the lines ``text(data)`` gives."""
    if as_json:
        click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False))
    elif text is not None:
        for line in text(data):
            click.echo(line)


def results_table(results: dict) -> list[str]:
    """Lines of the evaluation table of ``{split: {mode: result dict}}`` (see ``evaluate_splits``)."""
    out = [f"{'split':<6} {'mode':<9} {'tokens':>10} {'OOV':>8} {'zero-p':>7} {'ppl':>11} "
           f"{'ppl no OOV':>11} {'bits/token':>10} {'bits/char':>9} {'score tok/s':>12}"]
    number = lambda v, spec: "inf" if v is None else format(v, spec)  # noqa: E731
    for name, by_mode in results.items():
        for mode, r in by_mode.items():
            per_char = "-" if r.get("n_chars") is None else number(r["bits_per_char"], ".4f")  # text size unknown: -
            out.append(f"{name:<6} {mode:<9} {r['n_tokens']:>10,} {r['n_oov']:>8,} {r['n_zero']:>7,} {number(r['ppl'], '>11.3f')} "
                       f"{number(r['ppl_no_oov'], '>11.3f')} {number(r['bits_per_token'], '>10.4f')} {per_char:>9} "
                       f"{r['tokens_per_s']:>12,.0f}")
    return out


def progress_bar(**kwargs):
    """A tqdm bar on stderr (hidden when stderr is not a terminal); tqdm is imported when used."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, disable=None, **kwargs)


class CountingReport:
    """The plan and one line per counted order (time, positions/s, the files lmstats has written so far) on
    stderr, for fits that go out of core, to a Dask cluster or that add more than :data:`LOUD_BYTES` of memory
    to what the process holds; a bar for the others (whose plan would be noise, whatever the process held before)."""

    LOUD_BYTES = 1 << 30

    def __init__(self, bar, engine: str = "local", scheduler: str | None = None, why_here: str | None = None):
        self.bar, self.engine, self.scheduler, self.why_here = bar, engine, scheduler, why_here
        self.loud, self.positions = False, 0
        self.last = time.perf_counter()

    def plan(self, plan) -> None:
        self.loud = self.engine == "dask" or not plan.in_memory or plan.peak - plan.held > self.LOUD_BYTES
        self.positions, self.last = plan.positions, time.perf_counter()
        if self.engine == "dask":
            self.say(f"counting {plan.positions:,} positions up to order {plan.order} on the Dask cluster "
                     f"{self.scheduler or '(a LocalCluster of this machine)'}"
                     + (f"; the corpus was read here, not on the workers: {self.why_here}" if self.why_here else ""))
        elif self.loud:
            self.say(plan.describe())

    def order(self, k: int) -> None:
        now = time.perf_counter()
        if self.loud:
            files = own_bytes()
            self.say(f"order {k} counted in {now - self.last:.1f} s ({self.positions / max(now - self.last, 1e-9) / 1e6:.1f}M positions/s)"
                     + (f"; lmstats' files so far {format_size(files)}" if files > 0 else ""))
        self.last = now
        self.bar.update(1)

    def say(self, line: str) -> None:
        self.bar.write(line, file=sys.stderr)
