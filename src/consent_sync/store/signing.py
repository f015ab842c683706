"""Signed anchors: an Ed25519 signature over a ledger head (`SEQ:HASH`), keys from the environment.

A signature lets an anchor travel through places that are not append-only (a ticket, a chat)
and still prove it is one `consent-sync ledger head` printed. Keys are read from the
environment as base64 of the 32 raw key bytes or as PEM (PKCS#8 private key, SubjectPublicKeyInfo
public key), and never appear in a message, a log line or an exception.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consent_sync.store.ledger import Anchor, LedgerAnchorError

SIGNING_KEY_ENV = "CONSENT_SYNC_LEDGER_SIGNING_KEY"
VERIFY_KEY_ENV = "CONSENT_SYNC_LEDGER_VERIFY_KEY"
SIGNATURE_PREFIX = "ed25519:"
# What is signed: a fixed context, so a signature over an anchor is never one over anything else.
_CONTEXT = b"consent-sync ledger head v1\n"
_KEY_FORMS = "base64 of the 32 raw key bytes, or PEM"


def signing_key(environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """The private key in CONSENT_SYNC_LEDGER_SIGNING_KEY, or None when it is not set."""
    value = (os.environ if environ is None else environ).get(SIGNING_KEY_ENV, "").strip()
    if not value:
        return None
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(value.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
            raise _bad_key(SIGNING_KEY_ENV, "an unencrypted Ed25519 private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise _bad_key(SIGNING_KEY_ENV, "an Ed25519 private key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw_key(SIGNING_KEY_ENV, value))


def verify_key(environ: Mapping[str, str] | None = None) -> Ed25519PublicKey | None:
    """The public key in CONSENT_SYNC_LEDGER_VERIFY_KEY, or None when it is not set."""
    value = (os.environ if environ is None else environ).get(VERIFY_KEY_ENV, "").strip()
    if not value:
        return None
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(value.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
            raise _bad_key(VERIFY_KEY_ENV, "an Ed25519 public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise _bad_key(VERIFY_KEY_ENV, "an Ed25519 public key")
        return key
    try:
        return Ed25519PublicKey.from_public_bytes(_raw_key(VERIFY_KEY_ENV, value))
    except ValueError:  # 32 bytes that are no point of the curve
        raise _bad_key(VERIFY_KEY_ENV, "an Ed25519 public key") from None


def sign(anchor: Anchor, key: Ed25519PrivateKey) -> str:
    """The signature of `anchor`, as `ed25519:<base64>`."""
    signature = key.sign(_CONTEXT + str(anchor).encode("ascii"))
    return SIGNATURE_PREFIX + base64.b64encode(signature).decode("ascii")


def parse_signature(text: str) -> bytes:
    """The 64 signature bytes of `ed25519:<base64>`; LedgerAnchorError saying why otherwise."""
    value = text.strip()
    body = value.removeprefix(SIGNATURE_PREFIX)
    try:
        raw = base64.b64decode(body.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if body == value or len(raw) != 64:
        shown = value if len(value) <= 100 else f"{value[:97]}..."
        raise LedgerAnchorError(
            f"{shown!r} is not a signature: expected {SIGNATURE_PREFIX}<base64 of 64 bytes>, "
            "as `consent-sync ledger head` prints it"
        )
    return raw


def signed_by(anchor: Anchor, signature: bytes, key: Ed25519PublicKey) -> bool:
    """Whether `signature` is the signature of `anchor` under the private half of `key`."""
    try:
        key.verify(signature, _CONTEXT + str(anchor).encode("ascii"))
    except InvalidSignature:
        return False
    return True


def _raw_key(variable: str, value: str) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        half = "private" if variable == SIGNING_KEY_ENV else "public"
        raise _bad_key(variable, f"an Ed25519 {half} key")
    return raw


def _bad_key(variable: str, what: str) -> LedgerAnchorError:
    # The value itself is never shown: it may be the private key, or a part of one.
    return LedgerAnchorError(f"{variable} is not {what} ({_KEY_FORMS})")
