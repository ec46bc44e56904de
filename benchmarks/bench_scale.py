"""Benchmark: n-gram models at scale, lmstats against KenLM in one run (tools interleaved, medians).

For every corpus the same training text goes to both tools: synthetic text from
``lmstats corpus synth --order 2 --seed 0`` (5k word types), split 80/10/10 by lines with
lmstats' seeded split (``lmstats.text.split.split_labels``) into ``train.txt``/``valid.txt``/
``test.txt``, and WikiText-2 (the non-empty lines of its train file, ``<unk>`` renamed for lmplz,
which refuses it).  Each run is a fresh process; wall time and that process's peak RSS
(``wait4``).  The tools run in turn (A B C A B C ...) and every figure is the median of the runs.

* ``fit``: ``lmplz -o N -S 4G`` (and ``-S 1G`` on WikiText-2; ``--discount_fallback`` on
  synthetic text, whose unigram counts-of-counts are zero) against ``lmstats ngram DIR --n N
  --eval none`` (``--memory 4G`` on synthetic text; with and without ``--arpa`` on WikiText-2).
* ``ppl``: test perplexity of both models on the same test sentences (KenLM ``query`` on
  ``build_binary``'s model; lmstats' evaluator, sentence mode).
* ``score`` (WikiText-2, 5-gram): scoring the test set repeated 20 times, KenLM ``query`` on the
  binary model (its time on one sentence, the load, subtracted) against lmstats on encoded ids
  and from text; the time to open a saved model.

    python benchmarks/bench_scale.py --kenlm-bin DIR [--sizes 10e6,50e6,100e6] [--orders 3,5]
        [--repeats 3] [--data /work/data] [--out reports/scale_benchmark.md]

``--sizes ""`` runs the WikiText-2 part alone (fit, ARPA, scoring, model open).

KenLM: ``pip download kenlm --no-binary kenlm --no-deps``, unpack, then ``cmake -B build
-DCMAKE_BUILD_TYPE=Release && make -C build -j2 lmplz query build_binary`` (Debian packages
libboost-program-options-dev, libboost-system-dev, libboost-thread-dev, libboost-test-dev);
``--kenlm-bin`` is ``build/bin``.  Nothing of KenLM is committed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import sys
from pathlib import Path

import numpy as np

from lmstats.fileio import atomic_write
from lmstats.report.provenance import cpu_model

from timing import run_measured

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora"
UNK_STANDIN = "UNKWORD"
LMSTATS = [sys.executable, "-m", "lmstats"]


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


# -- data ------------------------------------------------------------------------------------
def synthetic_splits(n_tokens: int, data: Path) -> Path:
    """Folder with train/valid/test.txt of the synthetic corpus of ``n_tokens`` (made once, reused)."""
    from lmstats.text.split import split_labels

    folder = data / f"synth{int(n_tokens / 1e6)}m"
    if (folder / "test.txt").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    text = data / f"synth{int(n_tokens / 1e6)}m.txt"
    if not text.is_file():
        run_measured([*LMSTATS, "corpus", "synth", str(text), "--tokens", str(int(n_tokens)), "--order", "2", "--seed", "0"])
    with open(text, "rb") as fh:
        n_lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b""))
    labels = split_labels(n_lines, (0.8, 0.1, 0.1), 0)
    outs = [open(folder / f"{name}.txt", "wb") for name in ("train", "valid", "test")]  # noqa: SIM115 - closed below
    try:
        with open(text, "rb") as fh:
            for label, line in zip(labels, fh, strict=True):
                outs[label].write(line)
    finally:
        for out in outs:
            out.close()
    return folder


def kenlm_text(src: Path, dst: Path) -> Path:
    """The sentences lmstats trains on in sentence mode (non-empty lines), ``<unk>`` renamed for lmplz."""
    if not dst.is_file():
        with open(src, encoding="utf-8") as fin, open(dst, "w", encoding="utf-8") as fout:
            for line in fin:
                if line.strip():
                    fout.write(line.strip().replace("<unk>", UNK_STANDIN) + "\n")
    return dst


def n_tokens_of(path: Path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(len(line.split()) for line in fh)


# -- runs ------------------------------------------------------------------------------------
def interleaved(tools: dict[str, list[str]], repeats: int) -> dict[str, dict]:
    """Run the tools in turn ``repeats`` times; per tool every wall time and peak, and their medians."""
    runs: dict[str, list] = {name: [] for name in tools}
    for r in range(repeats):
        for name, cmd in tools.items():
            run = run_measured(cmd)
            runs[name].append((run.wall_s, run.peak_gb))
            log(f"  {name} run {r + 1}: {run.wall_s:.1f} s, peak {run.peak_gb:.2f} GB")
    return {name: {"walls": [w for w, _ in rs], "peaks": [p for _, p in rs], "wall": statistics.median(w for w, _ in rs),
                   "peak": statistics.median(p for _, p in rs), "command": " ".join(map(str, tools[name]))} for name, rs in runs.items()}


def kenlm_ppl(kenlm_bin: Path, arpa: Path, test: Path, work: Path) -> float:
    binary = work / "model.binary"
    run_measured([str(kenlm_bin / "build_binary"), str(arpa), str(binary)])
    out = run_measured([str(kenlm_bin / "query"), "-v", "summary", str(binary)], stdin=test).stdout
    return float(re.search(r"Perplexity including OOVs:\s*([\d.]+)", out).group(1))


def lmstats_ppl(model: Path, corpus: Path, data_dir: str | None = None) -> float:
    cmd = [*LMSTATS, "ngram", "--load", str(model), "--eval", "test", "--json"] + (["--data-dir", data_dir] if data_dir else [])
    if corpus is not None:
        cmd.insert(len(LMSTATS) + 1, str(corpus))
    data = json.loads(run_measured(cmd).stdout)
    return data["results"]["test"]["sentence"]["ppl"]


def section_synthetic(args, n_tokens: float, order: int) -> dict:
    folder = synthetic_splits(n_tokens, args.data)  # only train/valid/test.txt: lmstats reads them as predefined splits
    train = kenlm_text(folder / "train.txt", args.data / f"{folder.name}.train.kenlm.txt")
    test = kenlm_text(folder / "test.txt", args.data / f"{folder.name}.test.kenlm.txt")
    work = args.data / "work"
    work.mkdir(exist_ok=True)
    arpa, model = work / "lmplz.arpa", work / "lmstats-model"
    tools = {
        "lmplz -S 4G": [str(args.kenlm_bin / "lmplz"), "-o", str(order), "-S", "4G", "--discount_fallback", "-T", str(work),
                        "--text", str(train), "--arpa", str(arpa)],
        "lmstats --memory 4G": [*LMSTATS, "ngram", str(folder), "--n", str(order), "--memory", "4G", "--tmp", str(work),
                                "--eval", "none", "--out", str(model)],
    }
    log(f"synthetic {n_tokens / 1e6:g}M tokens, order {order}")
    res = {"tokens": n_tokens_of(folder / "train.txt"), "runs": interleaved(tools, args.repeats)}
    res["ppl"] = {"lmplz": kenlm_ppl(args.kenlm_bin, arpa, test, work), "lmstats": lmstats_ppl(model, None)}
    log(f"  test ppl: lmplz {res['ppl']['lmplz']:.4f}, lmstats {res['ppl']['lmstats']:.4f}")
    return res


def section_wikitext(args) -> dict:
    folder = SHARED / "wikitext-2"
    work = args.data / "work"
    work.mkdir(parents=True, exist_ok=True)
    train = kenlm_text(folder / "train.txt", work / "wt2.train.kenlm.txt")
    test = kenlm_text(folder / "test.txt", work / "wt2.test.kenlm.txt")
    arpa, model = work / "wt2.lmplz.arpa", work / "wt2-model"
    lmplz = [str(args.kenlm_bin / "lmplz"), "-o", "5", "-T", str(work), "--text", str(train), "--arpa", str(arpa)]
    lmstats = [*LMSTATS, "ngram", "wikitext-2", "--data-dir", str(SHARED), "--n", "5", "--eval", "none", "--out", str(model)]
    tools = {"lmplz -S 1G": lmplz[:3] + ["-S", "1G"] + lmplz[3:], "lmplz (default -S)": lmplz, "lmstats": lmstats,
             "lmstats --arpa": lmstats + ["--arpa", str(work / "wt2.lmstats.arpa")]}
    log("WikiText-2, 5-gram")
    res = {"tokens": n_tokens_of(train), "runs": interleaved(tools, args.repeats)}
    res["ppl"] = {"lmplz": kenlm_ppl(args.kenlm_bin, arpa, test, work), "lmstats": lmstats_ppl(model, None, str(SHARED))}
    log(f"  test ppl: lmplz {res['ppl']['lmplz']:.4f}, lmstats {res['ppl']['lmstats']:.4f}")
    res["score"] = section_scoring(args, model, test, work)
    return res


SCORER = r"""
import json, sys, time
import numpy as np
from lmstats.ngram import NgramLM
from lmstats.text.scan import TextEncoder
model_path, text_path, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter(); model = NgramLM.load(model_path); open_s = time.perf_counter() - t
text = open(text_path, encoding="utf-8").read().replace("UNKWORD", "<unk>")
big_path = text_path + f".x{times}.lmstats.txt"
with open(big_path, "w", encoding="utf-8") as fh:
    fh.write(text * times)
encoder = TextEncoder(model.vocab)  # the vocabulary's hash table, built once, as query loads its vocabulary once
eos = model.vocab.eos_id
one = encoder(text).with_eos(eos)
lp = model.logprobs_lines(one)  # the index is built once, as query loads its model once
big = encoder(text * times).with_eos(eos)
t = time.perf_counter(); model.logprobs_lines(big); ids_s = time.perf_counter() - t
t = time.perf_counter(); model.logprobs_lines(big, threads=1); ids1_s = time.perf_counter() - t
t = time.perf_counter()
with open(big_path, encoding="utf-8") as fh:
    units = encoder(fh.read()).with_eos(eos)
model.logprobs_lines(units)
text_s = time.perf_counter() - t
print(json.dumps({"open_s": open_s, "tokens": int(len(big.ids)), "ids_s": ids_s, "ids1_s": ids1_s, "text_s": text_s,
                  "ppl": float(np.exp(-lp.mean()))}))
"""


def section_scoring(args, model: Path, test: Path, work: Path) -> dict:
    """lmstats on encoded ids and from text against KenLM query on the binary model, test x 20, in turn."""
    times = 20
    big, one = work / "wt2.test.x20.txt", work / "wt2.one.txt"
    big.write_text(test.read_text(encoding="utf-8") * times, encoding="utf-8")
    one.write_text(test.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    binary = work / "model.binary"
    query = [str(args.kenlm_bin / "query"), "-v", "summary", str(binary)]
    rows: dict[str, list] = {"query": [], "query_load": [], "lmstats": []}
    for r in range(max(3, args.repeats)):
        run = run_measured(query, stdin=big)
        load = run_measured(query, stdin=one)
        tokens = int(re.search(r"Tokens:\s*(\d+)", run.stdout).group(1))
        rows["query"].append((tokens, run.wall_s - load.wall_s))
        rows["query_load"].append(load.wall_s)
        data = json.loads(run_measured([sys.executable, "-c", SCORER, str(model), str(test), str(times)]).stdout)
        rows["lmstats"].append(data)
        log(f"  scoring run {r + 1}: query {tokens / (run.wall_s - load.wall_s) / 1e6:.2f} M tok/s, lmstats ids "
            f"{data['tokens'] / data['ids_s'] / 1e6:.2f} (1 thread {data['tokens'] / data['ids1_s'] / 1e6:.2f}), "
            f"text {data['tokens'] / data['text_s'] / 1e6:.2f} M tok/s, "
            f"open {data['open_s']:.3f} s")
    med = statistics.median
    return {
        "query_mtok_s": med(t / s / 1e6 for t, s in rows["query"]),
        "query_load_s": med(rows["query_load"]),
        "ids_mtok_s": med(d["tokens"] / d["ids_s"] / 1e6 for d in rows["lmstats"]),
        "ids1_mtok_s": med(d["tokens"] / d["ids1_s"] / 1e6 for d in rows["lmstats"]),
        "text_mtok_s": med(d["tokens"] / d["text_s"] / 1e6 for d in rows["lmstats"]),
        "open_s": med(d["open_s"] for d in rows["lmstats"]), "runs": rows, "times": times,
    }


# -- report ----------------------------------------------------------------------------------
def render(results: dict, args, started: str) -> str:
    lines = [
        "# N-gram models at scale: lmstats against KenLM",
        "",
        f"Generated by `python benchmarks/bench_scale.py {' '.join(sys.argv[1:])}` (started {started}).",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1e9:.1f} GB RAM; "
        f"Python {platform.python_version()}, numpy {np.__version__}. Each figure: the median of {args.repeats} runs, the tools "
        "run in turn, each run a fresh process (wall time; peak RSS from wait4, GB = 10^9 bytes).",
        "",
        "## Fitting",
        "",
        "| corpus | train tokens | order | tool | wall (s) | peak (GB) | wall ÷ lmplz | peak ÷ lmplz | runs (s) |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, res in results["fits"].items():
        base_name = next(n for n in res["runs"] if n.startswith("lmplz -S"))
        base = res["runs"][base_name]
        for tool, r in res["runs"].items():
            corpus, order = name.split(" / ")
            lines.append(f"| {corpus} | {res['tokens']:,} | {order} | {tool} | {r['wall']:.1f} | {r['peak']:.2f} | "
                         f"{r['wall'] / base['wall']:.2f} | {r['peak'] / base['peak']:.2f} | {', '.join(f'{w:.1f}' for w in r['walls'])} |")
    lines += ["", f"Ratios are against `{ 'lmplz -S 4G'}` on synthetic text and `lmplz -S 1G` on WikiText-2.", "",
              "## Test perplexity (same test sentences, sentence mode, OOVs included)", "",
              "| corpus | order | KenLM query | lmstats | relative difference |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, res in results["fits"].items():
        a, b = res["ppl"]["lmplz"], res["ppl"]["lmstats"]
        lines.append(f"| {name.split(' / ')[0]} | {name.split(' / ')[1]} | {a:.4f} | {b:.4f} | {abs(b - a) / a:.1e} |")
    growth = growth_rows(results["fits"])
    if growth:
        lines += ["", "## Growth with the corpus (log-log slope from the smallest to the largest synthetic corpus)", "",
                  "| order | tool | time exponent | memory exponent |", "| ---: | --- | ---: | ---: |"] + growth
    score = results.get("score")
    if score:
        lines += ["", f"## Scoring WikiText-2 test x {score['times']} (5-gram)", "",
                  "| scorer | M tokens/s (median) | ÷ KenLM query |", "| --- | ---: | ---: |",
                  f"| KenLM `query`, binary model, load subtracted | {score['query_mtok_s']:.2f} | 1.00 |",
                  f"| lmstats, encoded ids (`logprobs_lines`, {os.cpu_count()} threads) | {score['ids_mtok_s']:.2f} | "
                  f"{score['ids_mtok_s'] / score['query_mtok_s']:.2f} |",
                  f"| lmstats, encoded ids, 1 thread (`threads=1`) | {score['ids1_mtok_s']:.2f} | "
                  f"{score['ids1_mtok_s'] / score['query_mtok_s']:.2f} |",
                  f"| lmstats, from text (read the file + `TextEncoder` + score) | {score['text_mtok_s']:.2f} | "
                  f"{score['text_mtok_s'] / score['query_mtok_s']:.2f} |",
                  "", f"Opening the saved model: lmstats {score['open_s']:.3f} s (`NgramLM.load` of the model folder, memory-mapped); "
                  f"KenLM `query` start and load on one sentence {score['query_load_s']:.3f} s."]
    return "\n".join(lines) + "\n"


def growth_rows(fits: dict) -> list[str]:
    out = []
    for order in sorted({name.split(" / ")[1] for name in fits if name.startswith("synth")}):
        series = sorted((res["tokens"], res) for name, res in fits.items() if name.startswith("synth") and name.endswith(f"/ {order}"))
        if len(series) < 2:
            continue
        (n0, r0), (n1, r1) = series[0], series[-1]
        for tool in r0["runs"]:
            t = math.log(r1["runs"][tool]["wall"] / r0["runs"][tool]["wall"]) / math.log(n1 / n0)
            m = math.log(r1["runs"][tool]["peak"] / r0["runs"][tool]["peak"]) / math.log(n1 / n0)
            out.append(f"| {order} | {tool} | {t:.2f} | {m:.2f} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kenlm-bin", type=Path, required=True)
    parser.add_argument("--sizes", default="10e6,50e6,100e6")
    parser.add_argument("--orders", default="3,5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/lmstats-bench"))
    parser.add_argument("--skip-wikitext", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "scale_benchmark.md")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now().isoformat(timespec="minutes")
    results: dict = {"fits": {}}
    if not args.skip_wikitext and (SHARED / "wikitext-2").is_dir():
        wt2 = section_wikitext(args)
        results["fits"]["WikiText-2 / 5"] = wt2
        results["score"] = wt2.pop("score")
    for size in (float(x) for x in args.sizes.split(",") if x):  # --sizes "": WikiText-2 only
        for order in (int(x) for x in args.orders.split(",")):
            results["fits"][f"synthetic {size / 1e6:g}M / {order}"] = section_synthetic(args, size, order)
            (args.data / "results.json").write_text(json.dumps(results, indent=1))
    with atomic_write(args.out) as fh:
        fh.write(render(results, args, started))
    (args.data / "results.json").write_text(json.dumps(results, indent=1))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
