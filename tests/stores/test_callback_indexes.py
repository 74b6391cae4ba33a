"""The partial indexes of sql/007: rows without a destination name or a spool id get
no entry, and what the indexes served is still served (real PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from voiceai_ivr.errors import StoreError
from voiceai_ivr.stores.callbacks import CallbackFilter, list_callbacks_page
from voiceai_ivr.stores.db import Database, pgcode

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)

_INSERT = """
INSERT INTO callbacks (public_id, domain, number_e164, window_start, window_end, next_attempt_at,
                       destination_name, spool_id, created_at)
SELECT gen_random_uuid(), %(domain)s, '+5511' || (900000000 + %(base)s + i), %(t0)s, %(t0)s + interval '2 hours',
       %(t0)s, %(destination)s, %(spool)s::uuid, %(t0)s - i * interval '1 minute'
  FROM generate_series(1, %(n)s) AS i
"""


def _add(cur: Any, n: int, *, base: int, destination: str | None = None, spool: str | None = None) -> None:
    cur.execute(
        _INSERT,
        {"domain": "a.example", "base": base, "t0": T0, "destination": destination, "spool": spool, "n": n},
    )


class _Recorder:
    """A cursor that notes the statement it runs (to EXPLAIN the very query)."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self.sql = ""
        self.args: Any = None

    def execute(self, sql: Any, args: Any = None) -> Any:
        self.sql, self.args = sql, args
        return self._cur.execute(sql, args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def test_spool_id_is_unique_when_set_and_absent_on_most_rows(db: Database) -> None:
    spool = "6a1f9c3e-0a4b-4c7e-9d51-2f3b8e7a6c10"
    with db.transaction() as cur:
        cur.execute("INSERT INTO domains (domain) VALUES ('a.example')")
        _add(cur, 3, base=0)  # no spool id: any number of them
        _add(cur, 1, base=10, spool=spool)
    with pytest.raises(StoreError) as raised:
        with db.transaction() as cur:
            _add(cur, 1, base=20, spool=spool)
    assert pgcode(raised.value) == "23505"  # what save_confirmed_callback tells a duplicate replay by
    with db.cursor() as cur:
        cur.execute("SELECT count(*), count(spool_id) FROM callbacks")
        assert cur.fetchone() == (4, 1)
        cur.execute("SELECT count(*) FROM callbacks WHERE spool_id = %s", (spool,))
        assert cur.fetchone() == (1,)


def test_destination_list_still_reads_its_index_and_finds_every_row(db: Database) -> None:
    with db.transaction() as cur:
        cur.execute("INSERT INTO domains (domain) VALUES ('a.example')")
        _add(cur, 40, base=0, destination="Financeiro")
        _add(cur, 40, base=100, destination="Comercial")
        _add(cur, 200, base=200)  # for no one in particular: not in the destination index
    with db.cursor() as cur:
        cur.execute("ANALYZE callbacks")
    seen: list[int] = []
    before = None
    with db.transaction() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        rec = _Recorder(cur)
        while True:
            page = list_callbacks_page(
                rec, CallbackFilter(domain="a.example"), destination="Comercial", before=before, limit=15
            )
            if not page:
                break
            assert {cb.destination_name for cb in page} == {"Comercial"}
            seen.extend(cb.id for cb in page)
            before = (page[-1].created_at, page[-1].id)
        cur.execute("EXPLAIN " + rec.sql, rec.args)
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert len(seen) == len(set(seen)) == 40  # every row of the destination, once, newest first
    assert "callbacks_domain_destination_created" in plan, plan
    with db.cursor() as cur:
        cur.execute(
            "SELECT indexrelid::regclass::text, pg_get_expr(indpred, indrelid) FROM pg_index"
            " WHERE indrelid = 'callbacks'::regclass"
            " AND indexrelid::regclass::text IN ('callbacks_domain_destination_created', 'callbacks_spool_id')"
            " ORDER BY 1"
        )
        assert cur.fetchall() == [
            ("callbacks_domain_destination_created", "(destination_name IS NOT NULL)"),
            ("callbacks_spool_id", "(spool_id IS NOT NULL)"),
        ]
