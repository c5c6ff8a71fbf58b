"""AES-256-GCM for registered passwords, bound to the row they belong to.

Keys form a ring: the first encrypts, all decrypt, so keys can be rotated without downtime.
The row id is the associated data, so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from catalog.errors import CredentialError, InvalidInputError

_NONCE_BYTES = 12


def generate_key() -> str:
    """A fresh 256-bit key, url-safe base64, as CATALOG_SECRET_KEYS takes it."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInputError("a secret key is not valid base64") from None
    if len(raw) != 32:
        raise InvalidInputError("a secret key must be 32 bytes (256 bits) once decoded")
    return raw


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes  # nonce followed by ciphertext and tag


@dataclass(frozen=True)
class SecretCipher:
    keys: tuple[bytes, ...] = field(repr=False)

    @classmethod
    def from_keys(cls, encoded: tuple[str, ...] | list[str]) -> SecretCipher:
        if not encoded:
            raise InvalidInputError("at least one secret key is needed")
        return cls(tuple(_decode_key(k) for k in encoded))

    @staticmethod
    def key_id(key: bytes) -> str:
        return hashlib.sha256(key).hexdigest()[:16]

    def encrypt(self, plaintext: str, bound_to: str) -> Sealed:
        key = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        blob = nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), bound_to.encode())
        return Sealed(self.key_id(key), blob)

    def decrypt(self, sealed: Sealed, bound_to: str) -> str:
        key = next((k for k in self.keys if self.key_id(k) == sealed.key_id), None)
        if key is None:
            raise CredentialError(f"no configured secret key has id {sealed.key_id}")
        nonce, body = sealed.blob[:_NONCE_BYTES], sealed.blob[_NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, body, bound_to.encode()).decode()
        except InvalidTag:
            raise CredentialError("stored secret does not decrypt for this record") from None
