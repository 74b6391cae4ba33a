"""FusionPBX's own tables (``v_domains``, ``v_dialplans``, ``v_dialplan_details``,
``v_destinations``).

Column names and types follow FusionPBX's ``app/dialplans/app_config.php``,
``app/destinations/app_config.php`` and ``core/domains/app_config.php``; ``tests/fixtures/fusionpbx_schema.sql`` keeps
that schema for tests. Parameterised SQL only. A dialplan is written the way
FusionPBX's Dialplan Manager keeps one: a ``v_dialplans`` row whose
``dialplan_xml`` holds the ``<extension>`` fragment FusionPBX's XML handler
serves, plus one ``v_dialplan_details`` row per condition/action, which the
Dialplan Manager edits and regenerates ``dialplan_xml`` from. An inbound number
also gets a ``v_destinations`` row pointing at its dialplan: FusionPBX's XML
handler looks public dialplans up through it in "single" dialplan mode.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from voiceai_ivr.errors import DatabaseUnavailable, ValidationError
from voiceai_ivr.ports import Cursor
from voiceai_ivr.stores.db import Database

# FusionPBX lists public-context dialplans under Dialplan > Inbound Routes, which is
# the Dialplan Manager filtered by this app_uuid (dialplans.php).
INBOUND_ROUTES_APP_UUID = "c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4"
MANAGED_DESCRIPTION = "voiceai-ivr:managed"


@dataclass(frozen=True)
class DialplanDetail:
    tag: str  # condition | action | anti-action
    type: str  # condition field, or application name
    data: str  # expression, or application data
    order: int
    group: int = 0
    inline: Optional[str] = None  # "true" or None
    break_: Optional[str] = None  # condition break=, or None


@dataclass(frozen=True)
class FusionDialplan:
    dialplan_uuid: str
    domain_uuid: str
    context: str
    name: str
    number: str
    xml: str
    description: str
    order: int = 100
    app_uuid: str = INBOUND_ROUTES_APP_UUID
    continue_: bool = False
    enabled: bool = True
    details: Sequence[DialplanDetail] = field(default_factory=tuple)


@dataclass(frozen=True)
class FusionDestination:
    """A ``v_destinations`` row: the inbound number that leads to the dialplan."""

    destination_uuid: str
    number: str  # digits only: FusionPBX matches "+" || number as well
    number_regex: str
    context: str
    description: str
    type: str = "inbound"
    enabled: bool = True


@dataclass(frozen=True)
class SaveResult:
    dialplan_uuid: str
    created: bool  # False: our existing row was updated


def find_domain_uuid(db: Database, domain_name: str) -> str:
    """``v_domains.domain_uuid`` for ``domain_name``; ``ValidationError`` on
    ``domain`` when FusionPBX does not know it."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT domain_uuid::text FROM v_domains WHERE lower(domain_name) = lower(%s) "
            "ORDER BY domain_enabled IS NOT TRUE LIMIT 1",
            (domain_name,),
        )
        row = cur.fetchone()
    if row is None:
        raise ValidationError("domain", f"{domain_name!r} is not a FusionPBX domain (v_domains)")
    return str(row[0])


def save_dialplan(
    db: Database,
    dp: FusionDialplan,
    *,
    numbers: Sequence[str] = (),
    destination: Optional[FusionDestination] = None,
) -> SaveResult:
    """Insert or update ``dp``, replace its details and, with ``destination``,
    insert or update that ``v_destinations`` row, all in one transaction.

    Refuses (``ValidationError`` on ``did``) when another dialplan or destination
    in the same domain and context already answers one of ``numbers``: that route
    belongs to someone else, and nothing is written."""
    numbers = tuple(numbers) or (dp.number,)
    with db.transaction() as cur:
        if destination is not None:
            cur.execute(
                "SELECT destination_uuid::text, destination_description FROM v_destinations "
                "WHERE domain_uuid = %s AND destination_context = %s AND destination_number = ANY(%s) "
                "AND destination_uuid <> %s",
                (dp.domain_uuid, destination.context, list(numbers), destination.destination_uuid),
            )
            taken = cur.fetchone()
            if taken is not None:
                raise ValidationError(
                    "did",
                    f"FusionPBX destination {taken[0]} ({taken[1] or 'no description'}) already receives "
                    f"{dp.number}; not created by voiceai-ivr, so it is left alone",
                )
        cur.execute(
            "SELECT dialplan_uuid::text, dialplan_name FROM v_dialplans "
            "WHERE domain_uuid = %s AND dialplan_context = %s AND dialplan_number = ANY(%s) "
            "AND dialplan_uuid <> %s",
            (dp.domain_uuid, dp.context, list(numbers), dp.dialplan_uuid),
        )
        clash = cur.fetchone()
        if clash is not None:
            raise ValidationError(
                "did",
                f"FusionPBX dialplan {clash[1]!r} ({clash[0]}) already routes {dp.number} in context "
                f"{dp.context!r}; not created by voiceai-ivr, so it is left alone",
            )
        cur.execute(
            "SELECT domain_uuid::text FROM v_dialplans WHERE dialplan_uuid = %s FOR UPDATE",
            (dp.dialplan_uuid,),
        )
        existing = cur.fetchone()
        if existing is not None and existing[0] != dp.domain_uuid:
            raise ValidationError("domain", f"dialplan {dp.dialplan_uuid} belongs to another FusionPBX domain")
        row: dict[str, Any] = {
            "dialplan_uuid": dp.dialplan_uuid,
            "domain_uuid": dp.domain_uuid,
            "app_uuid": dp.app_uuid,
            "dialplan_context": dp.context,
            "dialplan_name": dp.name,
            "dialplan_number": dp.number,
            "dialplan_destination": False,
            "dialplan_continue": dp.continue_,
            "dialplan_xml": dp.xml,
            "dialplan_order": dp.order,
            "dialplan_enabled": dp.enabled,
            "dialplan_description": dp.description,
        }
        if existing is None:
            cur.execute(
                "INSERT INTO v_dialplans (dialplan_uuid, domain_uuid, app_uuid, hostname, dialplan_context, "
                "dialplan_name, dialplan_number, dialplan_destination, dialplan_continue, dialplan_xml, "
                "dialplan_order, dialplan_enabled, dialplan_description, insert_date) "
                "VALUES (%(dialplan_uuid)s, %(domain_uuid)s, %(app_uuid)s, NULL, %(dialplan_context)s, "
                "%(dialplan_name)s, %(dialplan_number)s, %(dialplan_destination)s, %(dialplan_continue)s, "
                "%(dialplan_xml)s, %(dialplan_order)s, %(dialplan_enabled)s, %(dialplan_description)s, now())",
                row,
            )
        else:
            cur.execute(
                "UPDATE v_dialplans SET app_uuid = %(app_uuid)s, dialplan_context = %(dialplan_context)s, "
                "dialplan_name = %(dialplan_name)s, dialplan_number = %(dialplan_number)s, "
                "dialplan_destination = %(dialplan_destination)s, dialplan_continue = %(dialplan_continue)s, "
                "dialplan_xml = %(dialplan_xml)s, dialplan_order = %(dialplan_order)s, "
                "dialplan_enabled = %(dialplan_enabled)s, dialplan_description = %(dialplan_description)s, "
                "update_date = now() WHERE dialplan_uuid = %(dialplan_uuid)s",
                row,
            )
        cur.execute("DELETE FROM v_dialplan_details WHERE dialplan_uuid = %s", (dp.dialplan_uuid,))
        for detail in dp.details:
            cur.execute(
                "INSERT INTO v_dialplan_details (domain_uuid, dialplan_uuid, dialplan_detail_uuid, "
                "dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_break, "
                "dialplan_detail_inline, dialplan_detail_group, dialplan_detail_order, "
                "dialplan_detail_enabled, insert_date) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
                (
                    dp.domain_uuid,
                    dp.dialplan_uuid,
                    str(uuidlib.uuid4()),
                    detail.tag,
                    detail.type,
                    detail.data,
                    detail.break_,
                    detail.inline,
                    detail.group,
                    detail.order,
                    True,
                ),
            )
        if destination is not None:
            _save_destination(cur, dp, destination)
    return SaveResult(dialplan_uuid=dp.dialplan_uuid, created=existing is None)


def _save_destination(cur: Cursor, dp: FusionDialplan, d: FusionDestination) -> None:
    row = {
        "destination_uuid": d.destination_uuid,
        "domain_uuid": dp.domain_uuid,
        "dialplan_uuid": dp.dialplan_uuid,
        "destination_type": d.type,
        "destination_number": d.number,
        "destination_number_regex": d.number_regex,
        "destination_context": d.context,
        "destination_enabled": d.enabled,
        "destination_description": d.description,
    }
    cur.execute(
        "UPDATE v_destinations SET domain_uuid = %(domain_uuid)s, dialplan_uuid = %(dialplan_uuid)s, "
        "destination_type = %(destination_type)s, destination_number = %(destination_number)s, "
        "destination_number_regex = %(destination_number_regex)s, destination_context = %(destination_context)s, "
        "destination_enabled = %(destination_enabled)s, destination_description = %(destination_description)s, "
        "update_date = now() WHERE destination_uuid = %(destination_uuid)s",
        row,
    )
    if cur.rowcount == 0:
        cur.execute(
            "INSERT INTO v_destinations (destination_uuid, domain_uuid, dialplan_uuid, destination_type, "
            "destination_number, destination_number_regex, destination_context, destination_enabled, "
            "destination_description, insert_date) VALUES (%(destination_uuid)s, %(domain_uuid)s, "
            "%(dialplan_uuid)s, %(destination_type)s, %(destination_number)s, %(destination_number_regex)s, "
            "%(destination_context)s, %(destination_enabled)s, %(destination_description)s, now())",
            row,
        )


def load_destination(db: Database, destination_uuid: str) -> Optional[dict[str, Any]]:
    with db.cursor(dict_rows=True) as cur:
        cur.execute(
            "SELECT destination_uuid::text, domain_uuid::text, dialplan_uuid::text, destination_type, "
            "destination_number, destination_number_regex, destination_context, destination_enabled, "
            "destination_description FROM v_destinations WHERE destination_uuid = %s",
            (destination_uuid,),
        )
        row = cur.fetchone()
    return dict(row) if row is not None else None


def dialplans_for_number(db: Database, context: str, number: str) -> list[str]:
    """``dialplan_xml`` of the enabled dialplans a destination routes ``number`` to
    (what FusionPBX's "single" dialplan mode serves for it; ``+`` optional)."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT p.dialplan_xml FROM v_dialplans p WHERE p.dialplan_enabled = true AND p.dialplan_uuid IN ("
            "SELECT dialplan_uuid FROM v_destinations WHERE destination_context = %s "
            "AND (destination_number = %s OR '+' || destination_number = %s)) ORDER BY p.dialplan_order",
            (context, number, number),
        )
        return [r[0] for r in cur.fetchall()]


def load_dialplan(db: Database, dialplan_uuid: str) -> Optional[dict[str, Any]]:
    """The ``v_dialplans`` row as a dict (``details`` holds its detail rows in
    FusionPBX's order), or None."""
    with db.cursor(dict_rows=True) as cur:
        cur.execute(
            "SELECT dialplan_uuid::text, domain_uuid::text, app_uuid::text, dialplan_context, dialplan_name, "
            "dialplan_number, dialplan_destination, dialplan_continue, dialplan_xml, dialplan_order, "
            "dialplan_enabled, dialplan_description FROM v_dialplans WHERE dialplan_uuid = %s",
            (dialplan_uuid,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute(
            "SELECT dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_break, "
            "dialplan_detail_inline, dialplan_detail_group, dialplan_detail_order, dialplan_detail_enabled, "
            "domain_uuid::text FROM v_dialplan_details WHERE dialplan_uuid = %s "
            "ORDER BY dialplan_detail_group, CASE dialplan_detail_tag WHEN 'condition' THEN 1 "
            "WHEN 'action' THEN 2 WHEN 'anti-action' THEN 3 ELSE 100 END, dialplan_detail_order",
            (dialplan_uuid,),
        )
        details = [dict(r) for r in cur.fetchall()]
    result = dict(row)
    result["details"] = details
    return result


def count_dialplans(db: Database, domain_uuid: str, context: str, number: str) -> int:
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM v_dialplans WHERE domain_uuid = %s AND dialplan_context = %s "
            "AND dialplan_number = %s",
            (domain_uuid, context, number),
        )
        row = cur.fetchone()
    return int(row[0]) if row else 0


# FusionPBX keeps do-not-disturb per extension in its own database. A typical
# ``dispatcher.dnd_query`` (named parameters only; never formatted):
#   SELECT e.do_not_disturb = 'true' FROM v_extensions e
#     JOIN v_domains d ON d.domain_uuid = e.domain_uuid
#    WHERE e.extension = %(extension)s AND d.domain_name = %(domain)s
FUSIONPBX_DND_QUERY = (
    "SELECT e.do_not_disturb = 'true' FROM v_extensions e "
    "JOIN v_domains d ON d.domain_uuid = e.domain_uuid "
    "WHERE e.extension = %(extension)s AND d.domain_name = %(domain)s"
)


class FusionPBXDnd:
    """Runs the configured DND query (parameters ``%(extension)s``, ``%(domain)s``)
    on the FusionPBX database; no row means DND off. One connection, reopened
    after errors; thread-safe."""

    def __init__(self, dsn: str, query: str, *, connect_timeout: float = 5.0) -> None:
        import threading

        if "%(extension)s" not in query:
            raise ValueError("dispatcher.dnd_query: must use the %(extension)s parameter")
        self._dsn = dsn
        self._query = query
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn: Any = None

    def __call__(self, extension: str, domain: str) -> bool:
        import psycopg2

        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg2.connect(
                        self._dsn,
                        connect_timeout=max(1, int(self._timeout)),
                        options=f"-c statement_timeout={int(self._timeout * 1000)}",
                    )
                    self._conn.set_session(readonly=True, autocommit=True)
                with self._conn.cursor() as cur:
                    cur.execute(self._query, {"extension": extension, "domain": domain})
                    row = cur.fetchone()
            except psycopg2.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise DatabaseUnavailable(f"FusionPBX DND query failed: {exc}") from exc
        return bool(row and row[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
