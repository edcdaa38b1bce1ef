"""Signed C2PA provenance: signing a video with a locally made certificate, reading it back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certs import Credentials, key_pem, make_credentials
from recyclegan import __version__
from recyclegan.data.synthetic import moving_shapes_clip
from recyclegan.data.video_io import iter_video_frames, write_video
from recyclegan.errors import RecycleganError
from recyclegan.fileio import sha256_file
from recyclegan.provenance.c2pa import (
    INSTALL_HINT,
    C2paUnavailable,
    read_c2pa,
    sign_video,
)


@pytest.fixture(scope="module")
def es256(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    key = ec.generate_private_key(ec.SECP256R1())
    return make_credentials(tmp_path_factory.mktemp("es256"), key)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return moving_shapes_clip(frames=8, size=32, seed=0, style="a")


def _video(folder: Path, clip: np.ndarray, suffix: str = ".mp4") -> Path:
    path = folder / f"in{suffix}"
    write_video(path, clip, fps=10)
    return path


def _claim(source: Path) -> dict[str, str]:
    return {"run": "0123456789abcdef", "direction": "a2b", "source_sha256": sha256_file(source)}


def _frames(path: Path) -> list[np.ndarray]:
    return [frame for _, frame in iter_video_frames(path)]


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".avi"])
def test_signed_video_validates_and_decodes_as_before(
    tmp_path: Path, es256: Credentials, clip: np.ndarray, suffix: str
) -> None:
    src = _video(tmp_path, clip, suffix)
    dst = tmp_path / f"out{suffix}"
    claim = _claim(src)
    sign_video(src, dst, es256.key, es256.cert, claim=claim)
    report = read_c2pa(dst)
    assert report is not None
    assert (report.state, report.valid, report.trusted, report.errors) == ("valid", True, False, ())
    assert report.claim_generator == f"recyclegan {__version__}"
    assert (report.signer, report.organization) == ("Test Signer", "Test Studio")
    assert report.assertion == claim
    before, after = _frames(src), _frames(dst)
    assert len(after) == len(before) == 8
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, dst.name])


def test_trust_anchor_makes_the_signer_trusted(
    tmp_path: Path, es256: Credentials, clip: np.ndarray
) -> None:
    src = _video(tmp_path, clip)
    sign_video(src, src, es256.key, es256.cert, claim=_claim(src))  # in place
    report = read_c2pa(src, trust_anchors=es256.root)
    assert report is not None and report.trusted and report.valid
    assert report.to_dict()["trusted"] is True


def test_altered_video_data_fails_validation(
    tmp_path: Path, es256: Credentials, clip: np.ndarray
) -> None:
    src = _video(tmp_path, clip)
    dst = tmp_path / "out.mp4"
    sign_video(src, dst, es256.key, es256.cert, claim=_claim(src))
    data = bytearray(dst.read_bytes())
    data[data.index(b"mdat") + 20] ^= 0xFF
    dst.write_bytes(bytes(data))
    report = read_c2pa(dst)
    assert report is not None and not report.valid
    assert report.state == "invalid"
    assert any(error.startswith("assertion.bmffHash.mismatch") for error in report.errors)


def test_re_encoding_drops_the_manifest(
    tmp_path: Path, es256: Credentials, clip: np.ndarray
) -> None:
    src = _video(tmp_path, clip)
    sign_video(src, src, es256.key, es256.cert, claim=_claim(src))
    write_video(tmp_path / "again.mp4", _frames(src), fps=10)
    assert read_c2pa(tmp_path / "again.mp4") is None


def test_truncated_signed_video_is_unreadable(
    tmp_path: Path, es256: Credentials, clip: np.ndarray
) -> None:
    src = _video(tmp_path, clip)
    dst = tmp_path / "out.mp4"
    sign_video(src, dst, es256.key, es256.cert, claim=_claim(src))
    dst.write_bytes(dst.read_bytes()[:1000])
    report = read_c2pa(dst)
    assert report is not None and report.state == "unreadable" and not report.valid
    assert report.errors


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_unsigned_video_has_no_report(tmp_path: Path, clip: np.ndarray, suffix: str) -> None:
    assert read_c2pa(_video(tmp_path, clip, suffix)) is None


def test_reading_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RecycleganError, match="cannot read"):
        read_c2pa(tmp_path / "absent.mp4")


@pytest.mark.parametrize("make_key", [
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: rsa.generate_private_key(65537, 2048),
    ed25519.Ed25519PrivateKey.generate,
], ids=["es384", "ps256", "ed25519"])
def test_other_key_algorithms_sign(tmp_path: Path, clip: np.ndarray, make_key) -> None:
    credentials = make_credentials(tmp_path / "keys", make_key())
    src = _video(tmp_path, clip)
    sign_video(src, tmp_path / "out.mp4", credentials.key, credentials.cert, claim=_claim(src))
    report = read_c2pa(tmp_path / "out.mp4")
    assert report is not None and report.valid


def _assert_refused(tmp_path: Path, clip: np.ndarray, key: Path, cert: Path, match: str,
                    dst_name: str = "out.mp4", src_suffix: str = ".mp4") -> None:
    src = _video(tmp_path, clip, src_suffix)
    with pytest.raises(RecycleganError, match=match) as caught:
        sign_video(src, tmp_path / dst_name, key, cert, claim=_claim(src))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / dst_name).exists()
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]


def test_wrong_key_is_refused(tmp_path: Path, es256: Credentials, clip: np.ndarray) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(key_pem(ec.generate_private_key(ec.SECP256R1())))
    _assert_refused(tmp_path, clip, other, es256.cert, "is not the key of the certificate")


@pytest.mark.parametrize(("src_suffix", "dst_name"), [
    (".mkv", "out.mkv"), (".webm", "out.webm"), (".mp4", "out.mkv"),
])
def test_unsupported_container_is_refused(
    tmp_path: Path, es256: Credentials, clip: np.ndarray, src_suffix: str, dst_name: str
) -> None:
    _assert_refused(tmp_path, clip, es256.key, es256.cert, "supports only .avi .m4v .mov .mp4",
                    dst_name=dst_name, src_suffix=src_suffix)


def test_unreadable_credentials_are_refused(
    tmp_path: Path, es256: Credentials, clip: np.ndarray
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a pem file\n")
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(key_pem(ec.generate_private_key(ec.SECP256R1()), b"secret"))
    missing = tmp_path / "missing.pem"
    cases = [
        (missing, es256.cert, "cannot read the signing key"),
        (garbage, es256.cert, "not a PEM private key"),
        (encrypted, es256.cert, "the private key is encrypted"),
        (es256.key, missing, "cannot read the signing certificate"),
        (es256.key, garbage, "not a PEM certificate"),
    ]
    for key, cert, match in cases:
        _assert_refused(tmp_path, clip, key, cert, match)


@pytest.mark.parametrize(("options", "match"), [
    ({"ca": True}, "c2pa rejects this signing certificate"),
    ({"days": -1}, "the signing certificate is valid from"),
], ids=["ca-certificate", "expired"])
def test_certificates_c2pa_rejects_are_refused(
    tmp_path: Path, clip: np.ndarray, options: dict, match: str
) -> None:
    credentials = make_credentials(tmp_path / "keys", ec.generate_private_key(ec.SECP256R1()),
                               **options)
    _assert_refused(tmp_path, clip, credentials.key, credentials.cert, match)


def test_claim_must_name_run_direction_and_source(
    tmp_path: Path, es256: Credentials, clip: np.ndarray
) -> None:
    src = _video(tmp_path, clip)
    with pytest.raises(ValueError, match="source_sha256"):
        sign_video(src, tmp_path / "out.mp4", es256.key, es256.cert,
                   claim={"run": "x", "direction": "a2b"})


def test_without_c2pa_both_functions_say_how_to_install(
    tmp_path: Path, es256: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)  # makes `import c2pa` raise ImportError
    video = tmp_path / "in.mp4"
    with pytest.raises(C2paUnavailable, match=r"pip install 'recyclegan\[c2pa\]'") as caught:
        sign_video(video, tmp_path / "out.mp4", es256.key, es256.cert, claim={})
    assert isinstance(caught.value, RecycleganError) and str(caught.value) == INSTALL_HINT
    with pytest.raises(C2paUnavailable):
        read_c2pa(video)


def test_module_imports_without_loading_c2pa() -> None:
    code = ("import sys, recyclegan.provenance.c2pa; "
            "print(sorted(m for m in ('c2pa', 'cryptography') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
