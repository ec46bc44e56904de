"""Saved models of every kind opened by path: the one opener of ``ngram --load``, ``rnn eval``, ``mix``, ``score``
and :func:`lmstats.load`.

The kind is told by the path:

* a folder (with ``meta.json``) or an ``.npz`` file: an n-gram model of ``lmstats ngram --out``, full
  (:class:`~lmstats.ngram.model.NgramLM`) or compact (``--quantize``/``--compact``:
  :class:`~lmstats.ngram.compact.CompactNgramLM`), as its meta.json says;
* an ``.arpa`` file (plain or compressed): an n-gram model in ARPA form (KenLM's, SRILM's or
  ours), read under a vocabulary given to it (of the corpus, or of the other models), or alone
  under its own (its unigrams, as KenLM's ``query`` reads it);
* a ``.pt`` file: a checkpoint of ``lmstats rnn train`` (torch is imported only then);
* a ``.json`` file: a mixture written by ``lmstats mix --out`` (its components open the same way);
* ``cache:W`` (not a path): a unigram cache over the last ``W`` tokens (:class:`~lmstats.cache.CacheLM`), under the
  vocabulary of the other models; a component of a mixture (``lmstats mix MODEL cache:500``); ``cache`` alone: its
  window chosen on valid (:class:`~lmstats.cache.ChosenCache`);
* ``neural-cache:CKPT``: the neural cache over the RNN checkpoint ``CKPT``'s hidden states, its window, θ and λ
  chosen on valid (:class:`~lmstats.neural_cache.ChosenNeuralCache`); a saved mixture stores the chosen ones.

Every kind but ARPA records what it was trained on (:class:`~lmstats.trained_on.TrainedOn`:
the corpus, its options, the folder its files were in and its subword pieces), so a command
scores it on that corpus without being told again, and :func:`load` attaches it to the model
(``trained_on_``), so a text is read the way the model was trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write
from lmstats.mixture import Mixture
from lmstats.protocol import LanguageModel
from lmstats.text.reader import read_text
from lmstats.trained_on import TrainedOn
from lmstats.vocab import Vocab

CACHE = "cache:"  # a model named, not saved: cache:W (or "cache": W chosen on valid)
NEURAL_CACHE = "neural-cache:"  # neural-cache:CKPT, the neural cache over an RNN checkpoint
NEEDS_VOCAB = ("arpa", "cache")  # kinds opened under the vocabulary of another model
MIXTURE_FORMAT = "lmstats-mixture"
MIXTURE_VERSION = 1


@dataclass(frozen=True)
class SavedModel:
    """A model opened from ``path``, what it is, and what it was trained on (None when the file does not say)."""

    path: str
    kind: str  # ngram | arpa | rnn | mixture | cache | neural-cache
    model: LanguageModel
    description: str
    trained_on: TrainedOn | None
    base: str = ""  # a neural cache's: the description of the RNN whose states it keys on


def model_kind(path: str | Path) -> str:
    if str(path).startswith(CACHE) or str(path) == CACHE[:-1]:
        return "cache"
    if str(path).startswith(NEURAL_CACHE):
        return "neural-cache"
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


def open_model(path: str | Path, *, vocab: Vocab | None = None, device: str = "cpu", _opening: tuple[Path, ...] = (),
               settings: dict | None = None) -> SavedModel:
    """The model saved at ``path`` (see the module docstring).  ``vocab``: the vocabulary an ARPA file is
    read under (None: its own unigrams; the other kinds carry their own); ``settings``: a neural cache's stored ones."""
    kind = model_kind(path)
    if kind == "cache":
        return _open_cache(str(path), vocab)
    if kind == "neural-cache":
        return _open_neural_cache(str(path)[len(NEURAL_CACHE):], device, settings)
    path = Path(path)
    if not path.exists():
        raise LmstatsError(f"{path}: no such model file or folder; check the path")
    if kind == "ngram":
        from lmstats.ngram.compact import CompactNgramLM

        model = open_ngram(path)
        compact = isinstance(model, CompactNgramLM)
        form = "" if not compact else f" (compact, {model.bits}-bit)" if model.bits else " (compact)"
        return SavedModel(str(path), kind, model, f"{model.order}-gram {model.smoothing.upper()}{form}", model.trained_on_)
    if kind == "arpa":
        from lmstats.ngram.arpa_reader import read_arpa

        model = read_arpa(path, vocab)  # vocab None: the file's own unigrams
        return SavedModel(str(path), kind, model, f"{model.order}-gram (ARPA)", None)
    if kind == "rnn":
        from lmstats.rnn.checkpoint import load_checkpoint, load_net, trained_on
        from lmstats.rnn.lm import RNNLM

        ckpt = load_checkpoint(path)
        net, net_vocab, config = load_net(ckpt, device)
        description = f"{config.cell.upper()} {config.num_layers}×{config.hidden_size}"
        return SavedModel(str(path), kind, RNNLM(net, net_vocab, device=device), description, trained_on(ckpt))
    return _open_mixture(path, vocab=vocab, device=device, opening=_opening)


def _open_neural_cache(ckpt: str, device: str, settings: dict | None = None) -> SavedModel:
    """The neural cache over the RNN of ``ckpt``: chosen on valid, or with the stored ``settings`` of a saved mixture."""
    from lmstats.neural_cache import ChosenNeuralCache, NeuralCacheLM

    if model_kind(ckpt) != "rnn":
        raise LmstatsError(f"{NEURAL_CACHE}{ckpt}: a neural cache keys on an RNN's hidden states; give an RNN checkpoint "
                           f"(.pt, lmstats rnn train), like {NEURAL_CACHE}rnn.pt (for an n-gram model, use the unigram cache: cache)")
    rnn = open_model(ckpt, device=device)
    model = NeuralCacheLM(rnn.model, **settings) if settings else ChosenNeuralCache(rnn.model)
    return SavedModel(ckpt, "neural-cache", model, f"{rnn.description} + {model.describe()}", rnn.trained_on, rnn.description)


def _open_cache(name: str, vocab: Vocab | None) -> SavedModel:
    from lmstats.cache import CacheLM, ChosenCache

    window = name[len(CACHE):]
    if vocab is not None and name == CACHE[:-1]:
        model = ChosenCache(vocab)
        return SavedModel(name, "cache", model, model.describe(), None)
    if not window.isdigit():
        raise LmstatsError(f"{name}: a cache is named cache:W, W its window in tokens (a whole number), like cache:500")
    if vocab is None:
        raise LmstatsError(f"{name}: a cache predicts the words of another model's vocabulary; mix it with a saved model "
                           "(lmstats mix MODEL cache:500)")
    model = CacheLM(vocab, int(window))
    return SavedModel(name, "cache", model, model.describe(), None)


def settled(saved: SavedModel, model: LanguageModel) -> SavedModel:
    """``saved`` (a cache of :func:`~lmstats.mixture.settle`) with the model chosen on valid, named as it is stored."""
    from dataclasses import replace

    if saved.kind == "cache":
        return replace(saved, path=f"{CACHE}{model.window}", model=model, description=model.describe())
    return replace(saved, model=model, description=f"{saved.base} + {model.describe()}")


def open_ngram(path: str | Path):
    """The n-gram model saved at ``path``: a :class:`~lmstats.ngram.compact.CompactNgramLM` where its meta.json says it is
    compact, else an :class:`~lmstats.ngram.model.NgramLM` (a folder or ``.npz``); memory-mapped, nothing built."""
    from lmstats.ngram.compact_storage import is_compact

    if is_compact(path):
        from lmstats.ngram.compact import CompactNgramLM

        return CompactNgramLM.load(path)
    from lmstats.ngram.model import NgramLM

    return NgramLM.load(path)


def load(path: str | Path, *, device: str = "cpu") -> LanguageModel:
    """The model saved at ``path``, of any kind (see the module docstring), ready to score, with what it was
    trained on as its ``trained_on_`` (None for an ARPA file): ``lmstats.load(path).score_text(text)`` reads the
    text as the model was trained and gives what ``lmstats score`` prints.  ``device``: where an RNN runs."""
    saved = open_model(path, device=device)
    saved.model.trained_on_ = saved.trained_on
    return saved.model


def open_models(paths, *, device: str = "cpu", _opening: tuple[Path, ...] = (), settings: dict | None = None) -> list[SavedModel]:
    """Every model of ``paths``; ARPA files are read under the vocabulary of the first model that has one (``settings``:
    index -> the stored settings of a neural cache)."""
    kinds = [model_kind(p) for p in paths]
    pairs = list(enumerate(zip(paths, kinds, strict=True)))
    opened = {i: open_model(p, device=device, _opening=_opening, settings=(settings or {}).get(i)) for i, (p, k) in pairs
              if k not in NEEDS_VOCAB}
    if len(opened) < len(paths):
        if not opened:
            raise LmstatsError("ARPA files and caches alone carry no corpus vocabulary; add the n-gram folder or RNN checkpoint "
                               "of the corpus (for ARPA files, the one they were made with)")
        vocab = next(iter(opened.values())).model.vocab
        opened |= {i: open_model(p, vocab=vocab) for i, (p, k) in pairs if k in NEEDS_VOCAB}
    return [opened[i] for i in range(len(paths))]


def common_training(models: list[SavedModel]) -> TrainedOn | None:
    """What the models were trained on: the record they keep (their corpora and vocabulary options must agree;
    the first known data folder and subword pieces are taken), or None when none of them keeps one."""
    known = [m for m in models if m.trained_on is not None]
    if not known:
        return None
    first = known[0]
    for other in known[1:]:
        if (other.trained_on.corpus, other.trained_on.vocab_spec) != (first.trained_on.corpus, first.trained_on.vocab_spec):
            raise LmstatsError(f"{first.path} and {other.path} were trained on different corpora or vocabulary options; "
                               "a mixture scores one corpus under one vocabulary — mix models of the same corpus")
    data_dir = next((m.trained_on.data_dir for m in known if m.trained_on.data_dir), None)
    tokenizer = next((m.trained_on.tokenizer for m in known if m.trained_on.tokenizer), None)
    return TrainedOn(first.trained_on.corpus, first.trained_on.vocab_spec, data_dir, tokenizer)


def save_mixture(path: str | Path, models: list[SavedModel], weights, *, tuned: dict | None = None) -> None:
    """Write a mixture file: its components' paths (relative to the file's folder) and weights."""
    path = Path(path)
    folder = path.resolve().parent
    components = []
    for m, w in zip(models, weights, strict=True):
        target = Path(m.path).resolve()
        try:
            stored = m.path if m.kind == "cache" else str(target.relative_to(folder))
        except ValueError:
            stored = str(target)
        component = {"path": stored, "kind": m.kind, "description": m.description, "weight": float(w)}
        if m.kind == "neural-cache":  # the settings chosen on valid
            component["settings"] = {"window": m.model.window, "theta": m.model.theta, "lam": m.model.lam}
        components.append(component)
    data = {"format": MIXTURE_FORMAT, "version": MIXTURE_VERSION, "components": components, "tuned": tuned}
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def _open_mixture(path: Path, *, vocab: Vocab | None, device: str, opening: tuple[Path, ...]) -> SavedModel:
    """A mixture written by :func:`save_mixture`, its components opened from their stored paths; a mixture
    that lists itself (directly or through another mixture) is an error, not an endless recursion."""
    key = path.resolve()
    if key in opening:
        chain = " -> ".join(str(p) for p in (*opening, key))
        raise LmstatsError(f"{path}: the mixture lists itself ({chain}); a mixture's components must be other models")
    opening = (*opening, key)
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
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
    paths = [c["path"] if c["path"].startswith(CACHE) else folder / c["path"] for c in components]
    neural = {i: c["settings"] for i, c in enumerate(components) if c.get("kind") == "neural-cache" and isinstance(c.get("settings"), dict)}
    paths = [f"{NEURAL_CACHE}{p}" if i in neural else p for i, p in enumerate(paths)]
    opened = open_models(paths, device=device, _opening=opening, settings=neural) if vocab is None else [
        open_model(p, vocab=vocab, device=device, _opening=opening, settings=neural.get(i)) for i, p in enumerate(paths)]
    mixture = Mixture([m.model for m in opened], [c["weight"] for c in components], names=[m.description for m in opened])
    description = "mixture of " + " + ".join(f"{w:.3f}·{m.description}" for m, w in zip(opened, mixture.weights, strict=True))
    return SavedModel(str(path), "mixture", mixture, description, common_training(opened))
