"""Secretaries and transfer destinations in PostgreSQL (parameterised SQL only).

Validation lives in ``voiceai_ivr.domain.destinations``: every write here takes a
``Directory`` that ``parse_directory`` produced, or builds the domain's document,
changes one row and validates the whole document again before writing, so the
cross-row rules (unique names, menu keys and DIDs, fallbacks that exist) hold for
single edits too.

``import_directory`` upserts by name in ONE transaction and compares each row with
what is stored: importing the same file again changes nothing and reports zero
changes. ``replace=True`` also removes the secretaries and destinations the file
no longer lists. Writers lock the domain row (``FOR UPDATE``) so concurrent edits
of one domain are serialised, and bump ``domains.updated_at``, which
``load_directory``/``load_resolver`` use to invalidate their per-process cache.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import datetime
from typing import Any, Callable, Optional, Union

from psycopg2.extras import Json

from voiceai_ivr.domain.destinations import (
    Destination,
    Directory,
    Secretary,
    destination_to_doc,
    directory_to_doc,
    parse_directory,
)
from voiceai_ivr.domain.hours import BusinessHours, HolidaySpec, WeeklyHours, parse_holidays, parse_weekly
from voiceai_ivr.domain.resolve import Resolution, Resolver
from voiceai_ivr.errors import DirectoryError, ValidationError
from voiceai_ivr.ports import Cursor, Database

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DomainRecord:
    domain: str
    timezone: str
    region: str
    hours: Optional[WeeklyHours]
    holidays: Optional[HolidaySpec]
    settings: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class SecretaryRecord:
    """A stored secretary: its database id (``calls.secretary_id``) and its fields."""

    id: int
    domain: str
    secretary: Secretary

    @property
    def name(self) -> str:
        return self.secretary.name

    @property
    def language(self) -> str:
        return self.secretary.language

    @property
    def recording(self) -> bool:
        return self.secretary.recording

    @property
    def dids(self) -> tuple[str, ...]:
        return self.secretary.dids


@dataclass
class KindReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": list(self.created),
            "updated": list(self.updated),
            "removed": list(self.removed),
            "unchanged": len(self.unchanged),
        }


@dataclass
class ImportReport:
    domain: str
    domain_created: bool = False
    domain_updated: bool = False
    secretaries: KindReport = field(default_factory=KindReport)
    destinations: KindReport = field(default_factory=KindReport)
    dry_run: bool = False

    @property
    def changes(self) -> int:
        return (
            int(self.domain_created)
            + int(self.domain_updated)
            + self.secretaries.changes
            + self.destinations.changes
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "domain_created": self.domain_created,
            "domain_updated": self.domain_updated,
            "secretaries": self.secretaries.to_json(),
            "destinations": self.destinations.to_json(),
            "changes": self.changes,
            "dry_run": self.dry_run,
        }


# --------------------------------------------------------------------------- row mapping

# Column lists are spelled out in every query (constant SQL, parameters only).
_SELECT_DOMAIN = (
    "SELECT domain, timezone, region, hours, holidays, settings, updated_at FROM domains WHERE domain = %s"
)
_SELECT_SECRETARIES = (
    "SELECT id, name, language, timezone, greeting, music_on_hold, announce, ring_timeout,"
    " fallback_destination, callback_enabled, recording, hours, holidays FROM secretaries"
)
_SELECT_DESTINATIONS = (
    "SELECT id, name, aliases, type, target, gateway, ring_timeout, priority, enabled, hours, holidays,"
    " fallback_action, menu_key, category, keywords FROM destinations"
)


def _spec(value: Optional[Union[WeeklyHours, HolidaySpec]]) -> Optional[Json]:
    return None if value is None else Json(value.to_spec())


def _weekly(value: Any) -> Optional[WeeklyHours]:
    return None if value is None else parse_weekly(value)


def _holidays(value: Any) -> Optional[HolidaySpec]:
    return None if value is None else parse_holidays(value)


def _domain_from_row(row: tuple[Any, ...]) -> DomainRecord:
    return DomainRecord(row[0], row[1], row[2], _weekly(row[3]), _holidays(row[4]), dict(row[5] or {}), row[6])


def _secretary_from_row(row: tuple[Any, ...], dids: tuple[str, ...]) -> Secretary:
    return Secretary(
        name=row[1],
        dids=dids,
        language=row[2],
        timezone=row[3],
        greeting=row[4],
        announce=row[6],
        music_on_hold=row[5],
        fallback=row[8],
        callback=row[9],
        ring_timeout=row[7],
        hours=_weekly(row[11]),
        holidays=_holidays(row[12]),
        recording=row[10],
    )


def _destination_from_row(row: tuple[Any, ...]) -> Destination:
    return Destination(
        name=row[1],
        type=row[3],
        target=row[4],
        aliases=tuple(row[2] or ()),
        gateway=row[5],
        timeout=row[6],
        priority=row[7],
        enabled=row[8],
        hours=_weekly(row[9]),
        holidays=_holidays(row[10]),
        fallback=row[11],
        menu_key=row[12],
        category=row[13],
        keywords=tuple(row[14] or ()),
    )


def _secretary_params(s: Secretary) -> tuple[Any, ...]:
    return (
        s.language,
        s.timezone,
        s.greeting,
        s.music_on_hold,
        s.announce,
        s.ring_timeout,
        s.fallback,
        s.callback,
        s.recording,
        _spec(s.hours),
        _spec(s.holidays),
    )


def _destination_params(d: Destination) -> tuple[Any, ...]:
    return (
        list(d.aliases),
        d.type,
        d.target,
        d.gateway,
        d.timeout,
        d.priority,
        d.enabled,
        _spec(d.hours),
        _spec(d.holidays),
        d.fallback,
        d.menu_key,
        d.category,
        list(d.keywords),
    )


# --------------------------------------------------------------------------- reads


def _lock_domain(cur: Cursor, domain: str) -> Optional[DomainRecord]:
    cur.execute(_SELECT_DOMAIN + " FOR UPDATE", (domain,))
    row = cur.fetchone()
    return _domain_from_row(row) if row else None


def _read_secretaries(cur: Cursor, domain: str) -> list[tuple[int, Secretary]]:
    cur.execute(
        "SELECT secretary_id, did FROM secretary_dids WHERE domain = %s ORDER BY position, did", (domain,)
    )
    dids: dict[int, list[str]] = {}
    for sid, did in cur.fetchall():
        dids.setdefault(sid, []).append(did)
    cur.execute(_SELECT_SECRETARIES + " WHERE domain = %s ORDER BY id", (domain,))
    return [(row[0], _secretary_from_row(row, tuple(dids.get(row[0], ())))) for row in cur.fetchall()]


def _read_destinations(cur: Cursor, domain: str) -> list[tuple[int, Destination]]:
    cur.execute(_SELECT_DESTINATIONS + " WHERE domain = %s ORDER BY id", (domain,))
    return [(row[0], _destination_from_row(row)) for row in cur.fetchall()]


def _read_directory(
    cur: Cursor, domain: str, *, lock: bool = False, secretary_ids: Optional[dict[str, int]] = None
) -> Optional[Directory]:
    if lock:
        rec = _lock_domain(cur, domain)
    else:
        cur.execute(_SELECT_DOMAIN, (domain,))
        row = cur.fetchone()
        rec = _domain_from_row(row) if row else None
    if rec is None:
        return None
    return Directory(
        domain=rec.domain,
        timezone=rec.timezone,
        region=rec.region,
        holidays=rec.holidays,
        hours=rec.hours,
        secretaries=tuple(_remember_id(secretary_ids, sid, s) for sid, s in _read_secretaries(cur, domain)),
        destinations=tuple(d for _, d in _read_destinations(cur, domain)),
    )


def _remember_id(ids: Optional[dict[str, int]], sid: int, secretary: Secretary) -> Secretary:
    if ids is not None:
        ids[secretary.name] = int(sid)
    return secretary


def get_domain(db: Database, domain: str) -> Optional[DomainRecord]:
    with db.cursor() as cur:
        cur.execute(_SELECT_DOMAIN, (domain,))
        row = cur.fetchone()
    return _domain_from_row(row) if row else None


def list_domains(db: Database) -> list[str]:
    with db.cursor() as cur:
        cur.execute("SELECT domain FROM domains ORDER BY domain")
        return [r[0] for r in cur.fetchall()]


def export_directory(db: Database, domain: str) -> Directory:
    """The stored directory of ``domain`` (``ValidationError`` if there is none)."""
    with db.transaction() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        directory = _read_directory(cur, domain)
    if directory is None:
        raise ValidationError("domain", f"no such domain: {domain!r}")
    return directory


def list_destinations(db: Database, domain: str) -> list[Destination]:
    with db.cursor() as cur:
        return [d for _, d in _read_destinations(cur, domain)]


def get_destination(db: Database, domain: str, name: str) -> Optional[Destination]:
    with db.cursor() as cur:
        cur.execute(_SELECT_DESTINATIONS + " WHERE domain = %s AND name = %s", (domain, name))
        row = cur.fetchone()
    return _destination_from_row(row) if row else None


def get_destination_id(db: Database, domain: str, name: str) -> Optional[int]:
    """``destinations.id`` for foreign keys (transfer attempts, callbacks)."""
    with db.cursor() as cur:
        cur.execute("SELECT id FROM destinations WHERE domain = %s AND name = %s", (domain, name))
        row = cur.fetchone()
    return int(row[0]) if row else None


def get_secretary_by_did(db: Database, domain: str, did: str) -> Optional[SecretaryRecord]:
    """The secretary answering ``did`` (spaces, dashes and dots ignored) in ``domain``."""
    clean = "".join(ch for ch in str(did) if ch.isdigit() or ch == "+")
    with db.cursor() as cur:
        cur.execute(
            "SELECT secretary_id FROM secretary_dids WHERE domain = %s AND did = %s", (domain, clean)
        )
        row = cur.fetchone()
        if row is None:
            return None
        sid = row[0]
        cur.execute("SELECT did FROM secretary_dids WHERE secretary_id = %s ORDER BY position, did", (sid,))
        dids = tuple(r[0] for r in cur.fetchall())
        cur.execute(_SELECT_SECRETARIES + " WHERE id = %s", (sid,))
        srow = cur.fetchone()
    if srow is None:
        return None
    return SecretaryRecord(int(sid), domain, _secretary_from_row(srow, dids))


def get_secretary(db: Database, domain: str, name: str) -> Optional[SecretaryRecord]:
    with db.cursor() as cur:
        cur.execute(_SELECT_SECRETARIES + " WHERE domain = %s AND name = %s", (domain, name))
        srow = cur.fetchone()
        if srow is None:
            return None
        cur.execute(
            "SELECT did FROM secretary_dids WHERE secretary_id = %s ORDER BY position, did", (srow[0],)
        )
        dids = tuple(r[0] for r in cur.fetchall())
    return SecretaryRecord(int(srow[0]), domain, _secretary_from_row(srow, dids))


# --------------------------------------------------------------------------- writes


def _apply(cur: Cursor, directory: Directory, replace: bool, report: ImportReport) -> None:
    """Make the stored rows of ``directory.domain`` match ``directory`` (upsert by
    name; with ``replace`` delete rows it does not list). Caller owns the transaction."""
    domain = directory.domain
    cur.execute("INSERT INTO domains (domain) VALUES (%s) ON CONFLICT (domain) DO NOTHING", (domain,))
    report.domain_created = cur.rowcount == 1
    current = _lock_domain(cur, domain)
    assert current is not None  # inserted or existing, and now locked
    wanted = (directory.timezone, directory.region, directory.hours, directory.holidays)
    if report.domain_created or wanted != (current.timezone, current.region, current.hours, current.holidays):
        cur.execute(
            "UPDATE domains SET timezone = %s, region = %s, hours = %s, holidays = %s WHERE domain = %s",
            (directory.timezone, directory.region, _spec(directory.hours), _spec(directory.holidays), domain),
        )
        report.domain_updated = not report.domain_created

    # destinations first: secretaries' fallbacks name them
    stored_dests = {d.name: (i, d) for i, d in _read_destinations(cur, domain)}
    listed = {d.name for d in directory.destinations}
    dreport = report.destinations
    if replace:
        gone = [name for name in stored_dests if name not in listed]
        if gone:
            cur.execute("DELETE FROM destinations WHERE domain = %s AND name = ANY(%s)", (domain, gone))
            dreport.removed.extend(gone)
    # menu keys must stay unique at every statement: clear the keys that move first
    moving = [
        stored_dests[d.name][0]
        for d in directory.destinations
        if d.name in stored_dests and stored_dests[d.name][1].menu_key not in (None, d.menu_key)
    ]
    if moving:
        cur.execute("UPDATE destinations SET menu_key = NULL WHERE id = ANY(%s)", (moving,))
    for d in directory.destinations:
        existing = stored_dests.get(d.name)
        if existing is None:
            cur.execute(
                "INSERT INTO destinations (domain, name, aliases, type, target, gateway, ring_timeout, priority,"
                " enabled, hours, holidays, fallback_action, menu_key, category, keywords)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (domain, d.name, *_destination_params(d)),
            )
            dreport.created.append(d.name)
        elif existing[1] != d or existing[0] in moving:
            cur.execute(
                "UPDATE destinations SET aliases = %s, type = %s, target = %s, gateway = %s, ring_timeout = %s,"
                " priority = %s, enabled = %s, hours = %s, holidays = %s, fallback_action = %s, menu_key = %s,"
                " category = %s, keywords = %s, updated_at = now() WHERE id = %s",
                (*_destination_params(d), existing[0]),
            )
            if existing[1] != d:
                dreport.updated.append(d.name)
            else:
                dreport.unchanged.append(d.name)
        else:
            dreport.unchanged.append(d.name)

    stored_secs = {s.name: (i, s) for i, s in _read_secretaries(cur, domain)}
    sec_listed = {s.name for s in directory.secretaries}
    sreport = report.secretaries
    if replace:
        gone = [name for name in stored_secs if name not in sec_listed]
        if gone:
            cur.execute("DELETE FROM secretaries WHERE domain = %s AND name = ANY(%s)", (domain, gone))
            sreport.removed.extend(gone)
    # DIDs the file gives to a secretary are taken from whoever had them
    all_dids = [did for s in directory.secretaries for did in s.dids]
    for s in directory.secretaries:
        existing_sec = stored_secs.get(s.name)
        if existing_sec is None:
            cur.execute(
                "INSERT INTO secretaries (domain, name, language, timezone, greeting, music_on_hold, announce,"
                " ring_timeout, fallback_destination, callback_enabled, recording, hours, holidays)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (domain, s.name, *_secretary_params(s)),
            )
            row = cur.fetchone()
            assert row is not None
            sid = int(row[0])
            sreport.created.append(s.name)
        else:
            sid = existing_sec[0]
            if dc_replace(existing_sec[1], dids=()) != dc_replace(s, dids=()):
                cur.execute(
                    "UPDATE secretaries SET language = %s, timezone = %s, greeting = %s, music_on_hold = %s,"
                    " announce = %s, ring_timeout = %s, fallback_destination = %s, callback_enabled = %s,"
                    " recording = %s, hours = %s, holidays = %s, updated_at = now() WHERE id = %s",
                    (*_secretary_params(s), sid),
                )
                sreport.updated.append(s.name)
            else:
                sreport.unchanged.append(s.name)
        if existing_sec is not None and existing_sec[1].dids != s.dids and s.name not in sreport.updated:
            sreport.unchanged.remove(s.name)
            sreport.updated.append(s.name)
        if existing_sec is None or existing_sec[1].dids != s.dids:
            cur.execute(
                "DELETE FROM secretary_dids WHERE secretary_id = %s AND NOT (did = ANY(%s))", (sid, list(s.dids))
            )
            for position, did in enumerate(s.dids):
                cur.execute(
                    "INSERT INTO secretary_dids (secretary_id, domain, did, position) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (domain, did) DO UPDATE"
                    " SET secretary_id = EXCLUDED.secretary_id, position = EXCLUDED.position",
                    (sid, domain, did, position),
                )
    # a DID moved to a listed secretary counts as a change of the one that lost it
    for name, (_sid, s) in stored_secs.items():
        if name in sec_listed or name in sreport.removed:
            continue
        if set(s.dids) & set(all_dids):
            sreport.updated.append(name)

    if report.changes:
        cur.execute("UPDATE domains SET updated_at = clock_timestamp() WHERE domain = %s", (domain,))


def import_directory(
    db: Database, directory: Directory, *, replace: bool = False, dry_run: bool = False
) -> ImportReport:
    """Store ``directory`` in one transaction (see the module docstring).
    ``dry_run`` computes the same report and rolls everything back."""
    report = ImportReport(domain=directory.domain, dry_run=dry_run)
    with db.connection() as conn:
        try:
            with conn.cursor() as cur:
                _apply(cur, directory, replace, report)
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
    if report.changes and not dry_run:
        invalidate(db, directory.domain)
    return report


def _single_row_error(exc: DirectoryError, index: int) -> DirectoryError:
    """``destinations[7].target: ...`` -> ``target: ...`` for the row being edited."""
    prefix = f"destinations[{index}]."
    problems = [p[len(prefix):] if p.startswith(prefix) else p for p in exc.problems]
    return DirectoryError(problems)


def _edit(
    db: Database,
    domain: str,
    change: Callable[[dict[str, Any]], int],
    *,
    create_domain: bool = False,
    after: Optional[Callable[[Cursor, Optional[Directory], Directory, int], None]] = None,
) -> tuple[Directory, int]:
    """Lock the domain, apply ``change`` to its document (returns the edited row's
    index), validate the whole document and store it. Returns the new directory.
    ``after(cur, before, directory, index)`` runs in the same transaction once
    stored (e.g. an audit row: both commit or neither)."""
    with db.transaction() as cur:
        current = _read_directory(cur, domain, lock=True)
        if current is None:
            if not create_domain:
                raise ValidationError("domain", f"no such domain: {domain!r}")
            doc: dict[str, Any] = {"domain": domain, "secretaries": [], "destinations": []}
        else:
            doc = directory_to_doc(current)
        index = change(doc)
        try:
            directory = parse_directory(doc)
        except DirectoryError as exc:
            raise _single_row_error(exc, index) from None
        report = ImportReport(domain=domain)
        _apply(cur, directory, True, report)
        if after is not None:
            after(cur, current, directory, index)
    invalidate(db, domain)
    return directory, index


def _row_doc(destination: Union[Destination, Mapping[str, Any]]) -> dict[str, Any]:
    if isinstance(destination, Destination):
        return destination_to_doc(destination)
    return copy.deepcopy(dict(destination))


def add_destination(
    db: Database, domain: str, destination: Union[Destination, Mapping[str, Any]]
) -> Destination:
    """Add one destination (a ``Destination`` or its document form). The domain is
    created with defaults if it does not exist yet. ``DirectoryError`` lists every
    problem by field (``target: ...``)."""
    row = _row_doc(destination)

    def change(doc: dict[str, Any]) -> int:
        name = str(row.get("name", "")).strip()
        if any(d.get("name") == name for d in doc["destinations"]):
            raise ValidationError("name", f"destination {name!r} already exists in {domain}")
        doc["destinations"].append(row)
        return len(doc["destinations"]) - 1

    directory, index = _edit(db, domain, change, create_domain=True)
    return directory.destinations[index]


def update_destination(db: Database, domain: str, name: str, changes: Mapping[str, Any]) -> Destination:
    """Change some fields of one destination (document keys; ``None`` clears an
    optional field). A new ``name`` renames it and the fallbacks that point to it."""
    directory, index = _edit(db, domain, lambda doc: _rename_and_change(doc, domain, name, changes))
    return directory.destinations[index]


def _rename_and_change(doc: dict[str, Any], domain: str, name: str, changes: Mapping[str, Any]) -> int:
    """Apply ``changes`` to destination ``name`` of ``doc``; its index."""
    found = [i for i, d in enumerate(doc["destinations"]) if d.get("name") == name]
    if not found:
        raise ValidationError("name", f"no destination {name!r} in {domain}")
    i = found[0]
    row = doc["destinations"][i]
    for key, value in changes.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = copy.deepcopy(value)
    new_name = row.get("name")
    if isinstance(new_name, str) and new_name.strip() and new_name.strip() != name:
        for s in doc["secretaries"]:
            if s.get("fallback") == name:
                s["fallback"] = new_name.strip()
        for d in doc["destinations"]:
            if d.get("fallback") == f"destination:{name}":
                d["fallback"] = f"destination:{new_name.strip()}"
    return i


def destination_name_by_id(db: Database, domain: str, destination_id: int) -> Optional[str]:
    """The name of destination ``destination_id`` inside ``domain`` (None elsewhere)."""
    with db.cursor() as cur:
        cur.execute("SELECT name FROM destinations WHERE id = %s AND domain = %s", (int(destination_id), domain))
        row = cur.fetchone()
    return str(row[0]) if row else None


def list_destination_ids(db: Database, domain: str) -> list[tuple[int, Destination]]:
    """The domain's destinations with their database ids (the console links by id)."""
    with db.cursor() as cur:
        return _read_destinations(cur, domain)


def update_destination_audited(
    db: Database,
    domain: str,
    name: str,
    changes: Mapping[str, Any],
    audit: Callable[[Cursor, dict[str, Any], dict[str, Any]], None],
) -> Destination:
    """``update_destination`` whose ``audit(cur, before_doc, after_doc)`` runs in the
    same transaction (the console's audit row: the edit and its record commit
    together). The whole document is validated as an import is."""

    def change(doc: dict[str, Any]) -> int:
        found = [i for i, d in enumerate(doc["destinations"]) if d.get("name") == name]
        if not found:
            raise ValidationError("name", f"no destination {name!r} in {domain}")
        return found[0]

    before: dict[str, Any] = {}

    def edit(doc: dict[str, Any]) -> int:
        before.update(copy.deepcopy(doc["destinations"][change(doc)]))
        return _rename_and_change(doc, domain, name, changes)

    def after(cur: Cursor, _old: Optional[Directory], directory: Directory, index: int) -> None:
        audit(cur, before, destination_to_doc(directory.destinations[index]))

    directory, index = _edit(db, domain, edit, after=after)
    return directory.destinations[index]


def remove_destination(db: Database, domain: str, name: str) -> bool:
    """Remove one destination; False if there is none by that name. Refused
    (``DirectoryError``) while a secretary or destination falls back to it."""
    if get_destination(db, domain, name) is None:
        return False

    def change(doc: dict[str, Any]) -> int:
        before = len(doc["destinations"])
        doc["destinations"] = [d for d in doc["destinations"] if d.get("name") != name]
        if len(doc["destinations"]) == before:
            raise ValidationError("name", f"no destination {name!r} in {domain}")
        return -1

    _edit(db, domain, change)
    return True


# --------------------------------------------------------------------------- cached resolver


class DomainResolver:
    """A domain's directory with its ``Resolver``; immutable, shared between calls."""

    def __init__(
        self, directory: Directory, version: datetime, secretary_ids: Optional[dict[str, int]] = None
    ) -> None:
        self.directory = directory
        self.version = version
        self.resolver = Resolver(directory.destinations)
        self._secretary_ids = dict(secretary_ids or {})

    def secretary_record(self, did: str) -> Optional[SecretaryRecord]:
        """The secretary answering ``did``, from this loaded directory (no query:
        a call start costs one version check, not a lookup per call)."""
        secretary = self.directory.secretary_for_did(did)
        if secretary is None or secretary.name not in self._secretary_ids:
            return None
        return SecretaryRecord(self._secretary_ids[secretary.name], self.directory.domain, secretary)

    @property
    def domain(self) -> str:
        return self.directory.domain

    def destination(self, name: str) -> Optional[Destination]:
        return self.directory.destination(name)

    def hours_for(self, name: str, secretary: Optional[Secretary] = None) -> Optional[BusinessHours]:
        d = self.directory.destination(name)
        return self.directory.hours_for(d, secretary) if d else None

    def resolve(
        self, utterance: str, *, at: Optional[datetime] = None, secretary: Optional[Secretary] = None
    ) -> Resolution:
        """Resolve an utterance; ``open`` uses the destination's own hours, else the
        secretary's (when given), else the domain's, at ``at`` (default now)."""
        return self.resolver.resolve(utterance, at=at, hours_for=self.directory.hours_lookup(secretary))


_cache_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Database, dict[str, DomainResolver]] = weakref.WeakKeyDictionary()


def invalidate(db: Database, domain: Optional[str] = None) -> None:
    """Forget cached resolvers of ``domain`` (all domains if None) for ``db``."""
    with _cache_lock:
        entries = _cache.get(db)
        if entries is None:
            return
        if domain is None:
            entries.clear()
        else:
            entries.pop(domain, None)


def load_resolver(db: Database, domain: str) -> Optional[DomainResolver]:
    """The domain's resolver, rebuilt only when the stored directory changed (one
    cheap version query per call, so edits from another process are seen at once).
    None if the domain does not exist."""
    with db.cursor() as cur:
        cur.execute("SELECT updated_at FROM domains WHERE domain = %s", (domain,))
        row = cur.fetchone()
    if row is None:
        invalidate(db, domain)
        return None
    version = row[0]
    with _cache_lock:
        cached = _cache.get(db, {}).get(domain)
    if cached is not None and cached.version == version:
        return cached
    with db.transaction() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        ids: dict[str, int] = {}
        directory = _read_directory(cur, domain, secretary_ids=ids)
        cur.execute("SELECT updated_at FROM domains WHERE domain = %s", (domain,))
        vrow = cur.fetchone()
    if directory is None or vrow is None:
        return None
    fresh = DomainResolver(directory, vrow[0], ids)
    with _cache_lock:
        _cache.setdefault(db, {})[domain] = fresh
    return fresh


def cached_resolver(db: Database, domain: str) -> Optional[DomainResolver]:
    """The directory this process last loaded for ``domain``, without touching the
    database: the fallback while PostgreSQL is unreachable (possibly stale; never
    used when the database answers)."""
    with _cache_lock:
        return _cache.get(db, {}).get(domain)


def load_directory(db: Database, domain: str) -> Optional[Directory]:
    """The cached directory of ``domain`` (see ``load_resolver``)."""
    found = load_resolver(db, domain)
    return found.directory if found else None


__all__ = [
    "DomainRecord",
    "DomainResolver",
    "ImportReport",
    "KindReport",
    "SecretaryRecord",
    "add_destination",
    "cached_resolver",
    "destination_name_by_id",
    "export_directory",
    "get_destination",
    "get_destination_id",
    "get_domain",
    "get_secretary",
    "get_secretary_by_did",
    "import_directory",
    "invalidate",
    "list_destination_ids",
    "list_destinations",
    "list_domains",
    "load_directory",
    "load_resolver",
    "remove_destination",
    "update_destination",
    "update_destination_audited",
]
