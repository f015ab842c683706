"""The OAuth 2.0 JWT bearer grant: an RS256 assertion checked against the app's certificate."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from consent_sync_sandbox.salesforce.errors import OAuthError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Audiences Salesforce accepts besides the server's own URL (an Experience Cloud site's).
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
MAX_LIFETIME = 300  # seconds an assertion may still be valid for (3 minutes plus clock skew)


def public_key(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA key of a PEM certificate (what a connected app stores) or a PEM public key."""
    if b"BEGIN CERTIFICATE" in pem:
        key: object = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the JWT certificate must hold an RSA key")
    return key


def _segment(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid_assertion() -> OAuthError:
    return OAuthError("invalid_grant", "invalid assertion")


def verify_assertion(
    assertion: str,
    *,
    key: rsa.RSAPublicKey | None,
    client_id: str,
    username: str,
    audiences: tuple[str, ...],
    now: float,
) -> None:
    """Accept the assertion or raise the OAuthError Salesforce answers for its first defect."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _invalid_assertion()
    try:
        header: Any = json.loads(_segment(parts[0]))
        claims: Any = json.loads(_segment(parts[1]))
        signature = _segment(parts[2])
    except (binascii.Error, ValueError):
        raise _invalid_assertion() from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _invalid_assertion()
    if header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", "invalid assertion: algorithm not supported")
    if claims.get("iss") != client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if key is None:
        raise OAuthError("invalid_client", "invalid client credentials")
    try:
        key.verify(
            signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise OAuthError("invalid_client", "invalid client credentials") from None
    if str(claims.get("aud", "")).rstrip("/") not in audiences:
        raise OAuthError("invalid_grant", "audience is invalid")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires <= now or expires > now + MAX_LIFETIME:
        raise OAuthError("invalid_grant", "expired authorization code")
    if claims.get("sub") != username:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
