"""Clients, their secrets and access tokens: OAuth2 client credentials with JWT bearer tokens.

Three roles use the control plane: the **operator** (everything), a **service provider** (its
own services and deployments, the usage of its services) and a **terminal** (subscriptions,
requests and sessions of its own). Every API operation needs one scope,
``<api-name>:<resource>:<action>`` as CAMARA names them; a token carries the scopes of its
client's role. Secrets are stored as salted scrypt hashes and shown once, when created.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass

import jwt

from cnc6g.control.errors import PermissionDenied, Unauthenticated

ROLES = ("operator", "provider", "terminal")
"""The roles of API clients."""

SCOPES: dict[str, tuple[str, ...]] = {
    "client-registry:clients:create": ("operator",),
    "client-registry:clients:read": ("operator",),
    "service-catalog:services:create": ("operator", "provider"),
    "service-catalog:services:read": ("operator", "provider"),
    "service-catalog:services:update": ("operator", "provider"),
    "service-catalog:services:delete": ("operator", "provider"),
    "service-catalog:services:discover": ("operator", "provider", "terminal"),
    "service-subscriptions:subscriptions:create": ("operator", "terminal"),
    "service-subscriptions:subscriptions:read": ("operator", "terminal"),
    "service-subscriptions:subscriptions:delete": ("operator", "terminal"),
    "service-subscriptions:locations:update": ("operator", "terminal"),
    "service-subscriptions:locations:read": ("operator", "terminal"),
    "service-requests:requests:create": ("terminal",),
    "service-requests:requests:read": ("operator", "terminal"),
    "compute-sessions:sessions:create": ("terminal",),
    "compute-sessions:sessions:read": ("operator", "terminal"),
    "compute-sessions:sessions:update": ("terminal",),
    "compute-sessions:sessions:delete": ("operator", "terminal"),
    "sensing-sessions:sessions:create": ("terminal",),
    "sensing-sessions:sessions:read": ("operator", "terminal"),
    "sensing-sessions:sessions:update": ("terminal",),
    "sensing-sessions:sessions:delete": ("operator", "terminal"),
    "service-deployments:deployments:create": ("operator", "provider"),
    "service-deployments:deployments:read": ("operator", "provider"),
    "service-deployments:deployments:delete": ("operator", "provider"),
    "service-deployments:instances:read": ("operator", "provider"),
    "usage:reports:read": ("operator", "provider", "terminal"),
    "service-monitoring:states:read": ("operator", "provider"),
    "service-monitoring:reorchestrations:read": ("operator",),
    "service-monitoring:events:read": ("operator", "provider", "terminal"),
    "slot-clock:clock:read": ("operator", "provider", "terminal"),
    "slot-clock:clock:advance": ("operator",),
}
"""Every operation's scope and the roles whose tokens carry it."""

TOKEN_TTL_S = 3600
"""Lifetime of an access token."""

ISSUER = "cnc6g"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def role_scopes(role: str) -> tuple[str, ...]:
    """The scopes a token of ``role`` carries."""
    return tuple(scope for scope, roles in SCOPES.items() if role in roles)


def hash_secret(secret: str) -> str:
    """A salted scrypt hash of ``secret`` (to store; the secret itself never is)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches the ``stored`` hash (constant time)."""
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt_b64), **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def new_secret() -> str:
    """A fresh client secret."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who calls: a client of a role, with the scopes of its token."""

    client_id: str
    role: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        """Raise :class:`PermissionDenied` unless the token carries ``scope``."""
        if scope not in self.scopes:
            raise PermissionDenied(f"the token lacks the scope {scope}")

    @property
    def is_operator(self) -> bool:
        """Operators see and change every object."""
        return self.role == "operator"


def issue_token(key: str, client_id: str, role: str, ttl_s: int = TOKEN_TTL_S) -> dict[str, object]:
    """An OAuth2 token response (RFC 6749, section 5.1) with a signed JWT access token."""
    now = int(time.time())
    scopes = role_scopes(role)
    claims = {
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": client_id,
        "role": role,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(claims, key, algorithm="HS256")
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl_s,
        "scope": " ".join(scopes),
    }


def verify_token(key: str, token: str) -> Principal:
    """The principal of a bearer token.

    Raises:
        Unauthenticated: the token is malformed, not signed with ``key``, expired or for
            another audience.
    """
    return _verify(key, token)[0]


def _verify(key: str, token: str) -> tuple[Principal, float]:
    """:func:`verify_token`, and when the token expires (seconds since 1970)."""
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], audience=ISSUER, issuer=ISSUER)
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired") from None
    except jwt.PyJWTError as err:
        raise Unauthenticated(f"invalid access token: {err}") from None
    role = claims.get("role")
    if role not in ROLES or not isinstance(claims.get("sub"), str):
        raise Unauthenticated("invalid access token: no role or subject")
    principal = Principal(claims["sub"], role, frozenset(str(claims.get("scope", "")).split()))
    return principal, float(claims["exp"]) if "exp" in claims else math.inf


class VerifiedTokens:
    """Tokens verified already: a client's next request skips the check until its token expires.

    A token is the same string on every request of a client, and what its check finds holds
    until it expires (the signing key does not change); a token seen first is checked in full
    (:func:`verify_token`). At most ``size`` tokens are kept (all are forgotten when it is full).

    Args:
        key: the key that signs access tokens.
        size: most tokens kept.
    """

    def __init__(self, key: str, size: int = 4096) -> None:
        self.key = key
        self.size = size
        self._seen: dict[str, tuple[Principal, float]] = {}

    def principal(self, token: str) -> Principal:
        """The principal of a bearer token (as :func:`verify_token`, which raises the same)."""
        hit = self._seen.get(token)
        if hit is not None and time.time() < hit[1]:
            return hit[0]
        principal, expires = _verify(self.key, token)
        if len(self._seen) >= self.size:
            self._seen.clear()
        self._seen[token] = (principal, expires)
        return principal
