"""Benchmark: n-gram fitting and scoring speed and peak memory, lmstats against KenLM and NLTK.

Everything is measured in one run of this script, so the ratios compare tools on the same
machine at the same time (machines are shared and noisy; the targets are ratios, never tests).

* WikiText-2 train, 5-gram modified Kneser-Ney: ``lmplz -o 5`` (default ``-S`` and ``-S 1G``)
  against lmstats end to end (text file -> load, vocab, encode, fit, hash index) and the model
  part alone (fit + index).  Every fit runs in a fresh process; peak memory is the process's
  maximum RSS (``os.wait4``), or for the model part the high-water mark after resetting it
  (``/proc/self/clear_refs``) once the data is encoded.
* Scoring the test sentences: lmstats ``logprobs_lines`` (3- and 5-gram) against KenLM's
  ``query`` (binary model) and the ``kenlm`` Python module, in tokens/s; test perplexities.
* NLTK ``nltk.lm`` trigram (KneserNeyInterpolated, Laplace): fit time and scoring speed on a
  prefix of the test set bounded by a time budget, against lmstats ``kn``/``laplace``.
* Synthetic corpora (``lmstats corpus synth``) of 5M to 50M tokens: time and peak memory of
  the 5-gram MKN fit and how both grow with the corpus (log-log slope).

    python benchmarks/bench_ngram.py [--kenlm-bin DIR] [--data-dir DIR] [--skip-nltk] [--skip-synth]
        [--synth-sizes 5e6,15e6,5e7] [--out reports/ngram_benchmark.md]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lmstats.fileio import atomic_write
from lmstats.report.provenance import cpu_model

from timing import GB, Run, best_time, run_measured

ROOT = Path(__file__).resolve().parents[1]
UNK_STANDIN = "UNKWORD"  # lmplz refuses a literal <unk> in its input; see prepare_kenlm_text


# -- measuring -----------------------------------------------------------------------------
def best_run(cmd: list[str], repeats: int, *, stdin: Path | None = None) -> Run:
    """The fastest of ``repeats`` runs; its peak is the largest peak seen."""
    runs = [run_measured(cmd, stdin=stdin) for _ in range(repeats)]
    best = min(runs, key=lambda r: r.wall_s)
    return Run(best.wall_s, max(r.peak_gb for r in runs), best.stdout, best.stderr)


def proc_status_gb(field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` of this process in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / GB
    return math.nan


def reset_peak() -> bool:
    """Reset this process's RSS high-water mark (Linux >= 4.0); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(spec: dict, repeats: int = 1) -> tuple[dict, Run]:
    """Run one measured task of this script in a fresh Python process; its result and the run."""
    results, runs = [], []
    for _ in range(repeats):
        run = run_measured([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)])
        line = next(line for line in reversed(run.stdout.splitlines()) if line.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT "):]))
        runs.append(run)
    i = min(range(repeats), key=lambda j: results[j]["seconds"])
    best = results[i] | {"peak_gb": max(r["peak_gb"] for r in results), "process_peak_gb": max(r.peak_gb for r in runs)}
    return best, runs[i]


# -- tasks run in a fresh process (``--child SPEC``) ----------------------------------------
class Laps:
    def __init__(self):
        self.times: dict[str, float] = {}
        self.start()

    def start(self) -> None:
        self.clock = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = now - self.clock
        self.clock = now


def task_lmstats(spec: dict) -> dict:
    """Fit (and optionally score) an lmstats n-gram model; ``part`` is ``e2e`` or ``model``."""
    from lmstats import CorpusSpec, load_corpus
    from lmstats.ngram import NgramLM

    laps = Laps()
    corpus = load_corpus(CorpusSpec(spec["source"]), data_dir=spec["data_dir"])
    laps.lap("load")
    vocab = corpus.build_vocab()
    laps.lap("vocab")
    splits = corpus.encode(vocab)
    laps.lap("encode")
    out: dict = {}
    if spec["part"] == "model":
        test_sentences = corpus.test if spec.get("score_repeats") else None
        del corpus
        gc.collect()
        out["data_peak_gb"] = proc_status_gb("VmHWM")
        out["peak_reset"] = reset_peak()
        out["base_gb"] = proc_status_gb("VmRSS")
        laps.start()
    model = NgramLM(vocab, spec["order"], spec["smoothing"]).fit(splits["train"])
    laps.lap("fit")
    out["fit_peak_gb"] = proc_status_gb("VmHWM")
    model.build_index()
    laps.lap("index")
    out |= {"times": laps.times, "peak_gb": proc_status_gb("VmHWM"), "n_train_tokens": model.n_train_tokens_,
            "ngrams": [len(t) for t in model.counts_.tables]}
    keys = ("load", "vocab", "encode", "fit", "index") if spec["part"] == "e2e" else ("fit", "index")
    out["seconds"] = sum(laps.times[k] for k in keys)
    if spec.get("score_repeats"):
        out["scoring"] = score_lmstats(model, vocab, splits["test"], test_sentences, spec)
    return out


def repeat_lines(lines, times: int):
    from lmstats.encoded import Lines

    return Lines.from_lengths(np.tile(lines.ids, times), np.tile(lines.lengths, times))


def score_lmstats(model, vocab, test, test_sentences, spec: dict) -> dict:
    """Best-of-R scoring speed on the test sentences and on the test set repeated; perplexity."""
    repeats = spec["score_repeats"]
    from lmstats.units import scored_units

    units = scored_units(test, "sentence")
    big = repeat_lines(units, spec["score_times"])
    small_s, lp = best_time(lambda: model.logprobs_lines(units), repeats)
    big_s, _ = best_time(lambda: model.logprobs_lines(big), repeats)
    flat = [t for s in test_sentences for t in s]
    encode_s, _ = best_time(lambda: vocab.encode(flat), repeats)
    prefix_ppl = {str(n): float(np.exp(-lp[:n].mean())) for n in spec.get("prefixes", []) if n > 0}
    return {"tokens": len(lp), "seconds": small_s, "big_tokens": len(big.ids), "big_seconds": big_s,
            "encode_seconds": encode_s, "ppl": float(np.exp(-lp.mean())), "prefix_ppl": prefix_ppl}


def task_nltk(spec: dict) -> dict:
    """Fit an NLTK trigram model on the training sentences; score test prefixes under a time budget."""
    from nltk.lm import KneserNeyInterpolated, Laplace
    from nltk.lm.preprocessing import padded_everygram_pipeline

    train, test = (nonempty_sentences(Path(spec[name])) for name in ("train", "test"))
    order = spec["order"]
    start = time.perf_counter()
    grams, words = padded_everygram_pipeline(order, [line.split() for line in train])
    kn = KneserNeyInterpolated(order)
    kn.fit(grams, words)
    fit_s = time.perf_counter() - start
    laplace = Laplace(order, vocabulary=kn.vocab, counter=kn.counts)  # the same counts; NLTK smooths at query time
    test_tokens = [line.split() for line in test]
    return {"seconds": fit_s, "peak_gb": proc_status_gb("VmHWM"), "nltk_version": __import__("nltk").__version__,
            "kn": score_nltk(kn, test_tokens, order, spec["budget_s"]),
            "laplace": score_nltk(laplace, test_tokens, order, spec["budget_s"])}


def score_nltk(model, sentences: list[list[str]], order: int, budget_s: float) -> dict:
    """Score test tokens in order (every word and one </s> per sentence) until the budget is spent."""
    n, log2_sum = 0, 0.0
    start = time.perf_counter()
    for words in sentences:
        padded = ["<s>"] * (order - 1) + words + ["</s>"]
        for i in range(order - 1, len(padded)):
            log2_sum += model.logscore(padded[i], padded[i - order + 1 : i])
            n += 1
            if time.perf_counter() - start > budget_s:
                return {"tokens": n, "seconds": time.perf_counter() - start, "ppl": 2 ** (-log2_sum / n)}
    return {"tokens": n, "seconds": time.perf_counter() - start, "ppl": 2 ** (-log2_sum / n)}


TASKS = {"lmstats": task_lmstats, "nltk": task_nltk}


def run_child(spec_json: str) -> int:
    spec = json.loads(spec_json)
    result = TASKS[spec["task"]](spec)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# -- KenLM ----------------------------------------------------------------------------------
def nonempty_sentences(path: Path) -> list[str]:
    """The stripped non-empty lines of ``path``: the sentences lmstats trains on in sentence mode."""
    return [s for s in (line.strip() for line in path.read_text(encoding="utf-8").splitlines()) if s]


def prepare_kenlm_text(src: Path, dst: Path, times: int = 1) -> int:
    """Write the sentences of ``src`` for lmplz/query (``<unk>`` renamed); return its token count (</s> included).

    lmplz aborts on a literal ``<unk>`` ("Special word <unk> is not allowed in the corpus"), so it
    is renamed to an ordinary word in training and test text alike; the n-gram counts stay the
    same as lmstats' (which reads ``<unk>`` as its unknown word).
    """
    sentences = [s.replace("<unk>", UNK_STANDIN) for s in nonempty_sentences(src)]
    dst.write_text(("\n".join(sentences) + "\n") * times, encoding="utf-8")
    return times * sum(len(s.split()) + 1 for s in sentences)


def bench_lmplz(kenlm_bin: Path, train: Path, work: Path, repeats: int) -> dict:
    out = {}
    for label, extra in (("default", []), ("-S 1G", ["-S", "1G"])):
        arpa = work / "wt2.5.arpa"
        cmd = [str(kenlm_bin / "lmplz"), "-o", "5", *extra, "--text", str(train), "--arpa", str(arpa)]
        run = best_run(cmd, repeats)
        out[label] = {"seconds": run.wall_s, "peak_gb": run.peak_gb,
                      "command": " ".join(["lmplz", "-o", "5", *extra, "--text", "F", "--arpa", "OUT"])}
        print(f"lmplz {label}: {run.wall_s:.2f} s, peak {run.peak_gb:.2f} GB", flush=True)
    binary = work / "wt2.5.binary"
    out["build_binary_s"] = run_measured([str(kenlm_bin / "build_binary"), str(arpa), str(binary)]).wall_s
    out["binary"] = binary
    out["arpa"] = arpa
    return out


def bench_query(kenlm_bin: Path, binary: Path, test: Path, work: Path, times: int, repeats: int) -> dict:
    """query's speed: (tokens of the repeated test set) / (its wall - the wall on one sentence)."""
    one, big = work / "one.txt", work / "test_big.txt"
    one.write_text(test.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    big_tokens = repeat_text(test, big, times)
    cmd = [str(kenlm_bin / "query"), "-v", "summary", str(binary)]
    load = best_run(cmd, repeats, stdin=one)
    small = best_run(cmd, repeats, stdin=test)
    large = best_run(cmd, repeats, stdin=big)
    tokens = int(re.search(r"Tokens:\s*(\d+)", small.stdout).group(1))
    assert int(re.search(r"Tokens:\s*(\d+)", large.stdout).group(1)) == big_tokens
    return {"tokens": tokens, "seconds": small.wall_s - load.wall_s, "big_tokens": big_tokens,
            "big_seconds": large.wall_s - load.wall_s, "load_s": load.wall_s, "big_wall_s": large.wall_s,
            "ppl": float(re.search(r"Perplexity including OOVs:\s*([\d.]+)", small.stdout).group(1))}


def repeat_text(src: Path, dst: Path, times: int) -> int:
    text = src.read_text(encoding="utf-8")
    dst.write_text(text * times, encoding="utf-8")
    return times * sum(len(line.split()) + 1 for line in text.splitlines())


def bench_kenlm_module(binary: Path, test: Path, repeats: int) -> dict | None:
    try:
        import kenlm
    except ImportError:
        return None
    model = kenlm.Model(str(binary))
    sentences = test.read_text(encoding="utf-8").splitlines()
    tokens = sum(len(s.split()) + 1 for s in sentences)
    seconds, log10_sum = best_time(lambda: sum(model.score(s, bos=True, eos=True) for s in sentences), repeats)
    return {"tokens": tokens, "seconds": seconds, "ppl": 10 ** (-log10_sum / tokens)}


# -- the sections -----------------------------------------------------------------------------
def lmstats_spec(source: str, data_dir: Path | None, order: int, smoothing: str, part: str, **extra) -> dict:
    return {"task": "lmstats", "source": source, "data_dir": str(data_dir) if data_dir else None,
            "order": order, "smoothing": smoothing, "part": part} | extra


def section_wikitext(args, corpus_dir: Path) -> dict:
    res: dict = {}
    scoring = {"score_repeats": args.repeats, "score_times": args.score_times}
    res["e2e"], run = child(lmstats_spec("wikitext-2", args.data_dir, 5, "mkn", "e2e"), args.fit_repeats)
    res["e2e_process_s"] = run.wall_s
    res["model"], _ = child(lmstats_spec("wikitext-2", args.data_dir, 5, "mkn", "model", **scoring), args.fit_repeats)
    for key in ("e2e", "model"):
        print(f"lmstats 5-gram mkn {key}: {res[key]['seconds']:.2f} s, peak {res[key]['peak_gb']:.2f} GB "
              f"({', '.join(f'{k} {v:.2f}' for k, v in res[key]['times'].items())})", flush=True)
    if args.kenlm_bin is None:
        res["kenlm_skipped"] = "no --kenlm-bin given and KENLM_BIN is not set"
    elif not all((args.kenlm_bin / tool).is_file() for tool in ("lmplz", "query", "build_binary")):
        res["kenlm_skipped"] = f"{args.kenlm_bin} lacks lmplz, query or build_binary"
    if "kenlm_skipped" in res:
        print(f"KenLM skipped: {res['kenlm_skipped']}", flush=True)
        return res
    work = args.work_dir
    train_k, test_k = work / "train.kenlm.txt", work / "test.kenlm.txt"
    res["lmplz_train_tokens"] = prepare_kenlm_text(corpus_dir / "train.txt", train_k)
    prepare_kenlm_text(corpus_dir / "test.txt", test_k)
    res["lmplz"] = bench_lmplz(args.kenlm_bin, train_k, work, args.fit_repeats)
    res["query"] = bench_query(args.kenlm_bin, res["lmplz"]["binary"], test_k, work, 2 * args.score_times, args.repeats)
    res["kenlm_module"] = bench_kenlm_module(res["lmplz"]["binary"], test_k, args.repeats)
    print(f"query: {res['query']['big_tokens'] / res['query']['big_seconds'] / 1e6:.2f} M tokens/s; "
          f"lmstats 5-gram: {res['model']['scoring']['big_tokens'] / res['model']['scoring']['big_seconds'] / 1e6:.2f} M tokens/s",
          flush=True)
    return res


def section_nltk(args, corpus_dir: Path) -> dict:
    spec = {"task": "nltk", "train": str(corpus_dir / "train.txt"), "test": str(corpus_dir / "test.txt"),
            "order": 3, "budget_s": args.nltk_budget}
    nltk_res, _ = child(spec)
    print(f"nltk trigram fit {nltk_res['seconds']:.1f} s; KN scoring {nltk_res['kn']['tokens']} tokens in "
          f"{nltk_res['kn']['seconds']:.1f} s", flush=True)
    prefixes = [nltk_res["kn"]["tokens"], nltk_res["laplace"]["tokens"]]
    scoring = {"score_repeats": args.repeats, "score_times": args.score_times, "prefixes": prefixes}
    ours = {}
    for smoothing in ("kn", "laplace"):
        ours[smoothing], _ = child(lmstats_spec("wikitext-2", args.data_dir, 3, smoothing, "model", **scoring), args.fit_repeats)
    return {"nltk": nltk_res, "lmstats": ours}


def synth_corpus(n_tokens: int, synth_dir: Path) -> Path:
    """The synthetic corpus of ``n_tokens`` (seed 0, defaults), generated once and reused."""
    path = synth_dir / f"synth_{n_tokens}.txt"
    info = Path(f"{path}.source.json")
    if not (path.is_file() and info.is_file() and json.loads(info.read_text())["config"]["seed"] == 0):
        synth_dir.mkdir(parents=True, exist_ok=True)
        lmstats_cli = [sys.executable, "-m", "lmstats"]
        run = run_measured([*lmstats_cli, "corpus", "synth", str(path), "--tokens", str(n_tokens), "--seed", "0"])
        print(f"generated {path} in {run.wall_s:.1f} s", flush=True)
    return path


def section_synth(args) -> dict:
    """The requested order at every size; where the next size is predicted to need more than
    --synth-max-gb, the series stops there and every size is run again as 3-grams."""
    sizes = sorted(args.synth_sizes)
    series = [{"order": args.synth_order, "rows": []}]
    for n in sizes:
        rows = series[0]["rows"]
        predicted, how = predict_peak(rows, n)
        if predicted > args.synth_max_gb:
            note = (f"the {args.synth_order}-gram run at {n:,} tokens was predicted ({how}) to peak at {predicted:.1f} GB,"
                    f" above --synth-max-gb {args.synth_max_gb:g}, so it was not launched")
            print(note, flush=True)
            if args.synth_order != 3:
                note += "; every size was run as 3-grams instead (second table)"
                series.append({"order": 3, "rows": [synth_row(args, m, 3) for m in sizes]})
            return {"series": series, "note": note}
        rows.append(synth_row(args, n, args.synth_order))
    return {"series": series, "note": ""}


def predict_peak(rows: list[dict], n: int) -> tuple[float, str]:
    """Peak GB of a run on ``n`` tokens, by the log-log slope of the last two runs (linear from one)."""
    if not rows:
        return 0.0, "nothing measured yet"
    last = rows[-1]
    if len(rows) == 1:
        k, how = 1.0, f"linearly from {last['tokens']:,} tokens"
    else:
        k = slope(rows[-2]["tokens"], last["tokens"], rows[-2]["e2e"]["process_peak_gb"], last["e2e"]["process_peak_gb"])
        how = f"growth exponent {k:.2f} between {rows[-2]['tokens']:,} and {last['tokens']:,} tokens"
    return last["e2e"]["process_peak_gb"] * (n / last["tokens"]) ** k, how


def synth_row(args, n: int, order: int) -> dict:
    path = synth_corpus(n, args.synth_dir)
    row = {"tokens": n, "order": order}
    for part in ("e2e", "model"):
        row[part], _ = child(lmstats_spec(str(path), None, order, "mkn", part))
        print(f"synth {n:,} tokens, {order}-gram mkn {part}: {row[part]['seconds']:.1f} s, "
              f"peak {row[part]['peak_gb']:.2f} GB ({', '.join(f'{k} {v:.1f}' for k, v in row[part]['times'].items())})", flush=True)
    return row


def slope(x0: float, x1: float, y0: float, y1: float) -> float:
    return math.log(y1 / y0) / math.log(x1 / x0)


# -- the report -------------------------------------------------------------------------------
def machine_lines() -> list[str]:
    import nltk
    import scipy

    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return [
        f"- CPU: {cpu_model()}; nproc {len(os.sched_getaffinity(0))}; RAM {mem * 1024 / GB:.1f} GB",
        f"- Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, nltk {nltk.__version__}",
        f"- {platform.platform()}",
    ]


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.1f} s"


def mtoks(tokens: int, seconds: float) -> str:
    return f"{tokens / seconds / 1e6:.2f}"


def render_wikitext(res: dict, args) -> list[str]:
    e2e, model = res["e2e"], res["model"]
    out = [
        "## WikiText-2 train: fitting a 5-gram modified Kneser-Ney model",
        "",
        f"Training text: the {e2e['n_train_tokens']:,} tokens (words + one `</s>` per non-empty line) of"
        " the stripped non-empty lines of `wikitext-2/train.txt`, the sentences lmstats trains on in sentence mode."
        f" Every figure is the best wall time of {args.fit_repeats} runs, each in a fresh process; peak is the largest"
        " peak RSS of those runs (GB = 10^9 bytes).",
        "",
    ]
    lmplz = res.get("lmplz")
    cols = ("| tool | what is timed | wall (s) | peak (GB) |"
            + (" wall ÷ lmplz default | wall ÷ lmplz -S 1G | peak ÷ lmplz -S 1G |" if lmplz else ""))
    out += [cols, "| --- | --- | ---: | ---: |" + (" ---: | ---: | ---: |" if lmplz else "")]

    def ratios(sec: float, peak: float) -> str:
        if not lmplz:
            return ""
        return (f" {sec / lmplz['default']['seconds']:.2f} | {sec / lmplz['-S 1G']['seconds']:.2f} |"
                f" {peak / lmplz['-S 1G']['peak_gb']:.2f} |")

    if lmplz:
        for label in ("default", "-S 1G"):
            r = lmplz[label]
            out.append(f"| KenLM `{r['command']}` | whole process: read text, count, smooth, write ARPA |"
                       f" {r['seconds']:.2f} | {r['peak_gb']:.2f} |" + ratios(r["seconds"], r["peak_gb"]))
    t = e2e["times"]
    out.append(f"| lmstats end to end | load_corpus {t['load']:.2f} + build_vocab {t['vocab']:.2f} + encode {t['encode']:.2f}"
               f" + fit {t['fit']:.2f} + index {t['index']:.2f}"
               f" | **{e2e['seconds']:.2f}** | {e2e['process_peak_gb']:.2f} |" + ratios(e2e["seconds"], e2e["process_peak_gb"]))
    t = model["times"]
    out.append(f"| lmstats model only | fit {t['fit']:.2f} + index {t['index']:.2f}"
               f" (`NgramLM(vocab, 5, \"mkn\").fit(train)`; `build_index()`) | **{model['seconds']:.2f}** | {model['peak_gb']:.2f} |"
               + ratios(model["seconds"], model["peak_gb"]))
    out += [
        "",
        "Peak of the lmstats end-to-end row: the whole Python process (interpreter, tokenized text as Python lists,"
        f" encoded splits, counts, model). Model-only row: the high-water mark while fitting and indexing, reset after"
        f" the data was encoded and the token lists dropped (resident then: {model['base_gb']:.2f} GB of interpreter,"
        f" numpy and encoded splits; loading the text peaked at {model['data_peak_gb']:.2f} GB). The hash index that"
        " scoring needs is built inside the timing (it is otherwise built lazily at the first scoring call)."
        f" lmstats' process wall time (interpreter start and imports included) was {res['e2e_process_s']:.2f} s.",
        "",
        f"n-grams per order (lmstats): {', '.join(f'{n:,}' for n in e2e['ngrams'])}.",
    ]
    if lmplz:
        out += [
            f"KenLM: the same stripped non-empty lines, with `<unk>` renamed to `{UNK_STANDIN}` because lmplz aborts on a"
            " literal `<unk>` (\"Special word <unk> is not allowed in the corpus\"; `--skip_symbols` would delete those"
            " tokens instead). lmplz's default `-S` reserves 80% of physical RAM for sorting, which is what its peak"
            f" shows; `-S 1G` is the fair memory comparison. `build_binary` (probing) on the ARPA took {lmplz['build_binary_s']:.2f} s"
            " and is not counted in the fit.",
        ]
    else:
        out.append(f"KenLM was skipped: {res['kenlm_skipped']}.")
    return out + [""]


def render_scoring(res: dict, nl: dict | None, args) -> list[str]:
    sc5 = res["model"]["scoring"]
    base = sc5["big_tokens"] / sc5["big_seconds"]
    out = [
        "## Scoring the WikiText-2 test sentences",
        "",
        f"Test set: {sc5['tokens']:,} tokens (words + `</s>`), {args.score_times}× repeated: {sc5['big_tokens']:,} tokens."
        f" lmstats: `model.logprobs_lines(units)` on encoded ids, best of {args.repeats} in one process."
        f" KenLM `query -v summary` on the probing binary: best wall of {args.repeats} on the test set repeated"
        f" {2 * args.score_times}×, minus the best wall on one sentence (process start and model load), so it includes reading"
        f" and hashing the words; the `kenlm` module: `Model.score(sentence, bos=True, eos=True)` per sentence, best of {args.repeats}.",
        "",
        "| scorer | test (M tokens/s) | repeated test (M tokens/s) | lmstats 5-gram ÷ this | test perplexity |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    rows = [("lmstats 5-gram mkn", sc5)]
    if nl:
        rows += [(f"lmstats 3-gram {s}", nl["lmstats"][s]["scoring"]) for s in ("kn", "laplace")]
    for name, sc in rows:
        out.append(f"| {name} | {mtoks(sc['tokens'], sc['seconds'])} | {mtoks(sc['big_tokens'], sc['big_seconds'])} | "
                   f"{base / (sc['big_tokens'] / sc['big_seconds']):.2f} | {sc['ppl']:.4f} |")
    enc = sc5["tokens"] / (sc5["encode_seconds"] + sc5["seconds"])
    out.append(f"| lmstats 5-gram mkn incl. `vocab.encode` of the words | {enc / 1e6:.2f} | | | |")
    q = res.get("query")
    if q:
        qbig = q["big_tokens"] / q["big_seconds"]
        out.append(f"| KenLM `query` (5-gram, binary) | {mtoks(q['tokens'], q['seconds'])} |"
                   f" {qbig / 1e6:.2f} ({q['big_tokens']:,} tokens) | **{base / qbig:.2f}** | {q['ppl']:.4f} |")
        out.append(f"| KenLM `query`, load included | | {mtoks(q['big_tokens'], q['big_wall_s'])} |"
                   f" {base / (q['big_tokens'] / q['big_wall_s']):.2f} | |")
    km = res.get("kenlm_module")
    if km:
        out.append(f"| `kenlm` Python module (5-gram, binary) | {mtoks(km['tokens'], km['seconds'])} | |"
                   f" {base / (km['tokens'] / km['seconds']):.2f} | {km['ppl']:.4f} |")
    out += ["", "Perplexities are in sentence mode (each non-empty line from `<s>`, `</s>` predicted), natural units;"
            " equal lmstats and KenLM perplexities show that both built the same model.", ""]
    return out


def render_nltk(nl: dict, args) -> list[str]:
    n = nl["nltk"]
    out = [
        f"## NLTK `nltk.lm` (nltk {n['nltk_version']}), trigrams",
        "",
        "Fit: `padded_everygram_pipeline(3, sentences)` then `KneserNeyInterpolated(3).fit(...)` on the tokenized"
        " training sentences (NLTK only counts at fit time; `Laplace` reuses the same counts and vocabulary)."
        " lmstats is timed on the same work from the same token lists: build_vocab + encode + fit + index.",
        "",
        "| smoother | NLTK fit (s) | lmstats fit (s) | fit speed-up | NLTK scoring (tokens/s) | lmstats scoring (tokens/s) |"
        " scoring speed-up | NLTK time for the whole test set | perplexity on the prefix (NLTK / lmstats) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in ("kn", "laplace"):
        ours = nl["lmstats"][s]
        t = ours["times"]
        ours_fit = t["vocab"] + t["encode"] + t["fit"] + t["index"]
        theirs = n[s]
        theirs_rate = theirs["tokens"] / theirs["seconds"]
        ours_rate = ours["scoring"]["big_tokens"] / ours["scoring"]["big_seconds"]
        full = duration(ours["scoring"]["tokens"] / theirs_rate)
        if theirs["tokens"] < ours["scoring"]["tokens"]:
            full += f" (extrapolated from {theirs['tokens']:,} tokens)"
        ppl = ours["scoring"]["prefix_ppl"].get(str(theirs["tokens"]), math.nan)
        out.append(f"| {s} | {n['seconds']:.1f} | {ours_fit:.2f} | **{n['seconds'] / ours_fit:.0f}×** | {theirs_rate:,.1f} |"
                   f" {ours_rate:,.0f} | **{ours_rate / theirs_rate:,.0f}×** | {full} | {theirs['ppl']:.2f} / {ppl:.2f} |")
    out += [
        "",
        f"NLTK scoring: `model.logscore(word, context)` token by token from the start of the test set until the test set"
        f" ends or a {args.nltk_budget:g} s budget runs out ({n['kn']['tokens']:,} tokens for KN, {n['laplace']['tokens']:,}"
        " for Laplace). Where only a prefix was scored, the whole-test-set time is extrapolated from its rate. NLTK's"
        " Kneser-Ney recomputes continuation counts by scanning the counter at every call, hence its rate."
        f" Peak RSS of the NLTK process: {n['process_peak_gb']:.2f} GB. The KN perplexities differ"
        " because NLTK's KN variant differs from lmstats' (KenLM's) interpolated KN (one discount 0.1 for every order,"
        " two `<s>` pads); NLTK's `Laplace` vocabulary also holds `<s>` and its own `<UNK>`, hence the small gap.",
        "",
    ]
    return out


def render_synth(syn: dict) -> list[str]:
    out = [
        "## Synthetic corpora: growth of time and memory with corpus size",
        "",
        "Corpora from `lmstats corpus synth OUT --tokens N --seed 0` (vocabulary 5000, an order-2 Markov source),"
        " loaded as files (seeded 80/10/10 split by lines; the model is fitted on the train split) and fitted with"
        " modified Kneser-Ney. One run each in a fresh process; end-to-end peak is the process's, model-only peak is the"
        " high-water mark while fitting and indexing (and, in brackets, after fitting before the index was built).",
        "",
    ]
    if syn["note"]:
        out += [f"Note: {syn['note']}.", ""]
    for series in syn["series"]:
        out += render_series(series)
    return out


def render_series(series: dict) -> list[str]:
    rows = series["rows"]
    out = [
        f"### {series['order']}-grams",
        "",
        "| corpus tokens | train tokens | n-grams (all orders) | end to end (s) | load / vocab / encode / fit / index (s) | peak (GB) |"
        " model only (s) | model peak (GB) |",
        "| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        e, m = r["e2e"], r["model"]
        phases = " / ".join(f"{e['times'][k]:.1f}" for k in ("load", "vocab", "encode", "fit", "index"))
        out.append(f"| {r['tokens']:,} | {e['n_train_tokens']:,} | {sum(e['ngrams']):,} | {e['seconds']:.1f} | {phases} |"
                   f" {e['process_peak_gb']:.2f} | {m['seconds']:.1f} | {m['peak_gb']:.2f} ({m['fit_peak_gb']:.2f}) |")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        x0, x1 = a["e2e"]["n_train_tokens"], b["e2e"]["n_train_tokens"]
        grow = lambda part, key: slope(x0, x1, a[part][key], b[part][key])  # noqa: E731
        out += [
            "",
            f"Growth from {a['tokens']:,} to {b['tokens']:,} tokens (log-log slope; 1 = linear):"
            f" end-to-end time **{grow('e2e', 'seconds'):.2f}**, end-to-end peak **{grow('e2e', 'process_peak_gb'):.2f}**,"
            f" model-only time {grow('model', 'seconds'):.2f}, model-only peak {grow('model', 'peak_gb'):.2f};"
            f" n-grams stored {slope(x0, x1, sum(a['e2e']['ngrams']), sum(b['e2e']['ngrams'])):.2f}."
            f" Over that range the time grew {b['e2e']['seconds'] / a['e2e']['seconds']:.1f}× and the peak"
            f" {b['e2e']['process_peak_gb'] / a['e2e']['process_peak_gb']:.1f}× for {x1 / x0:.1f}× the tokens.",
        ]
    return out + [""]


def write_report(path: Path, command: str, wiki: dict | None, nl: dict | None, syn: dict | None, args, started: str) -> str:
    out = [
        "# N-gram speed and memory: lmstats vs KenLM (lmplz, query) and NLTK",
        "",
        f"Generated by `{command}` (from the repository root), started {started}.",
        "",
        "Targets (issue): fitting the 5-gram MKN model on WikiText-2 train no slower than lmplz; scoring ≥ 3 M tokens/s"
        " (KenLM's query: 2.6–4.2 M tokens/s on this machine class). Machines are shared and noisy, so the figures that"
        " count are the ratios between tools measured in the same run.",
        "",
        "## Machine",
        "",
        *machine_lines(),
        "",
    ]
    if wiki:
        out += render_wikitext(wiki, args) + render_scoring(wiki, nl, args)
    if nl:
        out += render_nltk(nl, args)
    if syn:
        out += render_synth(syn)
    text = "\n".join(out)
    with atomic_write(path) as fh:
        fh.write(text)
    return text


# -- command line -------------------------------------------------------------------------------
def parse_args(argv):
    env_bin, env_data = os.environ.get("KENLM_BIN"), os.environ.get("LMSTATS_DATA")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kenlm-bin", type=Path, default=Path(env_bin) if env_bin else None,
                   help="folder with lmplz, query, build_binary (default: $KENLM_BIN)")
    p.add_argument("--data-dir", type=Path, default=Path(env_data) if env_data else ROOT.parent / "shared" / "corpora",
                   help="corpora folder holding wikitext-2/ (default: $LMSTATS_DATA or ../shared/corpora)")
    p.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "lmstats_bench_ngram",
                   help="scratch folder for KenLM files")
    p.add_argument("--repeats", type=int, default=5, help="scoring repeats (best is reported)")
    p.add_argument("--fit-repeats", type=int, default=3, help="fresh-process fit runs on WikiText-2 (best is reported)")
    p.add_argument("--score-times", type=int, default=10,
                   help="the larger scoring input is the test set repeated this many times (query gets twice that)")
    p.add_argument("--skip-nltk", action="store_true")
    p.add_argument("--nltk-budget", type=float, default=60.0, help="seconds of NLTK scoring per smoother")
    p.add_argument("--skip-synth", action="store_true")
    p.add_argument("--synth-sizes", type=lambda s: [int(float(x)) for x in s.split(",")], default=[5_000_000, 15_000_000, 50_000_000])
    p.add_argument("--synth-order", type=int, default=5)
    p.add_argument("--synth-max-gb", type=float, default=10.0,
                   help="fall back to 3-grams if the largest run is predicted to peak above this")
    p.add_argument("--synth-dir", type=Path, default=Path(tempfile.gettempdir()) / "lmstats_synth",
                   help="where synthetic corpora are written (reused)")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "ngram_benchmark.md")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args.child)
    corpus_dir = args.data_dir / "wikitext-2"
    if not (corpus_dir / "train.txt").is_file():
        print(f"skipped: {corpus_dir}/train.txt is absent (give --data-dir or set LMSTATS_DATA)")
        return 0
    started = datetime.datetime.now().isoformat(timespec="minutes")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    wiki = section_wikitext(args, corpus_dir)
    nl = None
    if not args.skip_nltk:
        nl = section_nltk(args, corpus_dir)
    syn = None if args.skip_synth else section_synth(args)
    given = argv if argv is not None else sys.argv[1:]
    env = [f"{name}={os.environ[name]}" for name, flag in (("KENLM_BIN", "--kenlm-bin"), ("LMSTATS_DATA", "--data-dir"))
           if os.environ.get(name) and flag not in given]
    command = " ".join([*env, "python benchmarks/bench_ngram.py", *given])
    print(write_report(args.out, command, wiki, nl, syn, args, started))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
