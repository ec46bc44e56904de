"""``lmstats rnn``: train an RNN language model, evaluate a checkpoint, generate text."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
import torch
from tqdm import tqdm

from lmstats.cli import _echo_json, corpus_options, read_corpus
from lmstats.errors import LmstatsError
from lmstats.evaluate import evaluate
from lmstats.lines import EVAL_MODES
from lmstats.rnn.checkpoint import check_compatible, load_checkpoint, load_net
from lmstats.rnn.config import BATCHINGS, CELLS, LR_SCHEDULES, OPTIMIZERS, SOFTMAXES, RNNConfig
from lmstats.rnn.generate import generate, render, tokenize_prefix
from lmstats.rnn.lm import RNNLM
from lmstats.rnn.model import DEVICES, build_net, count_parameters, resolve_device
from lmstats.rnn.train import train_rnn

DEFAULT_LR = {"adam": 2e-3, "sgd": 20.0}
CORPUS_KEYS = ("corpus", "level", "lower", "letters_only", "text_format", "split_text", "seed", "data_dir", "min_count", "max_vocab")


def parse_cutoffs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise LmstatsError(f"--cutoffs takes increasing ids separated by commas, like 2000,10000; got {text!r}") from None


def setup_device(device: str, threads: int | None) -> torch.device:
    """The device (clear error for cuda without a GPU) and the CPU thread count."""
    if threads is not None:
        torch.set_num_threads(threads)
    return resolve_device(device)


def load_splits(corpus_args: dict):
    """The corpus read with the shared options, its train vocabulary and its encoded splits."""
    loaded = read_corpus(*(corpus_args[k] for k in CORPUS_KEYS[:8]))
    vocab = loaded.build_vocab(min_count=corpus_args["min_count"], max_size=corpus_args["max_vocab"])
    return loaded, vocab, loaded.encode(vocab)


def score_splits(lm: RNNLM, splits: dict, modes: tuple[str, ...], names=("valid", "test")) -> dict:
    """{split: {mode: EvalResult dict + scoring tokens/s}} through the shared evaluator."""
    out = {}
    for name in names:
        out[name] = {}
        for mode in modes:
            started = time.perf_counter()
            result = evaluate(lm, splits[name], mode=mode)
            seconds = time.perf_counter() - started
            out[name][mode] = result.to_dict() | {"seconds": seconds, "tokens_per_s": result.n_tokens / seconds}
    return out


def echo_results(results: dict) -> None:
    click.echo(f"{'split':<6} {'mode':<9} {'tokens':>10} {'OOV':>8} {'ppl':>10} {'ppl no OOV':>11} {'bits/token':>10} {'score tok/s':>12}")
    for name, by_mode in results.items():
        for mode, r in by_mode.items():
            click.echo(f"{name:<6} {mode:<9} {r['n_tokens']:>10,} {r['n_oov']:>8,} {r['ppl']:>10.3f} {r['ppl_no_oov']:>11.3f} "
                       f"{r['bits_per_token']:>10.4f} {r['tokens_per_s']:>12,.0f}")


def run_options(f):
    for option in reversed([
        click.option("--mode", type=click.Choice(EVAL_MODES + ("both",)), default="both", show_default=True, help="Evaluation mode(s) of the final scores."),
        click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch (default: torch's own choice)."),
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True, help="cuda when available (auto), or force one."),
    ]):
        f = option(f)
    return f


@click.group("rnn")
def rnn_command() -> None:
    """RNN language models (from-scratch RNN, RNN/GRU/LSTM; full or adaptive softmax)."""


@rnn_command.command("train")
@corpus_options
@click.option("--cell", type=click.Choice(CELLS), default="lstm", show_default=True, help="torch's LSTM/GRU/RNN, or the from-scratch one-hot tanh RNN.")
@click.option("--embed-size", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--layers", "num_layers", type=click.IntRange(min=1), default=None, help="Recurrent layers (default 2; 1 for scratch).")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True)
@click.option("--tie/--no-tie", default=False, show_default=True, help="Output word vectors = input embedding (full softmax; with --softmax adaptive the tails are tied at full dimension and --div-value is unused).")
@click.option("--softmax", type=click.Choice(SOFTMAXES), default="full", show_default=True, help="adaptive: nn.AdaptiveLogSoftmaxWithLoss, for large vocabularies.")
@click.option("--cutoffs", "cutoffs_text", default="2000,10000", show_default=True, help="Adaptive softmax cluster boundaries (ids sorted by frequency).")
@click.option("--div-value", type=click.FloatRange(min=1, min_open=True), default=4.0, show_default=True, help="Adaptive softmax: cluster i projects to hidden/div^i dimensions.")
@click.option("--seq-len", type=click.IntRange(min=1), default=35, show_default=True, help="Truncated BPTT length.")
@click.option("--batch-size", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batching", type=click.Choice(BATCHINGS), default="sequential", show_default=True, help="sequential (state carried) or random (state reset).")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate (default 2e-3 adam, 20 sgd).")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="plateau", show_default=True,
              help="plateau: multiply lr by --lr-decay when validation does not improve; linear: lr falls linearly to 0 over the budget (epochs or --time-budget).")
@click.option("--lr-decay", type=click.FloatRange(0, 1, min_open=True), default=0.25, show_default=True, help="lr factor when validation perplexity does not improve (plateau schedule).")
@click.option("--clip", type=click.FloatRange(min=0), default=0.25, show_default=True, help="Max global gradient norm (0: off).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Epochs in all (resumed ones included).")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop after SECONDS of wall clock (validation included).")
@click.option("--valid-mode", type=click.Choice(EVAL_MODES), default="sentence", show_default=True, help="Mode of the per-epoch validation perplexity.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None, help="Checkpoint written every epoch and on Ctrl-C. Default: lmstats-out/rnn-CORPUS-CELL.pt")
@click.option("--resume", is_flag=True, help="Continue from --checkpoint.")
@run_options
@click.option("--verbose", "-v", is_flag=True, help="A line per epoch on stderr even with --json.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rnn_train(corpus, level, lower, letters_only, text_format, split_text, seed, data_dir, min_count, max_vocab,
              cell, embed_size, hidden_size, num_layers, dropout, tie, softmax, cutoffs_text, div_value, seq_len, batch_size, batching,
              optimizer, lr, lr_schedule, lr_decay, clip, epochs, time_budget, valid_mode, checkpoint, resume, mode, threads, device, verbose, as_json):
    """Train an RNN language model on the stream of CORPUS's train split.

    Prints validation/test perplexity from the shared evaluator and tokens/s.  --seed seeds
    the corpus split, the initial weights, the batching and dropout.
    """
    device = setup_device(device, threads)
    corpus_args = dict(zip(CORPUS_KEYS, (corpus, level, lower, letters_only, text_format, split_text, seed, data_dir, min_count, max_vocab)))
    config = RNNConfig(
        cell=cell, embed_size=embed_size, hidden_size=hidden_size, num_layers=num_layers or (1 if cell == "scratch" else 2),
        dropout=dropout, tie=tie, softmax=softmax, cutoffs=parse_cutoffs(cutoffs_text), div_value=div_value, seq_len=seq_len, batch_size=batch_size,
        batching=batching, optimizer=optimizer, lr=lr or DEFAULT_LR[optimizer], lr_schedule=lr_schedule, lr_decay=lr_decay, clip=clip, epochs=epochs,
        time_budget=time_budget, valid_mode=valid_mode, seed=seed,
    )
    loaded, vocab, splits = load_splits(corpus_args)
    path = Path(checkpoint) if checkpoint else Path("lmstats-out") / f"rnn-{loaded.name}-{cell}.pt"
    ckpt = None
    if resume:
        ckpt = load_checkpoint(path)
        check_compatible(ckpt, vocab, config, source=str(path))
        net = load_net(ckpt, device)[0]
    else:
        net = build_net(vocab, config)
    meta = corpus_args | {"corpus_name": loaded.name, "level": loaded.options.level}
    bar = tqdm(desc="training", unit="tok", unit_scale=True, file=sys.stderr, disable=None, leave=False)

    def on_batch(p):
        bar.update(p.n_tokens)
        bar.set_postfix(epoch=p.epoch, step=f"{p.step}/{p.n_steps}", ppl=f"{np.exp(p.nll_sum / p.n_tokens):.1f}", refresh=False)

    def on_epoch(r):
        if as_json and not verbose:
            return
        bar.write(f"epoch {r.epoch}: train ppl {r.train_ppl:.2f}, valid ppl {r.valid_ppl:.2f} ({valid_mode}), "
                  f"{r.tokens_per_s:,.0f} tok/s, {r.elapsed:.0f} s", file=sys.stderr)

    try:
        history = train_rnn(net, splits["train"], splits["valid"], config, device=device, checkpoint=str(path),
                            resume=ckpt, meta=meta, on_batch=on_batch, on_epoch=on_epoch)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"lmstats: interrupted; checkpoint saved to {path} — run the same command with --resume to continue", err=True)
        sys.exit(130)
    bar.close()
    modes = EVAL_MODES if mode == "both" else (mode,)
    results = score_splits(RNNLM(net, vocab, device=device), splits, modes)
    epochs_done = history.epochs
    train_tps = sum(e.train_tokens for e in epochs_done) / max(sum(e.train_seconds for e in epochs_done), 1e-9)
    info = {
        "corpus": loaded.name, "vocab_size": len(vocab), "config": config.to_dict(), "parameters": count_parameters(net),
        "device": str(device), "threads": torch.get_num_threads(), "history": history.to_dict(),
        "train_tokens_per_s": train_tps, "results": results, "checkpoint": str(path),
    }
    if as_json:
        _echo_json(info)
        return
    click.echo(f"corpus {loaded.name}, vocabulary {len(vocab):,} types, device {device}, {torch.get_num_threads()} threads")
    layers = f"{config.num_layers}×{config.hidden_size}"
    click.echo(f"model: {cell} {layers}, {config.softmax} softmax, {info['parameters']:,} parameters; "
               f"{len(epochs_done)} epochs ({history.stopped}), {history.elapsed:.0f} s, training {train_tps:,.0f} tok/s")
    echo_results(results)
    click.echo(f"wrote checkpoint: {path}")


def checkpoint_splits(ckpt: dict, corpus_args: dict):
    """The corpus the checkpoint was trained on (its stored options) unless CORPUS is given."""
    if corpus_args["corpus"] is None and ckpt["meta"].get("corpus_name") is not None:
        corpus_args = {k: ckpt["meta"].get(k) for k in CORPUS_KEYS}
    return load_splits(corpus_args)


@rnn_command.command("eval")
@corpus_options
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A checkpoint of 'lmstats rnn train'.")
@run_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rnn_eval(corpus, level, lower, letters_only, text_format, split_text, seed, data_dir, min_count, max_vocab,
             checkpoint, mode, threads, device, as_json):
    """Perplexity of a checkpoint on CORPUS (default: the corpus it was trained on)."""
    device = setup_device(device, threads)
    ckpt = load_checkpoint(checkpoint)
    loaded, vocab, splits = checkpoint_splits(ckpt, dict(zip(CORPUS_KEYS, (corpus, level, lower, letters_only, text_format, split_text, seed, data_dir, min_count, max_vocab))))
    check_compatible(ckpt, vocab, source=checkpoint)
    net, _, config = load_net(ckpt, device)
    modes = EVAL_MODES if mode == "both" else (mode,)
    results = score_splits(RNNLM(net, vocab, device=device), splits, modes)
    if as_json:
        _echo_json({"corpus": loaded.name, "vocab_size": len(vocab), "config": config.to_dict(), "results": results})
        return
    click.echo(f"corpus {loaded.name}, vocabulary {len(vocab):,} types; {config.cell} {config.num_layers}×{config.hidden_size}")
    echo_results(results)


@rnn_command.command("generate")
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A checkpoint of 'lmstats rnn train'.")
@click.option("--prefix", default="", help="Text the network reads first (the warm-up), at its level (words or characters).")
@click.option("--length", type=click.IntRange(min=0), default=50, show_default=True, help="Tokens to generate.")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Sample from P^(1/T).")
@click.option("--greedy", is_flag=True, help="Take the most probable token each step (no sampling).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rnn_generate(checkpoint, prefix, length, temperature, greedy, seed, threads, device, as_json):
    """Continue --prefix with text from a trained checkpoint."""
    device = setup_device(device, threads)
    ckpt = load_checkpoint(checkpoint)
    net, vocab, _ = load_net(ckpt, device)
    level = ckpt["meta"].get("level", "word")
    tokens = tokenize_prefix(prefix, level)
    prefix_ids = vocab.encode(tokens)
    unknown = [t for t, i in zip(tokens, prefix_ids) if i == vocab.unk_id and t != "<unk>"]
    ids = generate(net, vocab, prefix_ids, length, greedy=greedy, temperature=temperature,
                   generator=torch.Generator().manual_seed(seed), device=device)
    text = render(vocab.decode(ids), level)
    if as_json:
        _echo_json({"prefix": prefix, "level": level, "unknown_prefix_tokens": unknown, "ids": ids.tolist(), "text": text})
        return
    if unknown:
        click.echo(f"warning: prefix tokens not in the vocabulary, read as <unk>: {' '.join(unknown)}", err=True)
    click.echo(prefix + ("" if level == "char" or not prefix else " ") + text)
