"""Ed25519 signing of artifacts. What is signed is a statement binding name, version and sha256,
so a signature cannot be moved to another plugin or version."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.files import atomic_write_bytes
from contracts.layout import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE


def statement(name: str, version: str, sha256: str) -> bytes:
    return f"pluginops-artifact-v1\n{name}\n{version}\n{sha256}\n".encode()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate(out_dir: Path, overwrite: bool = False) -> tuple[Path, Path, str]:
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    if private_path.exists() and not overwrite:
        raise PluginopsError(Code.KEY_EXISTS, "a signing key is already there",
                             where=str(private_path),
                             next_step="keep it, or pass --force to replace it")
    key = Ed25519PrivateKey.generate()
    atomic_write_bytes(private_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), mode=0o600)
    atomic_write_bytes(public_path, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path, key_id(key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PluginopsError(Code.KEY_INVALID, f"not an Ed25519 private key: {exc}",
                             where=str(path), next_step="create one with `pluginops keygen`"
                             ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PluginopsError(Code.KEY_INVALID, "not an Ed25519 key", where=str(path),
                             next_step="create one with `pluginops keygen`")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PluginopsError(Code.KEY_INVALID, f"not an Ed25519 public key: {exc}",
                             where=str(path),
                             next_step="use the signing.pub written by `pluginops keygen`",
                             ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise PluginopsError(Code.KEY_INVALID, "not an Ed25519 key", where=str(path),
                             next_step="use the signing.pub written by `pluginops keygen`")
    return key


def sign(key: Ed25519PrivateKey, name: str, version: str, sha256: str) -> str:
    return base64.b64encode(key.sign(statement(name, version, sha256))).decode("ascii")


def verify(public: Ed25519PublicKey, signature: str, name: str, version: str,
           sha256: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), statement(name, version, sha256))
    except (InvalidSignature, ValueError):
        return False
    return True
