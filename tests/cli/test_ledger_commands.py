"""`ledger head` and `ledger verify --expect-head [--signature]` through the real CLI app, on
SQLite and PostgreSQL: anchoring the chain outside the database, signed or not."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Protocol

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from consent_sync.cli import app
from consent_sync.domain.model import Status
from consent_sync.store import Store
from consent_sync.store.signing import SIGNING_KEY_ENV, VERIFY_KEY_ENV
from support.paths import REPO
from support.store_builders import SF, ingest, seen

ANCHOR_LINE = re.compile(r"[0-9]+:[0-9a-f]{64}")
KeyForm = Callable[[Ed25519PrivateKey], tuple[str, str]]  # (private, public) as the env holds them


class Invoke(Protocol):
    def __call__(self, *args: str, **env: str | None) -> Result: ...


@pytest.fixture
def run(store: Store, migrated_db_url: str) -> Invoke:
    """`consent-sync ARGS` against the `store` fixture's database, with extra environment."""
    runner = CliRunner()

    def invoke(*args: str, **env: str | None) -> Result:
        base: dict[str, str | None] = {
            "CONSENT_SYNC_DATABASE_URL": migrated_db_url,
            "CONSENT_SYNC_CONFIG": str(REPO),
            SIGNING_KEY_ENV: None,
            VERIFY_KEY_ENV: None,
        }
        return runner.invoke(app, list(args), env={**base, **env})

    return invoke


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def _pem(key: Ed25519PrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _raw(key: Ed25519PrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def _three_decisions(store: Store) -> None:
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 2)], 3)
    ingest(store, [seen(SF, Status.GRANTED, 4)], 5)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _failed(result: Result, code: int, message: str) -> None:
    """The command exited `code` on purpose, saying `message`, without a traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.stderr
    assert "Traceback" not in result.output


def _anchor(run: Invoke, **env: str | None) -> str:
    lines = _ok(run("ledger", "head", **env)).splitlines()
    assert ANCHOR_LINE.fullmatch(lines[-1])
    return lines[-1]


def _as_attacker(engine: Engine, *statements: str, **params: object) -> None:
    """Run `statements` with every trigger out of the way, as a database superuser could."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            query = text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            for name in list(connection.execute(query).scalars()):
                connection.execute(text(f'DROP TRIGGER "{name}"'))
        for statement in statements:
            connection.execute(text(statement), params)


def test_head_prints_seq_and_hash_alone_on_its_last_line(run: Invoke, store: Store) -> None:
    """`ledger head` prints the newest row as SEQ:HASH, and `0:000…` for an empty ledger."""
    assert _anchor(run) == f"0:{'0' * 64}"
    _three_decisions(store)
    newest = list(store.views.ledger())[-1]
    assert _ok(run("ledger", "head")) == f"3:{newest.hash}\n"


def test_verify_against_the_anchor_then_after_more_decisions(run: Invoke, store: Store) -> None:
    """The anchor verifies now and after the chain grew past it."""
    _three_decisions(store)
    anchor = _anchor(run)
    assert f"3 row(s) verified; it holds the anchored head {anchor}" in _ok(
        run("ledger", "verify", "--expect-head", anchor)
    )
    ingest(store, [seen(SF, Status.DENIED, 6)], 7)
    assert "4 row(s) verified" in _ok(run("ledger", "verify", "--expect-head", anchor))


def test_truncation_with_every_trigger_dropped_fails_against_the_anchor(
    run: Invoke, store: Store
) -> None:
    """Triggers dropped, the newest row deleted, the head and the state moved back: plain
    verify cannot tell, but verify against the anchor kept elsewhere exits 1."""
    _three_decisions(store)
    anchor = _anchor(run)
    second = list(store.views.ledger())[1]
    _as_attacker(
        store.engine,
        "DELETE FROM ledger WHERE seq = 3",
        "UPDATE ledger_head SET seq = 2, hash = :hash",
        "UPDATE consent_state SET ledger_seq = 2, status = 'denied'",
        hash=second.hash,
    )
    assert "ledger OK: 2 row(s)" in _ok(run("ledger", "verify"))
    _failed(
        run("ledger", "verify", "--expect-head", anchor),
        1,
        f"ledger row 3: is missing: the chain ends at row 2, before the anchored head {anchor}",
    )


def test_truncation_that_left_the_state_behind_fails_even_without_the_anchor(
    run: Invoke, store: Store
) -> None:
    """The newest row deleted and the head moved back, the canonical state untouched: verify
    exits 1 because the state points past the chain."""
    _three_decisions(store)
    second = list(store.views.ledger())[1]
    _as_attacker(
        store.engine,
        "DELETE FROM ledger WHERE seq = 3",
        "UPDATE ledger_head SET seq = 2, hash = :hash",
        hash=second.hash,
    )
    _failed(run("ledger", "verify"), 1, "points at ledger row 3, which is not in the chain")


def test_a_deleted_chain_head_fails_verify_and_head_without_a_traceback(
    run: Invoke, store: Store
) -> None:
    """With ledger_head's row deleted, `verify` and `head` exit 1 saying so."""
    _three_decisions(store)
    _as_attacker(store.engine, "DELETE FROM ledger_head")
    message = "the chain head (table ledger_head) is missing"
    _failed(run("ledger", "verify"), 1, message)
    result = run("ledger", "head")
    _failed(result, 1, message)
    assert result.stdout == ""  # no anchor of a chain that does not verify


@pytest.mark.parametrize(
    "anchor",
    [
        "3",
        "3:",
        "-1:" + "0" * 64,
        "03:" + "0" * 64,
        "3:" + "0" * 63,
        "3:" + "A" * 64,
        "²:" + "0" * 64,
        "9" * 5000 + ":" + "0" * 64,
    ],
)
def test_malformed_expect_head_is_a_usage_error(run: Invoke, anchor: str) -> None:
    """A --expect-head that is not SEQ:HASH exits 2 saying what is expected."""
    result = run("ledger", "verify", "--expect-head", anchor)
    _failed(result, 2, "is not SEQ:HASH")
    assert len(result.stderr) < 500  # a 5,000-digit argument is not echoed whole


@pytest.mark.parametrize("form", [_pem, _raw])
def test_signed_head_verifies_with_the_public_key(
    run: Invoke, store: Store, key: Ed25519PrivateKey, form: KeyForm
) -> None:
    """With a signing key (PEM or base64 raw), `head` prints the signature before the anchor,
    never the key; verify accepts it with the public key and refuses any change."""
    private, public = form(key)
    _three_decisions(store)
    result = run("ledger", "head", **{SIGNING_KEY_ENV: private})
    signature, anchor = _ok(result).splitlines()
    assert signature.startswith("ed25519:")
    assert ANCHOR_LINE.fullmatch(anchor)
    assert private.strip() not in result.output
    assert "PRIVATE KEY" not in result.output
    verified = run(
        "ledger", "verify", "--expect-head", anchor, "--signature", signature,
        **{VERIFY_KEY_ENV: public},
    )  # fmt: skip
    assert "(signature verified)" in _ok(verified)
    other = f"2:{list(store.views.ledger())[1].hash}"  # a true row, but not what was signed
    _failed(
        run(
            "ledger", "verify", "--expect-head", other, "--signature", signature,
            **{VERIFY_KEY_ENV: public},
        ),
        1,
        f"the signature is not one of {other} by the key in {VERIFY_KEY_ENV}",
    )  # fmt: skip


def test_a_signature_by_another_key_is_refused(run: Invoke, key: Ed25519PrivateKey) -> None:
    """A signature made with another key than the public key's exits 1."""
    signature, anchor = _ok(run("ledger", "head", **{SIGNING_KEY_ENV: _raw(key)[0]})).splitlines()
    stranger = _raw(Ed25519PrivateKey.generate())[1]
    _failed(
        run(
            "ledger", "verify", "--expect-head", anchor, "--signature", signature,
            **{VERIFY_KEY_ENV: stranger},
        ),
        1,
        "another key signed it",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--signature", "ed25519:AAAA"), {}, "--signature needs --expect-head"),
        (("--signature", "ed25519:AAAA"), {"anchor": True}, "is not a signature"),
        (("--signature", "rsa:" + "A" * 88), {"anchor": True}, "is not a signature"),
        (("--signature", "ed25519:" + "A" * 86 + "=="), {"anchor": True}, VERIFY_KEY_ENV),
    ],
)
def test_malformed_signature_options_are_usage_errors(
    run: Invoke, args: tuple[str, ...], env: dict[str, bool], message: str
) -> None:
    """A signature without an anchor, of the wrong form, or without a public key exits 2."""
    anchor = ("--expect-head", f"0:{'0' * 64}") if env else ()
    _failed(run("ledger", "verify", *anchor, *args), 2, message)


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(b"too short").decode(),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIG5vdCBhIGtleQ==\n"
        "-----END PRIVATE KEY-----",
    ],
)
def test_a_malformed_signing_key_is_named_never_shown(run: Invoke, value: str) -> None:
    """A signing key that is not an Ed25519 key exits 2 naming the variable, not its value."""
    result = run("ledger", "head", **{SIGNING_KEY_ENV: value})
    _failed(result, 2, f"{SIGNING_KEY_ENV} is not an")
    assert value not in result.output
    assert "BEGIN" not in result.output


def test_a_malformed_verify_key_is_named_never_shown(run: Invoke, key: Ed25519PrivateKey) -> None:
    """A private key given as the verify key is refused by name (PEM: it is not public)."""
    private_pem, _ = _pem(key)
    signature, anchor = _ok(run("ledger", "head", **{SIGNING_KEY_ENV: private_pem})).splitlines()
    result = run(
        "ledger", "verify", "--expect-head", anchor, "--signature", signature,
        **{VERIFY_KEY_ENV: private_pem},
    )  # fmt: skip
    _failed(result, 2, f"{VERIFY_KEY_ENV} is not an Ed25519 public key")
    assert "BEGIN" not in result.output
