"""Saved models of every kind opened by path, for commands that take any model (``lmstats mix``).

The kind is told by the path:

* a folder (with ``meta.json``) or an ``.npz`` file: an n-gram model of ``lmstats ngram --out``;
* an ``.arpa`` file (plain or compressed): an n-gram model in ARPA form (KenLM's, SRILM's or
  ours), read under the vocabulary of the other components;
* a ``.pt`` file: a checkpoint of ``lmstats rnn train`` (torch is imported only then);
* a ``.json`` file: a mixture written by ``lmstats mix --out`` (its components open the same way).

Each kind but ARPA records the corpus and vocabulary options it was trained with, so a command
can score it on that corpus without being told again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lmstats.corpus import CorpusSpec, VocabSpec
from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write, read_text
from lmstats.mixture import Mixture
from lmstats.protocol import LanguageModel
from lmstats.vocab import Vocab

MIXTURE_FORMAT = "lmstats-mixture"
MIXTURE_VERSION = 1


@dataclass(frozen=True)
class SavedModel:
    """A model opened from ``path``, what it is, and the corpus it was trained on (None when unknown)."""

    path: str
    kind: str  # ngram | arpa | rnn | mixture
    model: LanguageModel
    description: str
    corpus: CorpusSpec | None
    vocab_spec: VocabSpec | None
    data_dir: str | None = None  # where the corpus was found when the model was trained (RNN checkpoints record it)
    tokenizer: dict | None = None  # the subword pieces of a bpe/unigram corpus


def model_kind(path: str | Path) -> str:
    path = Path(path)
    name = path.name.lower()
    for suffix in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    if path.is_dir() or name.endswith(".npz"):
        return "ngram"
    if name.endswith(".arpa"):
        return "arpa"
    if name.endswith(".pt"):
        return "rnn"
    if name.endswith(".json"):
        return "mixture"
    raise LmstatsError(f"{path}: not a model lmstats can open; give an n-gram model folder or .npz (lmstats ngram --out), "
                       "an .arpa file, an RNN checkpoint .pt (lmstats rnn train) or a mixture .json (lmstats mix --out)")


def load_model(path: str | Path, *, vocab: Vocab | None = None, device: str = "cpu") -> SavedModel:
    """The model saved at ``path`` (see the module docstring).  ``vocab``: the vocabulary an ARPA
    file is read under (required for ARPA; the other kinds carry their own)."""
    path = Path(path)
    kind = model_kind(path)
    if not path.exists():
        raise LmstatsError(f"{path}: no such model file or folder; check the path")
    if kind == "ngram":
        from lmstats.ngram.model import NgramLM

        model = NgramLM.load(path)
        description = f"{model.order}-gram {model.smoothing.upper()}"
        return SavedModel(str(path), kind, model, description, model.corpus_spec_, model.vocab_spec_, None, model.tokenizer_)
    if kind == "arpa":
        if vocab is None:
            raise LmstatsError(f"{path}: an ARPA file has no corpus vocabulary of its own; mix it with a model that has one "
                               "(an n-gram folder or an RNN checkpoint) trained on the same corpus")
        from lmstats.ngram.arpa import read_arpa

        model = read_arpa(path, vocab)
        return SavedModel(str(path), kind, model, f"{model.order}-gram (ARPA)", None, None)
    if kind == "rnn":
        from lmstats.rnn.checkpoint import load_checkpoint, load_net, stored_corpus
        from lmstats.rnn.lm import RNNLM

        ckpt = load_checkpoint(path)
        net, net_vocab, config = load_net(ckpt, device)
        corpus, vocab_spec = stored_corpus(ckpt)
        description = f"{config.cell.upper()} {config.num_layers}×{config.hidden_size}"
        meta = ckpt.get("meta") or {}
        return SavedModel(str(path), kind, RNNLM(net, net_vocab, device=device), description, corpus, vocab_spec,
                          meta.get("data_dir"), meta.get("tokenizer"))
    return load_mixture(path, vocab=vocab, device=device)


def load_models(paths, *, device: str = "cpu") -> list[SavedModel]:
    """Every model of ``paths``; ARPA files are read under the vocabulary of the first model that has one."""
    kinds = [model_kind(p) for p in paths]
    pairs = list(enumerate(zip(paths, kinds, strict=True)))
    opened: dict[int, SavedModel] = {i: load_model(p, device=device) for i, (p, k) in pairs if k != "arpa"}
    if len(opened) < len(paths):
        if not opened:
            raise LmstatsError("ARPA files alone carry no corpus vocabulary; add the n-gram folder or RNN checkpoint they were made "
                               "with (or one trained on the same corpus)")
        vocab = next(iter(opened.values())).model.vocab
        opened |= {i: load_model(p, vocab=vocab) for i, (p, k) in pairs if k == "arpa"}
    return [opened[i] for i in range(len(paths))]


def stored_corpus_of(models: list[SavedModel]) -> tuple[CorpusSpec | None, VocabSpec | None]:
    """The corpus the models were trained on: the one they record (they must agree), or (None, None)."""
    known = [m for m in models if m.corpus is not None]
    if not known:
        return None, None
    first = known[0]
    for other in known[1:]:
        if (other.corpus, other.vocab_spec or VocabSpec()) != (first.corpus, first.vocab_spec or VocabSpec()):
            raise LmstatsError(f"{first.path} and {other.path} were trained on different corpora or vocabulary options; "
                               "a mixture scores one corpus under one vocabulary — mix models of the same corpus")
    return first.corpus, first.vocab_spec


def save_mixture(path: str | Path, models: list[SavedModel], weights, *, tuned: dict | None = None) -> None:
    """Write a mixture file: its components' paths (relative to the file's folder) and weights."""
    path = Path(path)
    folder = path.resolve().parent
    components = []
    for m, w in zip(models, weights, strict=True):
        target = Path(m.path).resolve()
        try:
            stored = str(target.relative_to(folder))
        except ValueError:
            stored = str(target)
        components.append({"path": stored, "kind": m.kind, "description": m.description, "weight": float(w)})
    data = {"format": MIXTURE_FORMAT, "version": MIXTURE_VERSION, "components": components, "tuned": tuned}
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def load_mixture(path: str | Path, *, vocab: Vocab | None = None, device: str = "cpu") -> SavedModel:
    """A mixture written by :func:`save_mixture`, its components opened from their stored paths."""
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LmstatsError(f"{path}: not a mixture file ({exc}); write one with 'lmstats mix ... --out {path.name}'") from None
    if not isinstance(data, dict) or data.get("format") != MIXTURE_FORMAT:
        raise LmstatsError(f"{path}: not a mixture file (no \"format\": \"{MIXTURE_FORMAT}\"); write one with 'lmstats mix ... --out'")
    if data.get("version") != MIXTURE_VERSION:
        raise LmstatsError(f"{path}: mixture file version {data.get('version')!r}, this lmstats reads version {MIXTURE_VERSION}")
    components = data.get("components")
    if not isinstance(components, list) or not components or not all(
            isinstance(c, dict) and isinstance(c.get("path"), str) and isinstance(c.get("weight"), (int, float)) for c in components):
        raise LmstatsError(f"{path}: a mixture file lists its components, each with a \"path\" and a \"weight\"; "
                           "write it again with 'lmstats mix ... --out'")
    folder = path.resolve().parent
    paths = [folder / c["path"] for c in components]
    opened = load_models(paths, device=device) if vocab is None or not paths else [
        load_model(p, vocab=vocab, device=device) for p in paths]
    mixture = Mixture([m.model for m in opened], [c["weight"] for c in components], names=[m.description for m in opened])
    corpus, vocab_spec = stored_corpus_of(opened)
    description = "mixture of " + " + ".join(f"{w:.3f}·{m.description}" for m, w in zip(opened, mixture.weights, strict=True))
    data_dir = next((m.data_dir for m in opened if m.data_dir), None)
    tokenizer = next((m.tokenizer for m in opened if m.tokenizer), None)
    return SavedModel(str(path), "mixture", mixture, description, corpus, vocab_spec, data_dir, tokenizer)
