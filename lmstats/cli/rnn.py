"""``lmstats rnn``: train an RNN language model, evaluate a checkpoint, generate text.

``rnn train``'s options are the fields of :class:`~lmstats.rnn.recipe.RNNConfig` with its defaults
(the recipe); the command builds the config and calls :func:`lmstats.rnn.job.train_on_corpus`.
torch is imported inside the commands (2-3 s), never when this module is imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lmstats.cli.options import (
    Numbers,
    corpus_options,
    corpus_to_score,
    dataclass_options,
    default_output,
    device_option,
    given,
    json_option,
    modes_option,
    refuse,
    threads_option,
)
from lmstats.cli.output import echo, progress_bar, results_table
from lmstats.errors import LmstatsError
from lmstats.evaluation import evaluate_splits
from lmstats.fileio import check_outputs
from lmstats.rnn.recipe import ADAPTIVE_ABOVE, BATCHINGS, CELLS, LR_SCHEDULES, OPTIMIZERS, SOFTMAXES, RNNConfig
from lmstats.text.corpus import load_corpus
from lmstats.units import EVAL_MODES

# The options of `rnn train`: one per field of RNNConfig (its defaults are the recipe's; see lmstats/rnn/recipe.py).
RECIPE_FLAGS = {
    "cell": dict(flag="--cell", type=click.Choice(CELLS),
                 help="torch's LSTM/GRU/RNN, the from-scratch one-hot tanh RNN, or a decoder-only Transformer; a cell with its own "
                      "recipe (transformer) takes it for every option not typed."),
    "embed_size": dict(flag="--embed-size", type=click.IntRange(min=1)),
    "hidden_size": dict(flag="--hidden-size", type=click.IntRange(min=1)),
    "num_layers": dict(flag="--layers", type=click.IntRange(min=1), help="Recurrent layers [default: 2; 1 for scratch]."),
    "heads": dict(flag="--heads", type=click.IntRange(min=1), help="Transformer: attention heads (--embed-size a multiple)."),
    "dropout": dict(flag="--dropout", type=click.FloatRange(0, 1, max_open=True)),
    "tie": dict(flag="--tie/--no-tie", help="Output word vectors = input embedding (full softmax; with --softmax adaptive the tails "
                                            "are tied at full dimension and --div-value is unused)."),
    "softmax": dict(flag="--softmax", type=click.Choice(("auto", *SOFTMAXES)),
                    help=f"adaptive: an adaptive softmax, for large vocabularies; auto: adaptive above {ADAPTIVE_ABOVE:,} types, "
                         "else full."),
    "cutoffs": dict(flag="--cutoffs", type=Numbers(int, "increasing ids separated by commas, like 2000,10000"),
                    help="Adaptive softmax cluster boundaries (ids sorted by frequency)."),
    "div_value": dict(flag="--div-value", type=click.FloatRange(min=1, min_open=True),
                      help="Adaptive softmax: cluster i projects to hidden/div^i dimensions."),
    "seq_len": dict(flag="--seq-len", type=click.IntRange(min=1), help="Truncated BPTT length (the Transformer: its attention window)."),
    "batch_size": dict(flag="--batch-size", type=click.IntRange(min=1)),
    "batching": dict(flag="--batching", type=click.Choice(BATCHINGS), help="sequential (state carried) or random (state reset)."),
    "optimizer": dict(flag="--optimizer", type=click.Choice(OPTIMIZERS)),
    "lr": dict(flag="--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate [default: 20 with sgd, 2e-3 with adam]."),
    "weight_decay": dict(flag="--weight-decay", type=click.FloatRange(min=0), help="AdamW's decoupled weight decay."),
    "warmup": dict(flag="--warmup", type=click.FloatRange(0, 1, max_open=True),
                   help="Share of the budget over which the rate rises linearly from 0 (linear/cosine schedules)."),
    "lr_schedule": dict(flag="--lr-schedule", type=click.Choice(LR_SCHEDULES),
                        help="plateau: multiply lr by --lr-decay when validation does not improve; linear / cosine: lr falls to 0 "
                             "over the budget (epochs or --time-budget), along a line or a half cosine."),
    "lr_decay": dict(flag="--lr-decay", type=click.FloatRange(0, 1, min_open=True),
                     help="lr factor when validation perplexity does not improve (plateau schedule)."),
    "clip": dict(flag="--clip", type=click.FloatRange(min=0), help="Max global gradient norm (0: off)."),
    "epochs": dict(flag="--epochs", type=click.IntRange(min=1), help="Epochs in all (resumed ones included)."),
    "time_budget": dict(flag="--time-budget", type=click.FloatRange(min=0, min_open=True),
                        help="Seconds of wall clock for training and per-epoch validation (resumed time included); final scoring is "
                             "timed apart."),
    "valid_mode": dict(flag="--valid-mode", type=click.Choice(EVAL_MODES), help="Mode of the per-epoch validation perplexity."),
    "valid_tokens": dict(flag="--valid-tokens", type=click.IntRange(min=0),
                         help="Validate after each epoch on a fixed seeded sample of whole lines holding about this many tokens "
                              "(0: the whole split); the final scores always use the whole split."),
    "curve_every": dict(flag="--curve-every", type=click.FloatRange(min=0, min_open=True),
                        help="Seconds of training between points of a validation curve on a fixed sample of --curve-tokens tokens "
                             "(recorded in the history; default: none)."),
    "curve_tokens": dict(flag="--curve-tokens", type=click.IntRange(min=1)),
    "start_share": dict(flag="--start-share", type=click.FloatRange(0, 1, max_open=True),
                        help="Share of the training steps on lines read from their start from the zero state, as sentence mode "
                             "scores them."),
}


@click.group("rnn")
def rnn_group() -> None:
    """Neural language models: from-scratch RNN, RNN/GRU/LSTM, decoder-only Transformer (--cell transformer); full or adaptive
    softmax."""


@rnn_group.command("train")
@corpus_options
@dataclass_options(RNNConfig, RECIPE_FLAGS)
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint written every epoch and on Ctrl-C. Default: lmstats-out/rnn-CORPUS-CELL.pt")
@click.option("--resume", is_flag=True, help="Continue from --checkpoint.")
@click.option("--force", is_flag=True, help="Overwrite an existing --checkpoint (without it, an existing one is an error).")
@modes_option(help="Evaluation mode(s) of the final scores.")
@threads_option
@device_option
@click.option("--verbose", "-v", is_flag=True, help="A line per epoch on stderr even with --json.")
@json_option
def rnn_train(corpus, vocab_spec, data_dir, config, checkpoint, resume, force, modes, threads, device, verbose, as_json):
    """Train an RNN language model on the stream of CORPUS's train split.

    Prints validation/test perplexity from the shared evaluator and tokens/s.  --seed seeds
    the corpus split, the initial weights, the batching and dropout.

    The defaults are the WikiText-2 recipe of reports/rnn_targets.md: LSTM 2×200, dropout 0.2,
    SGD at lr 20 falling to 0 along a half cosine over the run, clipping 0.25, batch 20, BPTT 35,
    an adaptive softmax for large vocabularies; add --time-budget 900 for its 15 minutes.
    --cell transformer trains a decoder-only Transformer with its own recipe (4 blocks of 128,
    64-token window, AdamW with warm-up and cosine decay, tied adaptive softmax), and a char-level
    corpus takes the char recipe (2×256, Adam 3e-3, batch 32 × 50); any option typed replaces the
    recipe's value (lmstats/rnn/recipe.py).
    """
    from lmstats.rnn.job import train_on_corpus
    from lmstats.threads import set_threads

    path = Path(checkpoint) if checkpoint else default_output("rnn", corpus, f"{config.cell}.pt")
    if resume and force:
        raise LmstatsError("--resume continues the run in --checkpoint and --force starts anew over it; give one of them")
    if path.exists() and not (resume or force):
        raise LmstatsError(f"--checkpoint {path} exists and would be overwritten; "
                           "add --resume to continue that run, --force to start anew over it, or give another --checkpoint")
    if resume and not path.exists():
        raise LmstatsError(f"--resume: no such checkpoint {path}, so there is no run to continue; drop --resume to start one")
    check_outputs({"--checkpoint": path}, inputs=corpus.local_files())
    n_threads = set_threads(threads, torch=True)
    quiet = as_json and not verbose
    with progress_bar(desc="training", unit="tok", unit_scale=True, leave=False) as bar:
        def on_batch(p):
            bar.update(p.n_tokens)
            bar.set_postfix(epoch=p.epoch, step=f"{p.step}/{p.n_steps}", refresh=False)

        def on_epoch(r):
            if not quiet:
                bar.write(f"epoch {r.epoch}: train ppl {r.train_ppl:.2f}, valid ppl {r.valid_ppl:.2f} ({config.valid_mode}), "
                          f"{r.tokens_per_s:,.0f} tok/s, {r.elapsed:.0f} s", file=sys.stderr)

        def on_resumed(at):
            bar.write(f"resumed from {path}: epoch {at['epoch'] + 1}, step {at['step']} "
                      f"(epochs finished: {at['epoch']}, {at['elapsed']:.0f} s spent)", file=sys.stderr)

        info = train_on_corpus(config, corpus, vocab_spec, typed=given(*RECIPE_FLAGS), checkpoint=path, resume=resume, data_dir=data_dir,
                               device=device, modes=modes,
                               on_resumed=on_resumed, on_batch=on_batch, on_epoch=on_epoch)
    echo(info | {"threads": n_threads}, as_json, format_train)


def format_train(info: dict) -> list[str]:
    c, h = info["config"], info["history"]
    out = [f"corpus {info['corpus']}, vocabulary {info['vocab_size']:,} types, device {info['device']}, {info['threads']} threads"]
    if h.get("resumed_from"):
        out.append(f"resumed from epoch {h['resumed_from']['epoch'] + 1}, step {h['resumed_from']['step']}")
    done = h["epochs_done"]
    transformer = c["cell"] == "transformer"
    shape = (f"{c['num_layers']} blocks of {c['embed_size']} ({c.get('heads')} heads, window {c['seq_len']})" if transformer
             else f"{c['num_layers']}×{c['hidden_size']}")
    out.append(f"model: {c['cell']} {shape}, {c['softmax']} softmax, {info['parameters']:,} parameters; "
               f"{done:.2g} epoch{'' if done == 1 else 's'} ({h['stopped']}), {h['elapsed']:.0f} s, "
               f"training {info['train_tokens_per_s']:,.0f} tok/s")
    t = info["time_split"]
    out.append(f"time: preparing {t['prepare_s']:.1f} s, training steps {t['train_s']:.1f} s, validation {t['valid_s']:.1f} s, "
               f"checkpoints {t['checkpoint_s']:.1f} s, other {t['other_s']:.1f} s, final scoring {t['final_scoring_s']:.1f} s")
    if h.get("restored"):
        out.append(f"kept the weights of epoch {h['best_epoch']}, the best on validation (a later epoch validated worse)")
    return out + results_table(info["results"]) + [f"wrote checkpoint: {info['checkpoint']}"]


@rnn_group.command("eval")
@corpus_options
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A checkpoint of 'lmstats rnn train'.")
@modes_option()
@threads_option
@device_option
@json_option
def rnn_eval(corpus, vocab_spec, data_dir, checkpoint, modes, threads, device, as_json):
    """Perplexity of a checkpoint on CORPUS (default: the corpus it was trained on)."""
    from lmstats.saved import open_model
    from lmstats.threads import set_threads

    n_threads = set_threads(threads, torch=True)
    saved = open_model(checkpoint, device=_device(device))
    what = f"the checkpoint {checkpoint}"
    corpus, vocab_spec, data_dir, tokenizer = corpus_to_score(corpus, vocab_spec, data_dir, saved.trained_on, what)
    loaded = load_corpus(corpus, data_dir=data_dir, tokenizer=tokenizer)
    results = evaluate_splits(saved.model, loaded.encode(saved.model.vocab), ("valid", "test"), modes)  # the checkpoint's vocabulary
    info = {"corpus": loaded.name, "vocab_size": len(saved.model.vocab), "model": saved.description, "threads": n_threads,
            "results": results}
    echo(info, as_json, lambda i: [f"corpus {i['corpus']}, vocabulary {i['vocab_size']:,} types; {i['model']}"]
         + results_table(i["results"]))


def _device(name: str):
    from lmstats.rnn.nets import resolve_device

    return resolve_device(name)


@rnn_group.command("generate")
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="A checkpoint of 'lmstats rnn train'.")
@click.option("--prefix", default="", help="Text the network reads first (the warm-up), at its level (words or characters).")
@click.option("--length", type=click.IntRange(min=0), default=50, show_default=True, help="Tokens to generate.")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=None, help="Sample from P^(1/T) [default: 1].")
@click.option("--greedy", is_flag=True, help="Take the most probable token each step (no sampling).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling.")
@threads_option
@device_option
@json_option
def rnn_generate(checkpoint, prefix, length, temperature, greedy, seed, threads, device, as_json):
    """Continue --prefix with text from a trained checkpoint."""
    import torch

    from lmstats.rnn.checkpoint import load_checkpoint, load_net, trained_on
    from lmstats.rnn.sampling import generate, render, tokenize_prefix
    from lmstats.threads import set_threads

    if greedy:
        refuse(["temperature", "seed"], "--greedy takes the most probable token, so nothing is sampled; drop them or --greedy")
    set_threads(threads, torch=True)
    device = _device(device)
    ckpt = load_checkpoint(checkpoint)
    net, vocab, _ = load_net(ckpt, device)
    stored = trained_on(ckpt)
    level = stored.corpus.level if stored is not None and stored.corpus.level else "word"
    tokens = tokenize_prefix(prefix, level, stored.subword_tokenizer() if stored else None)
    prefix_ids = vocab.encode(tokens)
    unknown = [t for t, i in zip(tokens, prefix_ids, strict=True) if i == vocab.unk_id and t != "<unk>"]
    ids = generate(net, vocab, prefix_ids, length, greedy=greedy, temperature=temperature or 1.0,
                   generator=torch.Generator().manual_seed(seed), device=device)
    text = render(vocab.decode(ids), level)
    if unknown and not as_json:
        click.echo(f"warning: prefix tokens not in the vocabulary, read as <unk>: {' '.join(unknown)}", err=True)
    echo({"prefix": prefix, "level": level, "unknown_prefix_tokens": unknown, "ids": ids.tolist(), "text": text}, as_json,
         lambda d: [prefix + ("" if level == "char" or not prefix else " ") + text])
