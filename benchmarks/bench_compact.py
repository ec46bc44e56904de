"""Benchmark: compact quantised n-gram models (``lmstats ngram --quantize 8``) against the full model and KenLM's binaries.

The issue's targets (section 4), on the WikiText-2 5-gram MKN, each measured here in one run:

* model on disk ≤ KenLM's trie with ``build_binary -q 8 -b 8``;
* test perplexity within 0.5% of the unquantised model;
* scoring speed ≥ 0.8x the unquantised model's (whole processes, ``lmstats score MODEL TEXT``);
* open ≤ 0.05 s (``lmstats.load``, in a fresh process after the imports, median of the runs).

Models: ``lmstats ngram wikitext-2 --n 5 --eval none --out FULL``, then ``lmstats ngram --load FULL
--out Q8 --quantize 8``; ``lmplz -o 5`` on the same text (``<unk>`` renamed, as ``bench_score.py``),
then ``build_binary probing`` and ``build_binary -q 8 -b 8 trie``.  Texts: the WikiText-2 test text
as both tools read it, once and repeated 20 times (``bench_score.make_texts``).  Every run is a
fresh process, the four commands in turn (A B C D A B C D ...) after one untimed run each; wall time
and peak RSS (``timing.run_measured``: ``wait4``, memory-mapped pages included).

    python benchmarks/bench_compact.py --kenlm-bin DIR [--repeats 3] [--times 20]
        [--data /tmp/lmstats-bench] [--out reports/compact_benchmark.md]

A run with fewer than 3 repeats is labelled a smoke run in the report.  KenLM's binaries (``--kenlm-bin``): built from the
``kenlm`` source distribution as ``benchmarks/bench_scale.py`` says, under an ignored folder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
from importlib import metadata
from pathlib import Path

from bench_score import make_texts, query_figures

from lmstats.fileio import atomic_write
from lmstats.report.provenance import cpu_model

from bench_scale import SHARED, kenlm_text, log
from timing import run_measured

ROOT = Path(__file__).resolve().parents[1]
OPEN = ("import time, lmstats.saved, lmstats.ngram.model, lmstats.ngram.compact_storage; t = time.perf_counter(); "
        "lmstats.saved.load({path!r}); print(time.perf_counter() - t)")  # the modules imported first: the opening alone


def size_on_disk(path: Path) -> int:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files)


def make_models(args, work: Path) -> dict[str, Path]:
    """The full lmstats model, its 8-bit compact form, and KenLM's probing and trie -q 8 -b 8 binaries."""
    lm = [sys.executable, "-m", "lmstats", "ngram"]
    paths = {"full": work / "wt2-5mkn", "query-only": work / "wt2-5mkn-qo", "q8": work / "wt2-5mkn-q8", "probing": work / "wt2.probing",
             "trie": work / "wt2.trie", "trie-q8": work / "wt2.trie.q8"}
    arpa = work / "wt2.lmplz.arpa"
    log("fitting: lmstats ngram --n 5 (then --quantize 8); lmplz -o 5; build_binary probing and -q 8 -b 8 trie")
    for name in ("full", "query-only", "q8"):
        shutil.rmtree(paths[name], ignore_errors=True)
    run_measured([*lm, "wikitext-2", "--data-dir", str(SHARED), "--n", "5", "--eval", "none", "--out", str(paths["full"])])
    run_measured([*lm, "--load", str(paths["full"]), "--out", str(paths["query-only"]), "--query-only", "--eval", "none"])
    run_measured([*lm, "--load", str(paths["full"]), "--out", str(paths["q8"]), "--quantize", "8", "--eval", "none"])
    train = kenlm_text(SHARED / "wikitext-2" / "train.txt", work / "wt2.train.kenlm.txt")
    if not arpa.is_file():
        run_measured([str(args.kenlm_bin / "lmplz"), "-o", "5", "-S", "1G", "-T", str(work), "--text", str(train), "--arpa", str(arpa)])
    if not paths["probing"].is_file():
        run_measured([str(args.kenlm_bin / "build_binary"), "probing", str(arpa), str(paths["probing"])])
    if not paths["trie"].is_file():
        run_measured([str(args.kenlm_bin / "build_binary"), "trie", str(arpa), str(paths["trie"])])
    if not paths["trie-q8"].is_file():
        run_measured([str(args.kenlm_bin / "build_binary"), "-q", "8", "-b", "8", "trie", str(arpa), str(paths["trie-q8"])])
    return paths


def lmstats_ppl(stdout: str) -> float | None:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("Perplexity including OOVs")), None)
    return float(line.split("\t")[-1]) if line else None


def measure(args, models: dict[str, Path], texts: dict[str, Path]) -> dict:
    """Per text: the four commands in turn, ``repeats`` rounds after one untimed run each."""
    query = str(args.kenlm_bin / "query")
    results = {}
    for name, text in texts.items():
        tools = {"lmstats full": ([*args.lmstats, str(models["full"]), str(text)], None),
                 "lmstats q8": ([*args.lmstats, str(models["q8"]), str(text)], None),
                 "query probing": ([query, "-v", "summary", str(models["probing"])], text),
                 "query trie-q8": ([query, "-v", "summary", str(models["trie-q8"])], text)}
        log(f"{name}: {text.name} ({text.stat().st_size / 1e6:.1f} MB)")
        for cmd, stdin in tools.values():
            run_measured(cmd, stdin=stdin)
        runs: dict[str, list] = {tool: [] for tool in tools}
        for r in range(args.repeats):
            for tool, (cmd, stdin) in tools.items():
                run = run_measured(cmd, stdin=stdin)
                runs[tool].append(run)
                log(f"  {tool} run {r + 1}: {run.wall_s:.3f} s, peak {run.peak_gb:.3f} GB")
        results[name] = {tool: {"walls": [x.wall_s for x in rs], "wall": statistics.median(x.wall_s for x in rs),
                                "peak": statistics.median(x.peak_gb for x in rs),
                                "ppl": lmstats_ppl(rs[-1].stdout) if tool.startswith("lmstats") else query_figures(rs[-1].stdout)["ppl"],
                                "command": shlex.join(tools[tool][0]) + (f" < {tools[tool][1]}" if tools[tool][1] else "")}
                         for tool, rs in runs.items()}
    return results


def open_times(models: dict[str, Path], repeats: int) -> dict[str, float]:
    """Median seconds of ``lmstats.load`` in a fresh process (after the imports), the two models in turn."""
    times: dict[str, list[float]] = {"full": [], "q8": []}
    for _ in range(max(repeats, 1)):
        for name in times:
            run = run_measured([sys.executable, "-c", OPEN.format(path=str(models[name]))])
            times[name].append(float(run.stdout.strip()))
    return {name: statistics.median(t) for name, t in times.items()}


def render(args, results: dict, sizes: dict, opened: dict, started: str) -> str:
    smoke = args.repeats < 3
    full = results.get("x1", next(iter(results.values())))
    ppl_change = full["lmstats q8"]["ppl"] / full["lmstats full"]["ppl"] - 1 if full["lmstats q8"]["ppl"] else float("nan")
    lines = [
        "# Compact quantised n-gram models: `lmstats ngram --quantize 8` against the full model and KenLM",
        "",
        *(["**Smoke run (fewer than 3 runs per figure): a check that the benchmark works, not a measurement.**", ""] if smoke else []),
        f"Generated by `python benchmarks/bench_compact.py {' '.join(sys.argv[1:])}` (started {started}).",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1e9:.1f} GB RAM; "
        f"Python {platform.python_version()}, numpy {metadata.version('numpy')}, numba {metadata.version('numba')}. "
        f"Each figure: the median of {args.repeats} runs, the commands in turn, each a fresh process after one untimed run "
        "(wall time; peak RSS from wait4, memory-mapped pages included; MB and GB are 10^6 and 10^9 bytes).",
        "",
        "| model | on disk (MB) | open (s) |", "| --- | ---: | ---: |",
        *(f"| {name} | {size / 1e6:.1f} | {f'{opened[name]:.4f}' if name in opened else '—'} |" for name, size in sizes.items()),
        "",
        "| text | command | wall (s) | peak (GB) | speed ÷ lmstats full | perplexity | runs (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, res in results.items():
        base = res["lmstats full"]["wall"]
        for tool, r in res.items():
            ppl = f"{r['ppl']:.3f}" if r["ppl"] else "?"
            lines.append(f"| {name} | {tool} | {r['wall']:.3f} | {r['peak']:.3f} | {base / r['wall']:.2f} | {ppl} | "
                         f"{', '.join(f'{w:.3f}' for w in r['walls'])} |")
    speed = min(res["lmstats full"]["wall"] / res["lmstats q8"]["wall"] for res in results.values())
    checks = [("on disk ≤ KenLM trie -q 8 -b 8", sizes["q8"] <= sizes["trie-q8"]),
              (f"test perplexity within 0.5% of the full model ({ppl_change:+.3%})", abs(ppl_change) <= 0.005),
              (f"scoring speed ≥ 0.8x the full model's (lowest: {speed:.2f}x)", speed >= 0.8),
              (f"open ≤ 0.05 s ({opened['q8']:.4f} s)", opened["q8"] <= 0.05)]
    lines += ["", "Targets (issue 24, section 4):", "", *(f"* {what}: {'met' if ok else '**not met**'}" for what, ok in checks),
              "", "Commands:", "", *(f"* {name}, {tool}: `{r['command']}`" for name, res in results.items() for tool, r in res.items())]
    return "\n".join(lines) + "\n"


def reference_points(args, models: dict[str, Path], texts: dict[str, Path], results: dict, sizes: dict) -> dict:
    """KenLM's binaries as the report's size stage draws them (``lmstats/report/sizes.py``): bytes on disk and the test
    perplexity ``query`` gives (the text once, sentence mode as ``query`` reads it); the unquantised trie's from one run."""
    once = results["x1"]
    trie = run_measured([str(args.kenlm_bin / "query"), "-v", "summary", str(models["trie"])], stdin=texts["x1"])
    points = [("KenLM probing", sizes["probing"], once["query probing"]["ppl"]),
              ("KenLM trie", sizes["trie"], query_figures(trie.stdout)["ppl"]),
              ("KenLM trie -q 8 -b 8", sizes["trie-q8"], once["query trie-q8"]["ppl"])]
    return {"corpus": "wikitext-2", "order": 5, "mode": "sentence", "command": f"benchmarks/bench_compact.py {' '.join(sys.argv[1:])}",
            "reference_points": [{"label": label, "bytes": size, "ppl": ppl} for label, size, ppl in points]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kenlm-bin", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--times", default="20", help="repetitions of the test text besides the text once, one file each")
    parser.add_argument("--data", type=Path, default=Path("/tmp/lmstats-bench"))
    script = Path(sys.executable).with_name("lmstats")  # the command a user types, installed beside this Python
    parser.add_argument("--lmstats", default=f"{shlex.quote(str(script))} score" if script.is_file() else
                        f"{shlex.quote(sys.executable)} -m lmstats score", help="the command that scores MODEL TEXT")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "compact_benchmark.md")
    args = parser.parse_args()
    args.times = [1, *(int(t) for t in args.times.split(",") if t and int(t) != 1)]
    args.lmstats = shlex.split(args.lmstats)
    started = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
    args.data.mkdir(parents=True, exist_ok=True)
    models = make_models(args, args.data)
    texts = make_texts(args, args.data)
    texts = {name: path for name, path in texts.items() if name != "one"}
    results = measure(args, models, texts)
    opened = open_times(models, args.repeats)
    sizes = {name: size_on_disk(path) for name, path in models.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as fh:
        fh.write(render(args, results, sizes, opened, started))
    log(f"wrote {args.out}")
    with atomic_write(args.out.with_suffix(".json")) as fh:
        json.dump(reference_points(args, models, texts, results, sizes), fh, indent=1)
    log(f"wrote {args.out.with_suffix('.json')} (the report's size_reference)")


if __name__ == "__main__":
    main()
