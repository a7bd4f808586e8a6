"""Webhook signing secrets: made, shown once, kept encrypted at rest, and what each attempt signs.

A receiver checks an HMAC with the secret itself, so the server must be able to read it back:
a hash would not do. It is stored encrypted with AES-256-GCM under a key derived from
`LRHUB_WEBHOOK_KEY` (SHA-256 of it), with the webhook's id as associated data, so a database
dump without the key gives no secret, and a ciphertext moved to another webhook's row does not
decrypt. See SECURITY.md for what this does not protect against.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
_FORMAT = "v1:"
_NONCE_BYTES = 12


class SecretUnreadable(ValueError):
    """A stored secret that the configured key does not decrypt (another key, or altered)."""


def new_secret() -> str:
    """A new signing secret, `whsec_` and the base64 of 32 random bytes (the Standard
    Webhooks format its libraries read)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _cipher(key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(key.encode()).digest())


def seal(key: str, webhook_id: str, secret: str) -> str:
    """`secret` encrypted under `key`, bound to `webhook_id`: what the database keeps."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(key).encrypt(nonce, secret.encode(), webhook_id.encode())
    return _FORMAT + base64.b64encode(nonce + sealed).decode()


def unseal(key: str, webhook_id: str, stored: str) -> str:
    """The secret `seal` stored for `webhook_id`; SecretUnreadable with any other key."""
    if not stored.startswith(_FORMAT):
        raise SecretUnreadable("the stored secret is in no format this server knows")
    raw = base64.b64decode(stored.removeprefix(_FORMAT))
    try:
        plain = _cipher(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], webhook_id.encode())
    except InvalidTag as error:
        raise SecretUnreadable(
            "the stored secret does not decrypt with LRHUB_WEBHOOK_KEY (was the key changed?)"
        ) from error
    return plain.decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header of one attempt: `v1,` and the base64 HMAC-SHA256, keyed
    with the secret's bytes, of `{id}.{timestamp}.{body}` (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    mac = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()
