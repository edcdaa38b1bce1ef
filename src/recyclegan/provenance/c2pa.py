"""Signed C2PA provenance for output videos, through the optional `c2pa-python` package.

`sign_video` embeds a manifest saying that recyclegan made the video with a trained model,
with the run, the direction and the source file's hash; `read_c2pa` reads and validates one.
Both work offline: no timestamp authority, no OCSP, no remote manifests. The manifest binds
the file's bytes, so any re-encoding or edit drops or invalidates it (the watermark is what
survives those).

c2pa is imported inside the functions: without it `recyclegan` still imports, and both
functions raise `C2paUnavailable`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recyclegan import __version__
from recyclegan.errors import RecycleganError
from recyclegan.fileio import atomic_write

if TYPE_CHECKING:
    from types import ModuleType

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

ASSERTION_LABEL = "org.recyclegan.retarget"
CLAIM_KEYS = ("run", "direction", "source_sha256")
TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
# Containers c2pa embeds a manifest in (BMFF and RIFF); it cannot sign Matroska or WebM.
MIME_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/avi",
}
INSTALL_HINT = "signing needs the c2pa extra: pip install 'recyclegan[c2pa]'"
# Offline: never fetch OCSP responses or manifests stored elsewhere.
_OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
_UNTRUSTED = "signingCredential.untrusted"
_CERT_PROFILE = (
    "c2pa needs an end-entity (not CA) certificate, with the digitalSignature key usage, "
    "the emailProtection or timeStamping extended key usage, an authority key identifier, "
    "and a validity period that covers now"
)


class C2paUnavailable(RecycleganError):
    """The c2pa extra is not installed, so nothing was signed or checked."""


@dataclass(frozen=True)
class C2paReport:
    """What a file's C2PA manifest says and whether it validates.

    `state` is c2pa's verdict in lower case: "trusted" (valid, and the signer chains to a
    given trust anchor), "valid" (intact and correctly signed, signer not trusted), "invalid",
    or "unreadable" (c2pa could not parse the file; whether it has a manifest is unknown).
    `errors` holds "code: explanation" for each failed check, leaving out the signer's
    untrusted status (that is `trusted`). `organization` is the organisation in the signing
    certificate (what c2pa calls the issuer). `assertion` is our custom assertion's content.
    """

    state: str
    errors: tuple[str, ...] = ()
    claim_generator: str | None = None
    signer: str | None = None
    organization: str | None = None
    assertion: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("valid", "trusted")

    @property
    def trusted(self) -> bool:
        return self.state == "trusted"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with `valid` and `trusted`."""
        return {**asdict(self), "errors": list(self.errors), "valid": self.valid,
                "trusted": self.trusted}


def sign_video(src: Path, dst: Path, key: Path, cert: Path, *, claim: dict[str, Any]) -> None:
    """Write `src` to `dst` with a signed C2PA manifest embedded (atomically; `dst` may be `src`).

    `key` is a PEM private key (EC P-256/P-384/P-521, RSA for PS256, or Ed25519) and `cert`
    the PEM signing certificate, optionally followed by its chain. `claim` must hold `run`,
    `direction` and `source_sha256` (more JSON-ready keys are kept); it becomes the
    `org.recyclegan.retarget` assertion, beside a `c2pa.created` action with the
    trainedAlgorithmicMedia source type.
    """
    c2pa = _import_c2pa()
    src, dst = Path(src), Path(dst)
    mime = _mime_type(src)
    _mime_type(dst)  # refuse a destination that cannot carry the manifest
    if not src.is_file():
        raise RecycleganError(f"{src}: no such video file")
    if not dst.parent.is_dir():
        raise RecycleganError(f"{dst.parent}: no such folder")
    manifest = _manifest(dst.name, mime, claim)
    alg, key_pem, chain_pem = _load_credentials(Path(key), Path(cert))

    def write(tmp: Path) -> None:
        try:
            context = c2pa.Context.from_dict(_OFFLINE)
            info = c2pa.C2paSignerInfo(alg, chain_pem, key_pem, None)
            with (
                c2pa.Signer.from_info(info) as signer,
                c2pa.Builder(manifest, context=context) as builder,
                open(src, "rb") as source,
                open(tmp, "w+b") as target,
            ):
                builder.sign(signer, mime, source, target)
        except c2pa.C2paError as error:
            raise RecycleganError(_signing_error(error, src, cert)) from None

    atomic_write(dst, write)


def check_signing(dst: Path, key: Path, cert: Path) -> None:
    """Refuse, before any work is done, what `sign_video` would refuse: c2pa missing, a
    container that cannot carry a manifest, unreadable or mismatched credentials."""
    _import_c2pa()
    _mime_type(Path(dst))
    _load_credentials(Path(key), Path(cert))


def read_c2pa(path: Path, *, trust_anchors: Path | None = None) -> C2paReport | None:
    """Read and validate the C2PA manifest of the video at `path`, offline.

    Returns None when the file carries no manifest, or is in a container c2pa cannot
    carry one in (mkv, webm). `trust_anchors` is a PEM file of root certificates: a valid
    manifest whose signer chains to one reads as "trusted", otherwise at best "valid".
    Raises `C2paUnavailable` (a RecycleganError) when c2pa is not installed, so a caller
    can say that it could not check, and RecycleganError when the file cannot be opened.
    """
    c2pa = _import_c2pa()
    path = Path(path)
    context = c2pa.Context.from_dict(_reader_settings(trust_anchors))
    try:
        with open(path, "rb") as handle:
            reader = c2pa.Reader.try_create(MIME_TYPES.get(path.suffix.lower()), handle,
                                            context=context)
            if reader is None:
                return None
            with reader:
                store = json.loads(reader.json())
    except OSError as error:
        raise RecycleganError(f"{path}: cannot read: {error.strerror or error}") from None
    except c2pa.C2paError.NotSupported:
        return None
    except c2pa.C2paError as error:
        return C2paReport(state="unreadable", errors=(_one_line(error),))
    return _report(store)


def _import_c2pa() -> ModuleType:
    try:
        import c2pa
    except (ImportError, OSError):  # OSError: the native library failed to load
        raise C2paUnavailable(INSTALL_HINT) from None
    return c2pa


def _mime_type(path: Path) -> str:
    mime = MIME_TYPES.get(path.suffix.lower())
    if mime is None:
        known = " ".join(sorted(MIME_TYPES))
        raise RecycleganError(
            f"{path}: C2PA signing supports only {known} videos, not {path.suffix or 'this'}"
        )
    return mime


def _manifest(title: str, mime: str, claim: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in CLAIM_KEYS if key not in claim]
    if missing:
        raise ValueError(f"claim lacks {', '.join(missing)}")
    agent = {"name": "recyclegan", "version": __version__}
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
    }
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [created]}},
            {"label": ASSERTION_LABEL, "data": json.loads(json.dumps(claim))},
        ],
    }


def _load_credentials(key_path: Path, cert_path: Path) -> tuple[str, bytes, bytes]:
    """The c2pa algorithm name, the key as PKCS#8 PEM and the certificate chain as PEM."""
    from cryptography.hazmat.primitives import serialization

    key = _load_key(key_path)
    chain = _load_chain(cert_path)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != chain[0].public_key().public_bytes(der, spki):
        raise RecycleganError(f"{key_path} is not the key of the certificate {cert_path}")
    _check_validity(cert_path, chain[0])
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return _algorithm(key_path, key), key_pem, chain_pem


def _read_pem(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise RecycleganError(f"{path}: cannot read the {what}: {error.strerror}") from None


def _load_key(path: Path) -> PrivateKeyTypes:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    data = _read_pem(path, "signing key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise RecycleganError(
            f"{path}: the private key is encrypted; give an unencrypted PEM key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise RecycleganError(f"{path}: not a PEM private key") from None


def _load_chain(path: Path) -> list[x509.Certificate]:
    from cryptography import x509

    data = _read_pem(path, "signing certificate")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise RecycleganError(f"{path}: not a PEM certificate (chain)") from None


def _check_validity(path: Path, cert: x509.Certificate) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not start <= now <= end:
        raise RecycleganError(
            f"{path}: the signing certificate is valid from {start:%Y-%m-%d} to {end:%Y-%m-%d}, "
            "not now"
        )


def _algorithm(path: Path, key: PrivateKeyTypes) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in curves:
            return curves[key.curve.name]
    elif isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    name = getattr(getattr(key, "curve", None), "name", type(key).__name__)
    raise RecycleganError(
        f"{path}: C2PA cannot sign with a {name} key; use EC P-256, P-384 or P-521, RSA or Ed25519"
    )


def _signing_error(error: Exception, src: Path, cert: Path) -> str:
    message = _one_line(error)
    if "certificate is invalid" in message:
        return f"{cert}: c2pa rejects this signing certificate; {_CERT_PROFILE}"
    if "signingCredential" in message:
        return f"{cert}: c2pa rejects this signing certificate ({message}); {_CERT_PROFILE}"
    return f"{src}: C2PA signing failed: {message}"


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _reader_settings(trust_anchors: Path | None) -> dict[str, Any]:
    if trust_anchors is None:
        return _OFFLINE
    anchors = _read_pem(Path(trust_anchors), "trust anchors").decode("ascii", "replace")
    return {**_OFFLINE, "trust": {"trust_anchors": anchors}}


def _report(store: dict[str, Any]) -> C2paReport:
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    generators = manifest.get("claim_generator_info") or [{}]
    generator = " ".join(str(generators[0][k]) for k in ("name", "version") if k in generators[0])
    signature = manifest.get("signature_info") or {}
    assertion = next((a.get("data") for a in manifest.get("assertions", [])
                      if a.get("label") == ASSERTION_LABEL), None)
    errors = tuple(f"{s.get('code')}: {s.get('explanation', '')}".rstrip(": ")
                   for s in store.get("validation_status") or []
                   if s.get("code") != _UNTRUSTED)
    return C2paReport(
        state=str(store.get("validation_state", "invalid")).lower(),
        errors=errors,
        claim_generator=generator or manifest.get("claim_generator"),
        signer=signature.get("common_name"),
        organization=signature.get("issuer"),
        assertion=assertion,
    )
