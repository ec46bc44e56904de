"""The Dask engine: the same tables and estimate as the local engines, on a LocalCluster of 2 worker processes."""

import contextlib
import http.server
import json
import shutil
import socket
import socketserver
import subprocess
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import CorpusSpec, EncodedSplit, Lines, LmstatsError, Vocab, evaluate, load_corpus
from lmstats.cli import main
from lmstats.ngram import NgramLM
from lmstats.ngram.counts import count_ngrams
from lmstats.ngram.dask_cluster import connect_scheduler, dask_client
from lmstats.ngram.distributed import count_ngrams_dask, partition_units

from helpers import assert_one_line_error, assert_same_tables, shared_corpus

distributed = pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with dask_client(None, workers=2, local_directory=tmp_path_factory.mktemp("dask")) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        yield c


def random_units(seed: int, n_lines: int, vocab_size: int) -> Lines:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 12, size=n_lines)
    return Lines.from_lengths(rng.integers(3, vocab_size, size=int(lengths.sum())), lengths)


def test_partitions_are_whole_units_in_order():
    units = random_units(0, 500, 40)
    for size in (1, 7, 50, 10_000):
        parts = partition_units(units, size)
        assert np.array_equal(np.concatenate([p[0] for p in parts]), units.ids)
        assert np.array_equal(np.concatenate([p[1] for p in parts]), units.lengths)
        if size >= 13:  # every unit (<= 12 tokens and its <s>) fits: no partition overfull
            assert all(int((p[1] + 1).sum()) <= size for p in parts)


@pytest.mark.slow
@pytest.mark.parametrize("order", [1, 2, 4])
def test_dask_counting_equals_local_counting(client, tmp_path, order):
    """Many partitions of 1000 positions and key ranges of a few hundred entries (a tiny client budget)."""
    units = random_units(order, 2000, 60)
    expected = count_ngrams(units, order, 60, 1)
    import lmstats.ngram.distributed as engine

    old = engine.BYTES_PER_ENTRY
    try:  # ranges of about 300 entries
        engine.BYTES_PER_ENTRY = 1 << 18
        got = count_ngrams_dask(units, order, 60, 1, client=client, tables_dir=tmp_path, memory=64 << 20, partition_positions=1000)
    finally:
        engine.BYTES_PER_ENTRY = old
    assert_same_tables(expected, got)


@pytest.mark.slow
def test_dask_counts_a_text_with_no_ngram_of_the_top_order(client, tmp_path):
    units = Lines.from_seqs([[3], [4, 5], []])
    assert_same_tables(count_ngrams(units, 4, 6, 1), count_ngrams_dask(units, 4, 6, 1, client=client, tables_dir=tmp_path, memory=64 << 20))


@pytest.mark.slow
@pytest.mark.parametrize("tight", [False, True])
def test_dask_engine_gives_the_local_engines_model_on_wikitext2(client, tmp_path, tight, tight_memory):
    """WikiText-2, 5-gram MKN: identical estimate (in memory, and on disk when --memory forces it)."""
    folder = shared_corpus("wikitext-2")
    corpus = load_corpus(CorpusSpec("wikitext-2"), data_dir=folder.parent)
    vocab = corpus.build_vocab()
    splits = corpus.encode(vocab)
    memory = tight_memory() if tight else None
    local = NgramLM(vocab, 5).fit(splits.train, memory=memory, tmp=tmp_path)
    dask = NgramLM(vocab, 5).fit(splits.train, memory=memory, tmp=tmp_path, engine="dask", scheduler=client)
    assert_same_tables(local.counts_, dask.counts_)
    assert isinstance(dask.counts_.table(5).keys, np.memmap) == tight  # on disk when the budget says so, as the local engine
    for k in range(1, 6):
        assert np.array_equal(local.estimate_.probs[k - 1], dask.estimate_.probs[k - 1])
    a, b = evaluate(local, splits.test), evaluate(dask, splits.test)
    assert a.nll_sum == b.nll_sum and a.n_tokens == b.n_tokens


@pytest.mark.slow
def test_dask_engine_through_the_cli(tmp_path, capsys):
    """`--engine dask` on a small text: a LocalCluster of this machine's cores, the local engine's perplexities."""
    text = tmp_path / "c.txt"
    rng = np.random.default_rng(1)
    text.write_text("\n".join(" ".join(f"w{i}" for i in rng.integers(0, 30, size=rng.integers(1, 15))) for _ in range(400)) + "\n")
    local = CliRunner().invoke(main, ["ngram", str(text), "--n", "3", "--json", "--out", str(tmp_path / "a")])
    dask = CliRunner().invoke(main, ["ngram", str(text), "--n", "3", "--json", "--engine", "dask", "--out", str(tmp_path / "b")])
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    ra, rb = json.loads(local.stdout)["results"], json.loads(dask.stdout)["results"]
    for split in ("valid", "test"):
        a, b = ra[split]["sentence"], rb[split]["sentence"]
        assert (a["nll_sum"], a["n_tokens"]) == (b["nll_sum"], b["n_tokens"])
    assert "on the Dask cluster (a LocalCluster of this machine)" in dask.stderr


@pytest.fixture
def corpus_file(tmp_path):
    text = tmp_path / "c.txt"
    text.write_text("a b c\nb c d\n" * 50)
    return text


@pytest.fixture
def one_second(monkeypatch):
    """The connection's time limit, at 1 s: the error names the limit the code used."""
    import lmstats.ngram.dask_cluster as cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)


@contextlib.contextmanager
def serving(server):
    """``server`` (a socketserver) answering in a thread while the block runs."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("address", "accepted"), [
    ("tcp://10.0.0.5:8786", ("tcp", "10.0.0.5", 8786)), ("10.0.0.5:8786", ("tcp", "10.0.0.5", 8786)),
    ("tls://sched.example:8786", ("tls", "sched.example", 8786)), ("tcp://[::1]:8786", ("tcp", "::1", 8786)),
    ("inproc://10.0.0.5/123/1", ("inproc", "10.0.0.5/123/1", None)),
    ("garbage", None), ("tcp://host", None), ("tcp://:8786", None), ("tcp://host:99999", None), ("tcp://host:port", None),
    ("http://host:8786", None), ("inproc://", None), ("tcp://host:8786/path", None),
])
def test_scheduler_addresses_are_checked_before_any_connection(address, accepted):
    from lmstats.ngram.dask_cluster import scheduler_address

    if accepted:
        assert scheduler_address(address) == accepted
    else:
        with pytest.raises(LmstatsError, match="is not a Dask address"):
            scheduler_address(address)


def test_a_garbage_address_is_refused_before_the_corpus_is_read(tmp_path):
    result = CliRunner().invoke(main, ["ngram", str(tmp_path / "missing.txt"), "--n", "2", "--scheduler", "garbage"])
    assert_one_line_error(result, "--scheduler 'garbage' is not a Dask address (it is not of the form HOST:PORT)")


def test_a_refused_connection_is_one_clear_error_at_once(corpus_file):
    """Nothing listens on the port: said at once (no retrying until the time limit)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["ngram", str(corpus_file), "--n", "2", "--scheduler", address])
    assert_one_line_error(result, f"cannot reach a Dask scheduler at {address} (Connection refused)")


def test_an_unroutable_address_ends_at_the_time_limit(corpus_file, one_second):
    """A host that drops the connection request (as an unroutable address does) is given up after the limit.
    A listener with a full backlog stands for it here: Linux drops the SYNs it has no room for."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        with socket.create_connection(listener.getsockname()):  # the one connection its backlog holds
            address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
            result = CliRunner().invoke(main, ["ngram", str(corpus_file), "--n", "2", "--scheduler", address])
    assert_one_line_error(result, f"cannot reach a Dask scheduler at {address} (no answer within 1 s)")


def test_an_http_server_is_one_clear_error_at_the_time_limit(corpus_file, one_second):
    """An HTTP server (a scheduler's dashboard, say) waits for a request, as Dask's handshake waited for an answer: for ever."""
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)) as address:
        result = CliRunner().invoke(main, ["ngram", str(corpus_file), "--n", "2", "--scheduler", address])
    assert_one_line_error(result, f"the server at {address} does not speak Dask's protocol (it accepted the connection but "
                                  "sent no Dask greeting within 1 s")


class SaysHttp(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")


def test_a_server_speaking_another_protocol_is_refused_without_reading_its_message(corpus_file, monkeypatch):
    """Its first 8 bytes, read by distributed as a message's length, would ask for 3.5e18 bytes at once:
    the peer is refused before distributed reads anything from it."""
    real = distributed.comm.tcp.host_array

    def no_huge_buffer(n):  # (other clients of this process, a module's LocalCluster, go on reading their small messages)
        if n > 1 << 30:
            raise AssertionError(f"distributed was asked to read a message of {n} bytes")
        return real(n)

    monkeypatch.setattr(distributed.comm.tcp, "host_array", no_huge_buffer)
    with serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), SaysHttp)) as address:
        result = CliRunner().invoke(main, ["ngram", str(corpus_file), "--n", "2", "--scheduler", address])
    assert_one_line_error(result, f"the server at {address} does not speak Dask's protocol (it opened with b'HTTP/1.1', "
                                  "not the length of a Dask message)")


@pytest.mark.slow
def test_a_scheduler_address_connects_and_a_worker_address_is_refused(client):
    with dask_client(client.scheduler.address) as other:
        assert other is not client and len(other.scheduler_info()["workers"]) == 2
    worker = next(iter(client.scheduler_info()["workers"]))
    with pytest.raises(LmstatsError, match=r"speaks Dask's protocol but is no scheduler \(it says: Worker\)"), dask_client(worker):
        pass


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Port .* is already in use")  # its HTTP endpoint, not in use here
def test_a_tls_scheduler_connects_at_its_tls_address_and_is_named_at_its_tcp_one(tmp_path):
    """The greeting is read through TLS for tls://; the same port as tcp:// says nothing, and the error says where TLS goes."""
    import dask

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs openssl to make a certificate")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / "key.pem",
                    "-out", tmp_path / "cert.pem", "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    both = tmp_path / "both.pem"
    both.write_bytes((tmp_path / "cert.pem").read_bytes() + (tmp_path / "key.pem").read_bytes())
    config = {"distributed.comm.tls.ca-file": str(tmp_path / "cert.pem"),
              **{f"distributed.comm.tls.{role}.cert": str(both) for role in ("client", "scheduler", "worker")}}
    with dask.config.set(config), distributed.LocalCluster(n_workers=0, processes=False, protocol="tls", host="127.0.0.1",
                                                            security=distributed.Security(), dashboard_address=None) as cluster:
        with dask_client(cluster.scheduler_address) as client:
            assert client.scheduler_info()["type"] == "Scheduler"
        tcp = cluster.scheduler_address.replace("tls://", "tcp://")
        with pytest.raises(LmstatsError, match="sent no Dask greeting within 1 s; a scheduler that uses TLS is reached at tls://"):
            connect_scheduler(tcp, timeout=1)


def test_tls_without_dask_tls_settings_is_one_clear_error():
    import dask

    unset = {f"distributed.comm.tls.{key}": None for key in ("ca-file", "client.cert", "client.key")}
    with dask.config.set(unset), pytest.raises(LmstatsError, match="tls:// needs Dask's TLS settings"), dask_client("tls://127.0.0.1:8786"):
        pass


def test_scheduler_with_engine_local_is_refused(tmp_path):
    text = tmp_path / "c.txt"
    text.write_text("a b c\n" * 20)
    result = CliRunner().invoke(main, ["ngram", str(text), "--engine", "local", "--scheduler", "tcp://127.0.0.1:1"])
    assert_one_line_error(result, "drop one of them")


def test_unknown_engine_is_refused():
    vocab = Vocab.build([["a"]])
    with pytest.raises(LmstatsError, match="engine must be one of"):
        NgramLM(vocab, 2).fit(EncodedSplit("train", Lines.from_seqs([[3]]), vocab), engine="spark")


@pytest.mark.slow
@pytest.mark.parametrize("worker", [type("WorkerState", (), {"address": "tcp://127.0.0.1:1"})(), "no address"])
def test_a_worker_lost_mid_count_is_one_clear_error(client, tmp_path, monkeypatch, worker):
    """A worker killed (for memory, say) while counting: the cluster's exception becomes one LmstatsError
    (also when the exception cannot format itself: KilledWorker's message reads ``last_worker.address``)."""
    import lmstats.ngram.distributed as engine

    def killed(*args, **kwargs):
        raise distributed.KilledWorker("count-task", worker, 3)

    monkeypatch.setattr(engine, "count_on_cluster", killed)
    vocab = Vocab.build([["a", "b"]])
    with pytest.raises(LmstatsError, match="the Dask cluster lost work in progress .* a worker died"):
        NgramLM(vocab, 2).fit(EncodedSplit("train", Lines.from_seqs([[3, 4]]), vocab), engine="dask", scheduler=client, tmp=tmp_path)
