import hashlib
import http.server
import io
import threading
import zipfile

import pytest

from lmstats import CorpusSpec, LmstatsError, load_corpus
from lmstats.text.catalogue import CatalogueEntry, CatalogueFile, fetch_file, load_catalogue, locate_corpus

TEXT = b"".join(b"word%d and more words here\n" % i for i in range(60))


def _file(split, path, url, data=TEXT, sha1=False):
    digest = hashlib.sha1(data).hexdigest() if sha1 else hashlib.sha256(data).hexdigest()
    return CatalogueFile(split, path, url, None if sha1 else digest, digest if sha1 else None, None, len(data))


@pytest.fixture
def http_root(tmp_path):
    """A loopback HTTP server over a temp folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_catalogue_lists_the_named_corpora_with_checksums():
    catalogue = load_catalogue()
    assert {"wikitext-2", "wikitext-103", "ptb", "tinyshakespeare", "timemachine"} <= set(catalogue)
    for entry in catalogue.values():
        for f in entry.files:
            assert f.sha256 or f.sha1, f"{entry.name}/{f.path} has no checksum"
            assert f.url or entry.archive
    assert catalogue["ptb"].predefined_splits and not catalogue["timemachine"].predefined_splits


def test_catalogue_checksums_match_the_shared_copies(shared_dir):
    for entry in load_catalogue().values():
        for f in entry.files:
            path = shared_dir / entry.name / f.path
            if path.exists() and f.sha256:
                assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256, path


def test_fetch_over_loopback_http_verifies_and_renames(http_root, tmp_path):
    root, base = http_root
    (root / "c.txt").write_bytes(TEXT)
    dest = tmp_path / "cache" / "c.txt"
    seen = []
    fetch_file(_file("all", "c.txt", f"{base}/c.txt"), dest, progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == TEXT
    assert seen[-1] == (len(TEXT), len(TEXT))


def test_checksum_mismatch_keeps_nothing(http_root, tmp_path):
    root, base = http_root
    (root / "c.txt").write_bytes(TEXT + b"tampered\n")
    dest = tmp_path / "cache" / "c.txt"
    with pytest.raises(LmstatsError, match="sha256 mismatch"):
        fetch_file(_file("all", "c.txt", f"{base}/c.txt"), dest)
    assert not dest.exists() and not list(dest.parent.iterdir())


def test_unreachable_url_is_a_clear_error(http_root, tmp_path):
    _, base = http_root
    with pytest.raises(LmstatsError, match="cannot download"):
        fetch_file(_file("all", "c.txt", f"{base}/missing.txt"), tmp_path / "x.txt")


def test_locate_downloads_once_into_the_cache_then_reuses(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(TEXT)
    entry = CatalogueEntry("toy", "toy corpus", "word", "lines", "", (_file("all", "toy.txt", src.as_uri()),))
    cache = tmp_path / "cache"
    paths = locate_corpus(entry, cache_dir=cache)
    assert paths["all"] == cache / "toy" / "toy.txt" and paths["all"].read_bytes() == TEXT
    src.unlink()  # a second call must not need the network
    assert locate_corpus(entry, cache_dir=cache)["all"].read_bytes() == TEXT
    with pytest.raises(LmstatsError, match="not in the cache"):
        locate_corpus(entry, cache_dir=tmp_path / "empty", download=False)


def test_archive_members_are_extracted_and_verified(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split in ("train", "valid", "test"):
            zf.writestr(f"toy/{split}.tokens", TEXT)
    archive_path = tmp_path / "toy.zip"
    archive_path.write_bytes(buf.getvalue())
    files = tuple(
        CatalogueFile(s, f"{s}.tokens", None, None, hashlib.sha1(TEXT).hexdigest(), f"toy/{s}.tokens", None)
        for s in ("train", "valid", "test")
    )
    archive = _file("archive", "toy.zip", archive_path.as_uri(), data=buf.getvalue(), sha1=True)
    entry = CatalogueEntry("toy", "", "word", "lines", "", files, archive)
    paths = locate_corpus(entry, cache_dir=tmp_path / "cache")
    assert {s: p.read_bytes() for s, p in paths.items()} == {s: TEXT for s in ("train", "valid", "test")}


def test_data_dir_must_hold_the_files(tmp_path):
    with pytest.raises(LmstatsError, match="not found under the data folder"):
        load_corpus(CorpusSpec("ptb"), data_dir=tmp_path)
