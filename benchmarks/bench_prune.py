"""Check: ``lmstats ngram --prune`` writes the ARPA file that ``lmplz --prune`` writes, on WikiText-2 and PTB.

For each corpus, order (3, 5) and threshold setting, both tools train on the same text: the corpus's
files with ``<unk>`` renamed to an ordinary word (lmplz refuses a literal ``<unk>``), lmstats reading
them as the named corpus (``--data-dir``) and lmplz the stripped non-empty train lines, as lmstats
trains on them in sentence mode.  The two ARPA files are then compared n-gram by n-gram (both read
with :func:`lmstats.ngram.arpa_reader.read_arpa` under one vocabulary): the same n-grams per order,
and the largest difference of a log10 probability and of a log10 backoff; and the test perplexity
of KenLM's ``query`` on lmplz's file against lmstats' own evaluation.  Not a timing benchmark.

lmplz's discounts come from counts-of-counts in which one n-gram per order below the top counts with
its raw count (``AdjustCounts::Run``, ``adjust_counts.cc``); lmstats' MKN reproduces that
(:mod:`lmstats.ngram.lmplz`), so the files agree to float precision.  ``--prune 0`` (nothing pruned)
is in the table too: the unpruned models are held to the same bar.

    python benchmarks/bench_prune.py [--kenlm-bin DIR] [--corpora DIR] [--work DIR] [--out reports/prune_reference.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_ngram import UNK_STANDIN, nonempty_sentences

from lmstats.fileio import atomic_write
from lmstats.ngram.arpa_reader import read_arpa

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {3: [(0,), (0, 1, 1), (0, 0, 1)], 5: [(0,), (0, 1, 1, 1), (0, 0, 1, 2)]}  # lmplz's --prune values (the last repeats upwards)
TOLERANCE = 1e-5  # log10 units, the bar


def renamed_corpus(src: Path, dst: Path) -> Path:
    """A copy of the corpus folder ``src`` with ``<unk>`` renamed in every file, lines kept as they are."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.suffix == ".txt":
            (dst / f.name).write_text(f.read_text(encoding="utf-8").replace("<unk>", UNK_STANDIN), encoding="utf-8")
    return dst


def split_file(folder: Path, split: str) -> Path:
    return next(f for f in sorted(folder.iterdir()) if split in f.name)


def lmplz(kenlm_bin: Path, order: int, prune: tuple, train: Path, arpa: Path, work: Path) -> None:
    cmd = [str(kenlm_bin / "lmplz"), "-o", str(order), "--prune", *map(str, prune), "-S", "1G", "-T", str(work),
           "--text", str(train), "--arpa", str(arpa)]
    subprocess.run(cmd, check=True, capture_output=True)


def query_ppl(kenlm_bin: Path, arpa: Path, test: Path) -> float:
    with open(test, "rb") as fin:
        out = subprocess.run([str(kenlm_bin / "query"), "-v", "summary", str(arpa)], stdin=fin, check=True, capture_output=True).stdout
    return float(re.search(rb"Perplexity including OOVs:\s*([\d.]+)", out).group(1))


def lmstats_fit(corpus: str, data_dir: Path, order: int, prune: tuple, arpa: Path, model: Path) -> dict:
    cmd = [sys.executable, "-m", "lmstats", "ngram", corpus, "--data-dir", str(data_dir), "--n", str(order),
           "--prune", ",".join(map(str, prune)), "--arpa", str(arpa), "--out", str(model), "--eval", "test", "--json"]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout)


def compare_arpa(ours: Path, theirs: Path) -> dict:
    """Per order: the n-grams only one file has, and the largest |Δ log10 p| and |Δ log10 backoff| of the shared ones."""
    a = read_arpa(ours)
    b = read_arpa(theirs, vocab=a.vocab)
    out = {"orders": []}
    for k in range(1, a.order + 1):
        ta, tb = a.counts_.table(k), b.counts_.table(k)
        row = {"order": k, "ngrams": len(ta), "only_lmstats": int(len(np.setdiff1d(ta.keys, tb.keys))),
               "only_lmplz": int(len(np.setdiff1d(tb.keys, ta.keys)))}
        if row["only_lmstats"] or row["only_lmplz"]:  # rows above this order are numbered differently: stop here
            out["orders"].append(row)
            break
        pa, pb = np.asarray(a.estimate_.probs[k - 1]), np.asarray(b.estimate_.probs[k - 1])
        keep = np.ones(len(pa), dtype=bool)
        if k == 1:
            keep[a.vocab.bos_id] = False  # <s>: never predicted (lmplz writes 0, lmstats -99)
        with np.errstate(divide="ignore"):
            row["max_dlog10_prob"] = float(np.abs(np.log10(pa[keep]) - np.log10(pb[keep])).max())
            if k < a.order:
                ba, bb = a.estimate_.backoffs[k - 1], b.estimate_.backoffs[k - 1]
                row["max_dlog10_backoff"] = float(np.abs(np.log10(ba) - np.log10(bb)).max())
        out["orders"].append(row)
    out["same_ngrams"] = all(r["only_lmstats"] == r["only_lmplz"] == 0 for r in out["orders"]) and len(out["orders"]) == a.order
    out["max_dlog10"] = max((max(r.get("max_dlog10_prob", 0.0), r.get("max_dlog10_backoff", 0.0)) for r in out["orders"]), default=0.0)
    return out


def check_corpus(args, name: str) -> list[dict]:
    data = args.work / "data"
    folder = renamed_corpus(args.corpora / name, data / name)
    train, test = args.work / f"{name}.train.txt", args.work / f"{name}.test.txt"
    for split, dst in (("train", train), ("test", test)):
        dst.write_text("\n".join(nonempty_sentences(split_file(folder, split))) + "\n", encoding="utf-8")
    rows = []
    for order, settings in SETTINGS.items():
        for prune in settings:
            label = f"{name}-{order}-{'-'.join(map(str, prune))}"
            theirs, ours = args.work / f"{label}.lmplz.arpa", args.work / f"{label}.lmstats.arpa"
            lmplz(args.kenlm_bin, order, prune, train, theirs, args.work)
            info = lmstats_fit(name, data, order, prune, ours, args.work / f"{label}.model")
            row = {"corpus": name, "order": order, "prune": prune, **compare_arpa(ours, theirs),
                   "ppl_lmplz": query_ppl(args.kenlm_bin, theirs, test), "ppl_lmstats": info["results"]["test"]["sentence"]["ppl"],
                   "ngrams_per_order": info["model"]["ngrams_per_order"]}
            rows.append(row)
            print(f"{label}: same n-grams {row['same_ngrams']}, max |Δlog10| {row['max_dlog10']:.2e} "
                                    f"test ppl lmplz {row['ppl_lmplz']:.4f} lmstats {row['ppl_lmstats']:.4f}", flush=True)
            for f in (theirs, ours):
                f.unlink()
    return rows


def render(rows: list[dict], command: str) -> str:
    lines = ["# Count pruning: lmstats against lmplz --prune", "",
             f"Generated by `{command}` ({datetime.datetime.now().isoformat(timespec='minutes')}); see the script's docstring for "
             "how the texts are prepared.", "",
             "| corpus | order | --prune | n-grams per order (lmstats) | same n-grams | max \\|Δ log10 p\\| | max \\|Δ log10 backoff\\| "
             "| test ppl lmplz (query) | test ppl lmstats | relative difference |",
             "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        dp = max(o.get("max_dlog10_prob", 0.0) for o in r["orders"])
        db = max(o.get("max_dlog10_backoff", 0.0) for o in r["orders"])
        lines.append(f"| {r['corpus']} | {r['order']} | {' '.join(map(str, r['prune']))} | {r['ngrams_per_order']} | "
                     f"{'yes' if r['same_ngrams'] else 'NO'} | {dp:.1e} | {db:.1e} | "
                     f"{r['ppl_lmplz']:.4f} | {r['ppl_lmstats']:.4f} | "
                     f"{abs(r['ppl_lmstats'] / r['ppl_lmplz'] - 1):.1e} |")
    ok = all(r["same_ngrams"] and r["max_dlog10"] <= TOLERANCE for r in rows)
    lines += ["", f"Every setting: the same n-grams, and every log10 probability and backoff within {TOLERANCE:g}: "
              f"{'yes' if ok else 'NO'}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kenlm-bin", type=Path, default=Path(os.environ.get("KENLM_BIN", "/work/peers/kenlm-0.3.0/build/bin")))
    parser.add_argument("--corpora", type=Path, default=Path(os.environ.get("LMSTATS_DATA", "/work/shared/corpora")))
    parser.add_argument("--work", type=Path, default=None, help="folder for the texts and models (default: a temporary one)")
    parser.add_argument("--corpus", action="append", default=None, help="wikitext-2 and ptb by default")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (markdown)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-prune-") as tmp:
        args.work = args.work or Path(tmp)
        args.work.mkdir(parents=True, exist_ok=True)
        rows = [row for name in (args.corpus or ["wikitext-2", "ptb"]) for row in check_corpus(args, name)]
    text = render(rows, "python benchmarks/bench_prune.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])))
    print(text)
    if args.out:
        with atomic_write(args.out) as fh:
            fh.write(text)
    return 0 if all(r["same_ngrams"] and r["max_dlog10"] <= TOLERANCE for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
