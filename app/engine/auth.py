"""Tokens and roles (SPEC §5): admin, viewer, and per-subscriber tokens.

Subscriber tokens are random 256-bit values, so a single SHA-256 is enough to
store them (no password stretching needed); every comparison is constant-time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets


class Role(enum.Enum):
    """What a token may do."""

    ADMIN = "admin"
    VIEWER = "viewer"


def new_token() -> str:
    """A fresh unguessable token."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The at-rest form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    """Constant-time check of a token against its stored hash."""
    return hmac.compare_digest(hash_token(token), token_hash)


class Tokens:
    """The admin and viewer tokens, compared in constant time."""

    def __init__(self, admin: str, viewer: str | None = None) -> None:
        self._admin = hash_token(admin)
        self._viewer = hash_token(viewer) if viewer else None

    def role_of(self, token: str | None) -> Role | None:
        """The role a bearer token grants, or None."""
        if not token:
            return None
        digest = hash_token(token)
        if hmac.compare_digest(digest, self._admin):
            return Role.ADMIN
        if self._viewer is not None and hmac.compare_digest(digest, self._viewer):
            return Role.VIEWER
        return None
