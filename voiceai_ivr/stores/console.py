"""The admin console's own tables (``sql/005_console_audit.sql``,
``sql/006_console_sessions.sql``): the audit of changes made through it, each
domain's console password hash, the installation's session signing key and the
open sessions. Parameterised SQL only; functions taking ``cur`` run inside the
caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from psycopg2.extras import Json


def record_audit(cur: Any, domain: str, actor: str, action: str, target: str, changes: dict[str, Any]) -> int:
    """One audit row, in the transaction that made the change."""
    cur.execute(
        "INSERT INTO console_audit (domain, actor, action, target, changes) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING id",
        (domain, actor, action, target, Json(changes)),
    )
    return int(cur.fetchone()[0])


def list_audit(cur: Any, domain: str, *, limit: int = 50, target: Optional[str] = None) -> list[dict[str, Any]]:
    """The domain's latest audit rows, newest first (optionally of one target)."""
    if target is None:
        cur.execute(
            "SELECT id, actor, action, target, changes, created_at FROM console_audit WHERE domain = %s"
            " ORDER BY created_at DESC, id DESC LIMIT %s",
            (domain, int(limit)),
        )
    else:
        cur.execute(
            "SELECT id, actor, action, target, changes, created_at FROM console_audit"
            " WHERE domain = %s AND target = %s ORDER BY created_at DESC, id DESC LIMIT %s",
            (domain, target, int(limit)),
        )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def set_password_hash(cur: Any, domain: str, password_hash: str) -> None:
    cur.execute(
        "INSERT INTO console_passwords (domain, password_hash) VALUES (%s, %s)"
        " ON CONFLICT (domain) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at = now()",
        (domain, password_hash),
    )


def password_hash(cur: Any, domain: str) -> Optional[tuple[str, datetime]]:
    """``(hash, updated_at)`` of the domain's console password, None when unset."""
    cur.execute("SELECT password_hash, updated_at FROM console_passwords WHERE domain = %s", (domain,))
    row = cur.fetchone()
    return (str(row[0]), row[1]) if row else None


def domain_view(cur: Any, domain: str) -> Optional[tuple[str, str]]:
    """``(language, timezone)`` the console shows ``domain`` in: the language its
    callers are greeted in (``settings.language`` when set, else its first
    secretary's, else pt-BR) and the domain's zone; None for an unknown domain."""
    cur.execute(
        "SELECT d.settings->>'language', d.timezone,"
        " (SELECT s.language FROM secretaries s WHERE s.domain = d.domain ORDER BY s.id LIMIT 1)"
        " FROM domains d WHERE d.domain = %s",
        (domain,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    return str(row[0] or row[2] or "pt-BR"), str(row[1])


def signing_key(cur: Any, candidate: bytes) -> bytes:
    """The installation's session signing key: ``candidate`` when none was stored
    yet (the first console to start stores it), else the stored one."""
    cur.execute(
        "INSERT INTO console_keys (id, signing_key) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
        (candidate,),
    )
    cur.execute("SELECT signing_key FROM console_keys WHERE id = 1")
    return bytes(cur.fetchone()[0])


def open_session(cur: Any, sid: str, domain: str, expires_at: datetime) -> None:
    """Record a new session; sessions past their expiry are deleted on the way."""
    cur.execute("DELETE FROM console_sessions WHERE expires_at <= now()")
    cur.execute(
        "INSERT INTO console_sessions (sid, domain, expires_at) VALUES (%s, %s, %s)", (sid, domain, expires_at)
    )


def session_open(cur: Any, sid: str, domain: str) -> bool:
    """Whether session ``sid`` of ``domain`` is open (not logged out, not expired)."""
    cur.execute(
        "SELECT 1 FROM console_sessions WHERE sid = %s AND domain = %s AND expires_at > now()", (sid, domain)
    )
    return cur.fetchone() is not None


def close_session(cur: Any, sid: str) -> bool:
    """End session ``sid`` (logout); whether it was open."""
    cur.execute("DELETE FROM console_sessions WHERE sid = %s", (sid,))
    return bool(cur.rowcount)


__all__ = [
    "close_session", "domain_view", "list_audit", "open_session", "password_hash", "record_audit",
    "session_open", "set_password_hash", "signing_key",
]
