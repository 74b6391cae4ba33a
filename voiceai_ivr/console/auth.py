"""Console credentials: password hashes (scrypt) and signed session cookies.

A session cookie is ``<payload>.<signature>``: the payload (base64url JSON)
names the domain, how the user logged in, a fingerprint of that credential,
a session id and an expiry; the signature is HMAC-SHA256 under the
installation's key (stored in the database, ``console_keys``: every API process,
and each after a restart, signs and checks with the same key). Whether a
session is still open (not logged out) is its ``console_sessions`` row, which
``console.app`` checks on every request. The fingerprint ties a session
to the credential it was opened with: a token removed from the configuration
or a console password changed ends the sessions opened with it. The CSRF token
of a session is an HMAC of its id, so forms need no server-side state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Optional

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_LEN = 32
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SESSION_SECONDS = 8 * 3600


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64url parts) of ``password``."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a console password has {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a ``hash_password`` result)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or len(password) > MAX_PASSWORD:
            return False
        want = _unb64(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


@dataclass(frozen=True)
class Session:
    domain: str
    kind: str  # "token" | "password"
    fingerprint: str
    sid: str
    expires: int
    actor: str  # for the audit: how and from where (never a secret)


class Sessions:
    """Signs and checks session cookies under ``key`` (the installation's, see
    ``stores.console.signing_key``); logging out is the caller's database row."""

    def __init__(self, key: bytes, *, lifetime: int = SESSION_SECONDS) -> None:
        if len(key) < 32:
            raise ValueError("a console signing key has at least 32 bytes")
        self._key = key
        self.lifetime = lifetime

    def fingerprint(self, secret: str) -> str:
        """A keyed digest of a credential (its token or stored hash): comparable,
        never reversible, and meaningless without the installation's key."""
        return hmac.new(self._key, b"cred:" + secret.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def issue(self, domain: str, kind: str, fingerprint: str, actor: str) -> tuple[str, Session]:
        session = Session(domain, kind, fingerprint, secrets.token_urlsafe(16), int(time.time()) + self.lifetime, actor)
        body = {"d": domain, "k": kind, "f": fingerprint, "s": session.sid, "e": session.expires, "a": actor}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._sign(payload)}", session

    def read(self, cookie: str) -> Optional[Session]:
        """The session of a cookie signed with this key and not expired (whether it
        was logged out is the caller's question)."""
        if not cookie or len(cookie) > 2048 or cookie.count(".") != 1:
            return None
        payload, sig = cookie.split(".")
        if not hmac.compare_digest(self._sign(payload), sig):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(
                str(data["d"]), str(data["k"]), str(data["f"]), str(data["s"]), int(data["e"]), str(data["a"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= int(time.time()):
            return None
        return session

    def csrf(self, sid: str) -> str:
        return hmac.new(self._key, b"csrf:" + sid.encode("ascii", "replace"), hashlib.sha256).hexdigest()

    def check_csrf(self, sid: str, given: str) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf(sid), given)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, b"session:" + payload.encode("ascii"), hashlib.sha256).digest())


class LoginThrottle:
    """Failed logins per client address: past ``limit`` failures within
    ``window`` seconds the address is refused until the window passes."""

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            if recent:
                self._failures[client] = recent
            else:
                self._failures.pop(client, None)
            return len(recent) >= self.limit

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > 10000:  # bounded memory under a scan of many addresses
                self._failures.clear()
            self._failures.setdefault(client, []).append(time.monotonic())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


__all__ = ["LoginThrottle", "Session", "Sessions", "check_password", "hash_password"]
