"""Benchmark: scoring a text file from the shell, ``lmstats score`` against KenLM's ``query``, whole processes.

The issue's targets, each measured here in one run (tools interleaved, medians of at least 3 runs):

* 48M tokens: lmstats ≤ 0.7x ``query``'s time at ≤ 2x its peak memory;
* 4.8M tokens: lmstats ≤ 1.0x ``query``'s time;
* one sentence: lmstats opens the model and scores it in ≤ 0.5 s (whole process).

Models: the WikiText-2 train text, 5-gram modified Kneser-Ney, by each tool: ``lmstats ngram
wikitext-2 --n 5 --eval none --out MODEL`` (a model folder, opened memory-mapped with its stored
indexes) and ``lmplz -o 5 -S 1G`` (its ARPA) then ``build_binary probing ARPA BINARY`` (KenLM's
probing hash tables, its fastest form).  lmplz is given the non-empty lines with ``<unk>`` renamed
(it refuses a literal ``<unk>``), as ``benchmarks/bench_scale.py`` does.

Texts (made once in ``--data``, reused): the WikiText-2 test text as both tools read it (its
non-empty lines, ``<unk>`` renamed: lmstats reads the standin as an unknown word, KenLM as the word
lmplz learnt in its place), repeated 20 times (about 4.8M tokens) and 200 times (about 48M
tokens), and one sentence (its first line of 15 to 40 words).  Every run is a fresh process:
``lmstats score MODEL TEXT`` (the summary) and ``query -v summary BINARY < TEXT``; wall time, and
the process's peak RSS from ``wait4`` (memory-mapped model pages included, for both tools).  Each
command runs once untimed first (numba's cache and the page cache warm, as for a user's second
run), then the tools in turn (A B A B ...).

    python benchmarks/bench_score.py --kenlm-bin DIR [--repeats 3] [--times 20,200]
        [--data /tmp/lmstats-bench] [--lmstats "lmstats score"] [--out reports/score_benchmark.md]

A run with fewer than 3 repeats is labelled a smoke run in the report.  KenLM's binaries (``--kenlm-bin``): built from the
``kenlm`` source distribution as ``benchmarks/bench_scale.py`` says, under an ignored folder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from lmstats.fileio import atomic_write
from lmstats.report.provenance import cpu_model

from bench_scale import SHARED, kenlm_text, log
from timing import run_measured

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"one": ("time", 0.5), "x20": ("ratio", 1.0), "x200": ("ratio", 0.7)}  # seconds, or lmstats ÷ query
PEAK_TARGET = {"x200": 2.0}  # lmstats' peak ÷ query's


def make_models(args, work: Path) -> tuple[Path, Path]:
    """The lmstats model folder and KenLM's probing binary of WikiText-2 train, 5-gram (fitted by this run's code)."""
    model, arpa, binary = work / "wt2-5mkn", work / "wt2.lmplz.arpa", work / "wt2.probing"
    log("fitting: lmstats ngram wikitext-2 --n 5; lmplz -o 5; build_binary probing")
    shutil.rmtree(model, ignore_errors=True)
    run_measured([sys.executable, "-m", "lmstats", "ngram", "wikitext-2", "--data-dir", str(SHARED), "--n", "5", "--eval", "none",
                  "--out", str(model)])
    train = kenlm_text(SHARED / "wikitext-2" / "train.txt", work / "wt2.train.kenlm.txt")
    if not arpa.is_file():
        run_measured([str(args.kenlm_bin / "lmplz"), "-o", "5", "-S", "1G", "-T", str(work), "--text", str(train), "--arpa", str(arpa)])
    if not binary.is_file():
        run_measured([str(args.kenlm_bin / "build_binary"), "probing", str(arpa), str(binary)])
    return model, binary


def make_texts(args, work: Path) -> dict[str, Path]:
    """One sentence and the test text repeated ``args.times`` times (each file made once)."""
    test = kenlm_text(SHARED / "wikitext-2" / "test.txt", work / "wt2.test.kenlm.txt")
    lines = test.read_text(encoding="utf-8").splitlines(keepends=True)
    texts = {"one": work / "wt2.one.txt"}
    texts["one"].write_text(next(line for line in lines if 15 <= len(line.split()) <= 40), encoding="utf-8")
    for times in args.times:
        path = texts[f"x{times}"] = work / f"wt2.test.x{times}.txt"
        if not path.is_file() or path.stat().st_size != times * test.stat().st_size:
            with open(path.with_suffix(".tmp"), "wb") as fh:
                for _ in range(times):
                    fh.write(test.read_bytes())
            os.replace(path.with_suffix(".tmp"), path)
    return texts


def query_figures(stdout: str) -> dict:
    """Tokens, OOVs and perplexity from ``query -v summary``."""
    def number(label: str) -> float | None:
        found = re.search(rf"{label}:\s*([\d.]+)", stdout)
        return float(found.group(1)) if found else None
    return {"tokens": number("Tokens"), "oov": number("OOVs"), "ppl": number("Perplexity including OOVs")}


def lmstats_figures(document: dict) -> dict:
    """Tokens and perplexity from ``lmstats score --json`` (found by name wherever the document keeps them)."""
    found: dict = {}

    def walk(value, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k.lower())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if key in ("ppl", "perplexity") and "ppl" not in found:
                found["ppl"] = float(value)
            elif key in ("tokens", "n_tokens") and "tokens" not in found:
                found["tokens"] = float(value)
            elif key in ("oov", "oovs", "n_oov") and "oov" not in found:
                found["oov"] = float(value)
    walk(document)
    return found


def measure(args, model: Path, binary: Path, texts: dict[str, Path]) -> dict:
    """Per text: both tools in turn, ``repeats`` rounds after one untimed run each; every wall time and peak."""
    results = {}
    for name, text in texts.items():
        tools = {"query": ([str(args.kenlm_bin / "query"), "-v", "summary", str(binary)], text),
                 "lmstats": ([*args.lmstats, str(model), str(text)], None)}
        log(f"{name}: {text.name} ({text.stat().st_size / 1e6:.1f} MB)")
        for cmd, stdin in tools.values():
            run_measured(cmd, stdin=stdin)  # warm: numba's cache, the page cache
        runs: dict[str, list] = {tool: [] for tool in tools}
        for r in range(args.repeats):
            for tool, (cmd, stdin) in tools.items():
                run = run_measured(cmd, stdin=stdin)
                runs[tool].append((run.wall_s, run.peak_gb, run.stdout, run.cpu_s))
                log(f"  {tool} run {r + 1}: {run.wall_s:.3f} s, peak {run.peak_gb:.3f} GB, CPU {run.cpu_s:.2f} s")
        res = {tool: {"walls": [w for w, *_ in rs], "peaks": [p for _, p, *_ in rs], "wall": statistics.median(w for w, *_ in rs),
                      "peak": statistics.median(p for _, p, *_ in rs), "cpu": statistics.median(c for *_, c in rs),
                      "command": shlex.join(cmd) + (f" < {stdin}" if stdin else "")}
               for tool, rs in runs.items() for cmd, stdin in [tools[tool]]}
        res["query"]["figures"] = query_figures(runs["query"][-1][2])
        try:
            proc = subprocess.run([*tools["lmstats"][0], "--json"], capture_output=True, text=True, check=True)
            res["lmstats"]["figures"] = lmstats_figures(json.loads(proc.stdout))
        except (subprocess.CalledProcessError, json.JSONDecodeError) as exc:
            res["lmstats"]["figures"] = {"error": str(exc)[:200]}
        results[name] = res
    return results


def verdict(name: str, res: dict) -> str:
    kind, limit = TARGETS.get(name, ("ratio", None))
    if limit is None:
        return "—"
    value = res["lmstats"]["wall"] if kind == "time" else res["lmstats"]["wall"] / res["query"]["wall"]
    ok = value <= limit
    if name in PEAK_TARGET:
        ok = ok and res["lmstats"]["peak"] / res["query"]["peak"] <= PEAK_TARGET[name]
    return "met" if ok else "**not met**"


def render(args, results: dict, sizes: dict, started: str) -> str:
    smoke = args.repeats < 3
    lines = [
        "# Scoring a text file: `lmstats score` against KenLM `query`",
        "",
        *(["**Smoke run (fewer than 3 runs per figure): a check that the benchmark works, not a measurement.**", ""] if smoke else []),
        f"Generated by `python benchmarks/bench_score.py {' '.join(sys.argv[1:])}` (started {started}).",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1e9:.1f} GB RAM; "
        f"Python {platform.python_version()}, numpy {metadata.version('numpy')}, numba {metadata.version('numba')}. "
        f"Each figure: the median of {args.repeats} runs, the tools in turn, each run a fresh process after one untimed run "
        "(wall time; peak RSS from wait4, memory-mapped model pages included, GB = 10^9 bytes).",
        "",
        f"Models: WikiText-2 train, 5-gram MKN. lmstats model folder {sizes['lmstats'] / 1e6:.0f} MB; KenLM probing binary "
        f"{sizes['query'] / 1e6:.0f} MB.",
        "",
        "CPU is user + system seconds of all the process's threads: `query` scores on one thread; `lmstats score` reads and "
        "scans the text on one and scores pieces on a pool of as many as there are idle cores (here 2), so its wall time is "
        "below its CPU time.",
        "",
        "| text | tokens (query) | tool | wall (s) | CPU (s) | peak (GB) | wall ÷ query | peak ÷ query | perplexity | target | runs (s) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, res in results.items():
        q = res["query"]
        tokens = q["figures"].get("tokens")
        for tool in ("query", "lmstats"):
            r = res[tool]
            ppl = r["figures"].get("ppl")
            target = verdict(name, res) if tool == "lmstats" else ""
            count = f"{tokens:,.0f}" if tokens else "?"
            lines.append(f"| {name} | {count} | {tool} | {r['wall']:.3f} | {r['cpu']:.2f} | {r['peak']:.3f} | "
                         f"{r['wall'] / q['wall']:.2f} | {r['peak'] / q['peak']:.2f} | {f'{ppl:.3f}' if ppl else '?'} | {target} | "
                         f"{', '.join(f'{w:.3f}' for w in r['walls'])} |")
    lines += ["", "Targets (issue 24): one sentence ≤ 0.5 s whole process; x20 (4.8M tokens) ≤ 1.0x query's time; "
              "x200 (48M tokens) ≤ 0.7x query's time at ≤ 2x its peak memory.", "", "Commands:", ""]
    for name, res in results.items():
        lines += [f"* {name}: `{res['query']['command']}`; `{res['lmstats']['command']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kenlm-bin", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--times", default="20,200", help="repetitions of the test text, one file each")
    parser.add_argument("--data", type=Path, default=Path("/tmp/lmstats-bench"))
    script = Path(sys.executable).with_name("lmstats")  # the command a user types, installed beside this Python
    parser.add_argument("--lmstats", default=f"{shlex.quote(str(script))} score" if script.is_file() else
                        f"{shlex.quote(sys.executable)} -m lmstats score",
                        help="the command that scores: it is given MODEL TEXT (and --json once, for the perplexity)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "score_benchmark.md")
    args = parser.parse_args()
    args.times = [int(t) for t in args.times.split(",") if t]
    args.lmstats = shlex.split(args.lmstats)
    work = args.data / "score"
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now().isoformat(timespec="minutes")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "lmstats")], check=True)  # as an install leaves it
    model, binary = make_models(args, work)
    texts = make_texts(args, work)
    results = measure(args, model, binary, texts)
    sizes = {"lmstats": sum(p.stat().st_size for p in model.iterdir()), "query": binary.stat().st_size}
    (work / "results.json").write_text(json.dumps(results, indent=1))
    with atomic_write(args.out) as fh:
        fh.write(render(args, results, sizes, started))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
