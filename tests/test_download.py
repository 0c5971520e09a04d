"""The real download code against an HTTP server on 127.0.0.1 serving archives built here."""

import functools
import hashlib
import http.server
import io
import subprocess
import sys
import tarfile
import threading
import zipfile

import pytest

from predefined_prototypes.data import folds, get_dataset
from predefined_prototypes.data.audio import read_audio
from predefined_prototypes.data.download import ARCHIVES, DownloadError, download


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fsdd_archive(server, fsdd_root):
    """A tar.gz like the release: one top folder holding recordings/ (two speakers' digits)."""
    served, base = server
    path = served / "fsdd.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for wav in sorted((fsdd_root / "recordings").glob("[0-9]_[jt]*_[0-2].wav")):
            tar.add(wav, arcname=f"free-spoken-digit-dataset-1.0.9/recordings/{wav.name}")
    return f"{base}/fsdd.tar.gz", hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
def test_right_checksum_extracts_a_loadable_dataset(fsdd_archive, tmp_path):
    url, digest = fsdd_archive
    target = tmp_path / "data" / "fsdd"
    download("fsdd", target, url=url, sha256=digest)
    assert folds("fsdd", target) == ["jackson", "theo", "official"]
    test = get_dataset("fsdd", target, fold="theo", split="test")
    assert len(test) == 30 and test.clip_samples == 16000
    assert all(read_audio(f).numel() > 0 for f in test.files)  # every extracted file reads
    assert _leftovers(tmp_path / "data") == ["fsdd"]  # no temporary files


def test_wrong_checksum_leaves_nothing(fsdd_archive, tmp_path):
    url, _ = fsdd_archive
    target = tmp_path / "data" / "fsdd"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download("fsdd", target, url=url, sha256="0" * 64)
    assert not target.exists() and _leftovers(tmp_path / "data") == []


def test_member_escaping_target_is_refused(server, tmp_path):
    served, base = server
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("wav/03a01Fa.wav", b"RIFF")
        z.writestr("../evil.txt", b"owned")
    (served / "evil.zip").write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    target = tmp_path / "data" / "emodb"
    with pytest.raises(DownloadError, match="outside the target"):
        download("emodb", target, url=f"{base}/evil.zip", sha256=digest)
    assert not target.exists() and _leftovers(tmp_path / "data") == []
    assert not (tmp_path / "data" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_tar_member_escaping_target_is_refused(server, tmp_path):
    served, base = server
    path = served / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = b"owned"
        info = tarfile.TarInfo("top/../../evil.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DownloadError, match="outside the target"):
        download("speech_commands", tmp_path / "data" / "sc", url=f"{base}/evil.tar.gz", sha256=digest)
    assert _leftovers(tmp_path / "data") == []


def test_unreachable_server_leaves_nothing(tmp_path):
    with pytest.raises(DownloadError, match="download of"):
        download("fsdd", tmp_path / "data" / "fsdd", url="http://127.0.0.1:9/none.tar.gz", sha256="0" * 64)
    assert _leftovers(tmp_path / "data") == []


def test_unverified_archive_needs_explicit_consent(tmp_path):
    assert ARCHIVES["emodb"].sha256 is None
    with pytest.raises(DownloadError, match="allow-unverified"):
        download("emodb", tmp_path / "emodb")


def test_existing_target_is_not_overwritten(tmp_path):
    (tmp_path / "fsdd").mkdir()
    (tmp_path / "fsdd" / "mine.txt").write_text("keep")
    with pytest.raises(DownloadError, match="not empty"):
        download("fsdd", tmp_path / "fsdd")
    assert (tmp_path / "fsdd" / "mine.txt").read_text() == "keep"


@pytest.mark.slow
def test_cli_iemocap_explains_how_to_get_it():
    result = subprocess.run(
        [sys.executable, "-m", "predefined_prototypes", "data", "download", "iemocap", "--to", "x"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "licence" in result.stderr and "Session1" in result.stderr


def test_a_dataset_without_an_archive_says_how_to_get_it(tmp_path):
    from predefined_prototypes.data import DATASETS

    for name, module in DATASETS.items():
        if module.ARCHIVE is None:
            with pytest.raises(DownloadError, match=f"{name} cannot be downloaded automatically: "):
                download(name, tmp_path / name)
            assert module.OBTAIN and not (tmp_path / name).exists()
