"""The admin console's own tables (``sql/005_console_audit.sql``): the audit of
changes made through it and each domain's console password hash. Parameterised
SQL only; functions taking ``cur`` run inside the caller's transaction."""

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


__all__ = ["domain_view", "list_audit", "password_hash", "record_audit", "set_password_hash"]
