"""``lmstats rnn``: train an RNN language model, evaluate a checkpoint, generate text.

torch is imported inside the commands (2-3 s), never when this module is imported.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import click

from lmstats.cli.options import corpus_options, corpus_to_score, default_output, echo, json_option, progress_bar, results_table
from lmstats.errors import LmstatsError
from lmstats.evaluation import evaluate_splits
from lmstats.fileio import check_outputs
from lmstats.interrupts import Terminated
from lmstats.rnn.config import BATCHINGS, CELLS, DEVICES, LR_SCHEDULES, OPTIMIZERS, SOFTMAXES, RNNConfig
from lmstats.text.corpus import load_corpus
from lmstats.trained_on import TrainedOn
from lmstats.units import EVAL_MODES

DEFAULT_LR = {"adam": 2e-3, "sgd": 20.0}
ADAPTIVE_ABOVE = 10_000  # --softmax auto: adaptive for vocabularies larger than this, full below


def parse_cutoffs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise LmstatsError(f"--cutoffs takes increasing ids separated by commas, like 2000,10000; got {text!r}") from None


def run_options(f):
    for option in reversed([
        click.option("--mode", type=click.Choice((*EVAL_MODES, "both")), default="both", show_default=True,
                     help="Evaluation mode(s) of the final scores."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="CPU threads for torch (default: the cores idle when the command starts, at least 1; printed)."),
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                     help="cuda when available (auto), or force one."),
    ]):
        f = option(f)
    return f


def _modes(mode: str) -> tuple[str, ...]:
    return EVAL_MODES if mode == "both" else (mode,)


@click.group("rnn")
def rnn_group() -> None:
    """RNN language models (from-scratch RNN, RNN/GRU/LSTM; full or adaptive softmax)."""


@rnn_group.command("train")
@corpus_options
@click.option("--cell", type=click.Choice(CELLS), default="lstm", show_default=True,
              help="torch's LSTM/GRU/RNN, or the from-scratch one-hot tanh RNN.")
@click.option("--embed-size", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--layers", "num_layers", type=click.IntRange(min=1), default=None, help="Recurrent layers (default 2; 1 for scratch).")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True)
@click.option("--tie/--no-tie", default=False, show_default=True,
              help="Output word vectors = input embedding (full softmax; with --softmax adaptive the tails are tied at full dimension "
                   "and --div-value is unused).")
@click.option("--softmax", type=click.Choice(("auto", *SOFTMAXES)), default="auto", show_default=True,
              help=f"adaptive: an adaptive softmax, for large vocabularies; auto: adaptive above {ADAPTIVE_ABOVE:,} types, else full.")
@click.option("--cutoffs", "cutoffs_text", default="2000,10000", show_default=True,
              help="Adaptive softmax cluster boundaries (ids sorted by frequency).")
@click.option("--div-value", type=click.FloatRange(min=1, min_open=True), default=4.0, show_default=True,
              help="Adaptive softmax: cluster i projects to hidden/div^i dimensions.")
@click.option("--seq-len", type=click.IntRange(min=1), default=35, show_default=True, help="Truncated BPTT length.")
@click.option("--batch-size", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batching", type=click.Choice(BATCHINGS), default="sequential", show_default=True,
              help="sequential (state carried) or random (state reset).")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate (default 20 sgd, 2e-3 adam).")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="cosine", show_default=True,
              help="plateau: multiply lr by --lr-decay when validation does not improve; "
                   "linear / cosine: lr falls to 0 over the budget (epochs or --time-budget), along a line or a half cosine.")
@click.option("--lr-decay", type=click.FloatRange(0, 1, min_open=True), default=0.25, show_default=True,
              help="lr factor when validation perplexity does not improve (plateau schedule).")
@click.option("--clip", type=click.FloatRange(min=0), default=0.25, show_default=True, help="Max global gradient norm (0: off).")
@click.option("--epochs", type=click.IntRange(min=1), default=6, show_default=True, help="Epochs in all (resumed ones included).")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds of wall clock for training and per-epoch validation (resumed time included); final scoring is timed apart.")
@click.option("--valid-mode", type=click.Choice(EVAL_MODES), default="sentence", show_default=True,
              help="Mode of the per-epoch validation perplexity.")
@click.option("--valid-tokens", type=click.IntRange(min=0), default=50_000, show_default=True,
              help="Validate after each epoch on a fixed seeded sample of whole lines holding about this many tokens "
                   "(0: the whole split); the final scores always use the whole split.")
@click.option("--start-share", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of the training steps on lines read from their start from the zero state, as sentence mode scores them.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint written every epoch and on Ctrl-C. Default: lmstats-out/rnn-CORPUS-CELL.pt")
@click.option("--resume", is_flag=True, help="Continue from --checkpoint.")
@click.option("--force", is_flag=True, help="Overwrite an existing --checkpoint (without it, an existing one is an error).")
@run_options
@click.option("--verbose", "-v", is_flag=True, help="A line per epoch on stderr even with --json.")
@json_option
def rnn_train(corpus, vocab_spec, data_dir, cell, embed_size, hidden_size, num_layers, dropout, tie, softmax, cutoffs_text, div_value,
              seq_len, batch_size, batching, optimizer, lr, lr_schedule, lr_decay, clip, epochs, time_budget, valid_mode, valid_tokens,
              start_share, checkpoint, resume, force, mode, threads, device, verbose, as_json):
    """Train an RNN language model on the stream of CORPUS's train split.

    Prints validation/test perplexity from the shared evaluator and tokens/s.  --seed seeds
    the corpus split, the initial weights, the batching and dropout.

    The defaults are the WikiText-2 recipe of reports/rnn_targets.md: LSTM 2×200, dropout 0.2,
    SGD at lr 20 falling to 0 along a half cosine over the run, clipping 0.25, batch 20, BPTT 35,
    an adaptive softmax for large vocabularies; add --time-budget 900 for its 15 minutes.
    """
    started = time.perf_counter()
    config = RNNConfig(
        cell=cell, embed_size=embed_size, hidden_size=hidden_size, num_layers=num_layers or (1 if cell == "scratch" else 2),
        dropout=dropout, tie=tie, softmax="full" if softmax == "auto" else softmax, cutoffs=parse_cutoffs(cutoffs_text),
        div_value=div_value, seq_len=seq_len, batch_size=batch_size, batching=batching, optimizer=optimizer,
        lr=lr or DEFAULT_LR[optimizer], lr_schedule=lr_schedule, lr_decay=lr_decay, clip=clip, epochs=epochs, time_budget=time_budget,
        valid_mode=valid_mode, valid_tokens=valid_tokens or None, start_share=start_share, seed=corpus.seed,
    )
    path = Path(checkpoint) if checkpoint else default_output("rnn", corpus, f"{cell}.pt")
    if path.exists() and not (resume or force):
        raise LmstatsError(f"--checkpoint {path} exists and would be overwritten; "
                           "add --resume to continue that run, --force to start anew over it, or give another --checkpoint")
    check_outputs({"--checkpoint": path}, inputs=corpus.local_files())
    from lmstats.rnn.checkpoint import check_compatible, load_checkpoint, load_net, trained_on
    from lmstats.rnn.lm import RNNLM
    from lmstats.rnn.nets import build_net, count_parameters, resolve_device
    from lmstats.rnn.threads import set_threads

    ckpt = load_checkpoint(path) if resume else None
    n_threads, device = set_threads(threads), resolve_device(device)
    stored = trained_on(ckpt) if ckpt is not None else None
    loaded = load_corpus(corpus, data_dir=data_dir, tokenizer=stored.subword_tokenizer() if stored else None)
    vocab = loaded.build_vocab(vocab_spec)
    splits = loaded.encode(vocab)
    if softmax == "auto" and len(vocab) > ADAPTIVE_ABOVE:
        config = replace(config, softmax="adaptive")
    if ckpt is not None:
        check_compatible(ckpt, vocab, config, source=str(path))
    net = load_net(ckpt, device)[0] if ckpt is not None else build_net(vocab, config)
    prepared = time.perf_counter()
    record = TrainedOn.of(loaded.spec, vocab_spec, data_dir, loaded.meta.get("tokenizer"))
    history = _train(net, splits, config, device, path, ckpt, record, as_json and not verbose)
    trained = time.perf_counter()
    results = evaluate_splits(RNNLM(net, vocab, device=device), splits, ("valid", "test"), _modes(mode))
    times = {"prepare_s": prepared - started, **history.time_split(), "final_scoring_s": time.perf_counter() - trained}
    info = {"corpus": loaded.name, "vocab_size": len(vocab), "config": config.to_dict(), "parameters": count_parameters(net),
            "device": str(device), "threads": n_threads, "history": history.to_dict(), "train_tokens_per_s": history.tokens_per_s,
            "time_split": times, "results": results, "checkpoint": str(path)}
    echo(info, as_json, format_train)


def _train(net, splits, config, device, path, ckpt, record, quiet):
    """``train_rnn`` with a progress bar, a line per epoch, and the message a Ctrl-C deserves."""
    from lmstats.rnn.train import train_rnn

    if ckpt is not None:
        at = ckpt["training"]["position"]
        click.echo(f"resumed from {path}: epoch {at['epoch'] + 1}, step {at['step']} "
                   f"(epochs finished: {at['epoch']}, {at['elapsed']:.0f} s spent)", err=True)
    with progress_bar(desc="training", unit="tok", unit_scale=True, leave=False) as bar:
        def on_batch(p):
            bar.update(p.n_tokens)
            bar.set_postfix(epoch=p.epoch, step=f"{p.step}/{p.n_steps}", refresh=False)

        def on_epoch(r):
            if not quiet:
                bar.write(f"epoch {r.epoch}: train ppl {r.train_ppl:.2f}, valid ppl {r.valid_ppl:.2f} ({config.valid_mode}), "
                          f"{r.tokens_per_s:,.0f} tok/s, {r.elapsed:.0f} s", file=sys.stderr)

        try:
            return train_rnn(net, splits.train, splits.valid, config, device=device, checkpoint=str(path), resume=ckpt, trained_on=record,
                             on_batch=on_batch, on_epoch=on_epoch)
        except (KeyboardInterrupt, Terminated) as exc:
            bar.close()
            what, code = ("interrupted", 130) if isinstance(exc, KeyboardInterrupt) else ("terminated (SIGTERM)", 143)
            click.echo(f"lmstats: {what}; checkpoint saved to {path} — run the same command with --resume to continue", err=True)
            sys.exit(code)


def format_train(info: dict) -> list[str]:
    c, h = info["config"], info["history"]
    out = [f"corpus {info['corpus']}, vocabulary {info['vocab_size']:,} types, device {info['device']}, {info['threads']} threads"]
    if h.get("resumed_from"):
        out.append(f"resumed from epoch {h['resumed_from']['epoch'] + 1}, step {h['resumed_from']['step']}")
    out.append(f"model: {c['cell']} {c['num_layers']}×{c['hidden_size']}, {c['softmax']} softmax, {info['parameters']:,} parameters; "
               f"{len(h['epochs'])} epochs ({h['stopped']}), {h['elapsed']:.0f} s, training {info['train_tokens_per_s']:,.0f} tok/s")
    t = info["time_split"]
    out.append(f"time: preparing {t['prepare_s']:.1f} s, training steps {t['train_s']:.1f} s, validation {t['valid_s']:.1f} s, "
               f"checkpoints {t['checkpoint_s']:.1f} s, other {t['other_s']:.1f} s, final scoring {t['final_scoring_s']:.1f} s")
    if h.get("restored"):
        out.append(f"kept the weights of epoch {h['best_epoch']}, the best on validation (a later epoch validated worse)")
    return out + results_table(info["results"]) + [f"wrote checkpoint: {info['checkpoint']}"]


@rnn_group.command("eval")
@corpus_options
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A checkpoint of 'lmstats rnn train'.")
@run_options
@json_option
def rnn_eval(corpus, vocab_spec, data_dir, checkpoint, mode, threads, device, as_json):
    """Perplexity of a checkpoint on CORPUS (default: the corpus it was trained on)."""
    from lmstats.rnn.checkpoint import check_compatible, load_checkpoint, load_net, trained_on
    from lmstats.rnn.lm import RNNLM
    from lmstats.rnn.nets import resolve_device
    from lmstats.rnn.threads import set_threads

    ckpt = load_checkpoint(checkpoint)
    what = f"the checkpoint {checkpoint}"
    corpus, vocab_spec, data_dir, tokenizer = corpus_to_score(corpus, vocab_spec, data_dir, trained_on(ckpt), what)
    n_threads, device = set_threads(threads), resolve_device(device)
    loaded = load_corpus(corpus, data_dir=data_dir, tokenizer=tokenizer)
    vocab = loaded.build_vocab(vocab_spec)
    check_compatible(ckpt, vocab, source=checkpoint)
    net, _, config = load_net(ckpt, device)
    results = evaluate_splits(RNNLM(net, vocab, device=device), loaded.encode(vocab), ("valid", "test"), _modes(mode))
    info = {"corpus": loaded.name, "vocab_size": len(vocab), "config": config.to_dict(), "threads": n_threads, "results": results}
    echo(info, as_json, lambda i: [f"corpus {i['corpus']}, vocabulary {i['vocab_size']:,} types; "
                                   f"{config.cell} {config.num_layers}×{config.hidden_size}"]
         + results_table(i["results"]))


@rnn_group.command("generate")
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A checkpoint of 'lmstats rnn train'.")
@click.option("--prefix", default="", help="Text the network reads first (the warm-up), at its level (words or characters).")
@click.option("--length", type=click.IntRange(min=0), default=50, show_default=True, help="Tokens to generate.")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Sample from P^(1/T).")
@click.option("--greedy", is_flag=True, help="Take the most probable token each step (no sampling).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch (default as for train).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@json_option
def rnn_generate(checkpoint, prefix, length, temperature, greedy, seed, threads, device, as_json):
    """Continue --prefix with text from a trained checkpoint."""
    import torch

    from lmstats.rnn.checkpoint import load_checkpoint, load_net, trained_on
    from lmstats.rnn.nets import resolve_device
    from lmstats.rnn.sampling import generate, render, tokenize_prefix
    from lmstats.rnn.threads import set_threads

    set_threads(threads)
    device = resolve_device(device)
    ckpt = load_checkpoint(checkpoint)
    net, vocab, _ = load_net(ckpt, device)
    stored = trained_on(ckpt)
    level = stored.corpus.level if stored is not None and stored.corpus.level else "word"
    tokens = tokenize_prefix(prefix, level, stored.subword_tokenizer() if stored else None)
    prefix_ids = vocab.encode(tokens)
    unknown = [t for t, i in zip(tokens, prefix_ids, strict=True) if i == vocab.unk_id and t != "<unk>"]
    ids = generate(net, vocab, prefix_ids, length, greedy=greedy, temperature=temperature, generator=torch.Generator().manual_seed(seed),
                   device=device)
    text = render(vocab.decode(ids), level)
    if unknown and not as_json:
        click.echo(f"warning: prefix tokens not in the vocabulary, read as <unk>: {' '.join(unknown)}", err=True)
    echo({"prefix": prefix, "level": level, "unknown_prefix_tokens": unknown, "ids": ids.tolist(), "text": text}, as_json,
         lambda d: [prefix + ("" if level == "char" or not prefix else " ") + text])
