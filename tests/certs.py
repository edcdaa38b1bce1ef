"""Signing credentials made on the spot for the C2PA tests: a root CA and an end-entity
certificate in the profile c2pa accepts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Credentials:
    key: Path
    cert: Path
    root: Path


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ])


def _hash(key) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _root(key) -> x509.Certificate:
    name = _name("Test Root CA", "Test Root")
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                     False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, _hash(key))
    )


def _signing_cert(key, root: x509.Certificate, root_key, *, ca: bool = False,
                  days: float = 30) -> x509.Certificate:
    """An end-entity certificate in the profile c2pa accepts: digitalSignature, an EKU of
    emailProtection, an authority key identifier, not a CA, valid now."""
    return (
        x509.CertificateBuilder().subject_name(_name("Test Signer", "Test Studio"))
        .issuer_name(root.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 3 * DAY).not_valid_after(NOW + days * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, ca, False, False, False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, _hash(root_key))
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def make_credentials(folder: Path, key, **cert_options) -> Credentials:
    folder.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _root(root_key)
    cert = _signing_cert(key, root, root_key, **cert_options)
    paths = Credentials(folder / "key.pem", folder / "chain.pem", folder / "root.pem")
    paths.key.write_bytes(key_pem(key))
    paths.cert.write_bytes(pem(cert) + pem(root))
    paths.root.write_bytes(pem(root))
    return paths
