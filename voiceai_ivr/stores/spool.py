"""The local spool: where a confirmed callback goes when PostgreSQL is unreachable,
so the caller still hears "confirmed" and the request is never lost.

Format: JSON lines, one entry per line::

    {"v": 1, "spool_id": "<uuid>", "written_at": "<iso>", "request": {...CallbackRequest...}}

Appending (``append_to_spool``) holds ``<path>.lock`` (``flock``, bounded wait),
writes the line with one ``write`` on an ``O_APPEND`` descriptor, and fsyncs the
file (and its directory when the file is new) before returning: once it returns,
the request survives a crash or power cut.

Replaying (``replay_spool``) is exactly once and safe from several processes:

1. under ``<path>.lock`` the spool file is renamed to ``<path>.replay-<uuid>``
   (new appends start a fresh spool at once, nobody waits for the database);
2. every ``<path>.replay-*`` file, including ones left by a replay that died, is
   processed under its own ``flock`` (a file another replay holds is skipped);
3. each entry is saved with ``save_confirmed_callback``: its ``spool_id`` (==
   the request id) is unique in ``callbacks`` and its outbox key is unique, so an
   entry saved before a crash is recognised and not saved again;
4. only after the rows are committed is the file removed, or rewritten (temp
   file, fsync, rename, fsync directory) with the entries still to do when the
   database went away mid-way.

Lines that are not a valid entry (a write torn by a crash, hand edits) go to
``<path>.rejected`` with the reason; they are never silently dropped.

Who replays, with no operator command: ``serve`` (a ``SpoolReplayer`` thread,
every ``helpdesk.delivery_interval`` seconds, its own host's spool) and every
dispatcher pass (cron or ``--loop``); ``voiceai-ivr spool replay`` by hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from voiceai_ivr.config import default_data_dir
from voiceai_ivr.errors import DatabaseUnavailable, StoreError, ValidationError
from voiceai_ivr.ports import Database
from voiceai_ivr.privatefs import make_private_dirs, open_private
from voiceai_ivr.stores.callbacks import CallbackRequest, ConfirmedMessages, save_confirmed_callback

if TYPE_CHECKING:
    from voiceai_ivr.config import Config

log = logging.getLogger(__name__)

SPOOL_VERSION = 1
DEFAULT_NAME = "callback-spool.jsonl"
_REPLAY_MARK = ".replay-"
# Customers' numbers and reasons: the folder the spool creates and every file in
# it are its owner's only, whatever the umask (privatefs: 0700 folders, 0600 files).


class SpoolBusy(StoreError):
    """The spool lock could not be taken within its bound."""


def spool_path(config: Optional[Config] = None) -> Path:
    """``callbacks.spool_path``, else ``<database.data_dir or default data dir>/callback-spool.jsonl``."""
    if config is not None and config.callbacks.spool_path:
        return Path(config.callbacks.spool_path).expanduser()
    if config is not None and config.database.data_dir:
        return Path(config.database.data_dir).expanduser() / DEFAULT_NAME

    return default_data_dir() / DEFAULT_NAME


def _ensure_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents as 0700; an existing folder is
    left as its owner set it."""
    make_private_dirs(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(str(directory), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flock(fd: int, timeout: float, what: str) -> None:
    """Exclusive ``flock`` within ``timeout`` seconds, else ``SpoolBusy``."""
    deadline = time.monotonic() + max(0.0, timeout)
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SpoolBusy(f"{what} is locked by another process (waited {timeout:.1f}s)")
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.1)


@contextlib.contextmanager
def _locked(path: Path, timeout: float) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    _ensure_dir(lock.parent)
    fd = open_private(lock, os.O_RDWR)
    try:
        _flock(fd, timeout, str(lock))
        yield
    finally:
        os.close(fd)  # releases the flock


@dataclass(frozen=True)
class SpoolEntry:
    spool_id: str
    written_at: datetime
    request: CallbackRequest

    def to_line(self) -> bytes:
        data = {
            "v": SPOOL_VERSION,
            "spool_id": self.spool_id,
            "written_at": self.written_at.isoformat(),
            "request": self.request.to_json(),
        }
        return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    @classmethod
    def from_line(cls, line: bytes) -> SpoolEntry:
        try:
            data = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValidationError("spool line", f"not JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("v") != SPOOL_VERSION:
            raise ValidationError("spool line", f"not a version {SPOOL_VERSION} entry")
        try:
            spool_id = str(uuid.UUID(str(data.get("spool_id"))))
        except ValueError as exc:
            raise ValidationError("spool_id", "must be a UUID") from exc
        try:
            written = datetime.fromisoformat(str(data.get("written_at")))
        except ValueError as exc:
            raise ValidationError("written_at", "not an ISO 8601 date-time") from exc
        request = CallbackRequest.from_json(data.get("request") or {})
        if request.spool_id != spool_id:
            raise ValidationError("request.spool_id", "does not match the entry's spool_id")
        return cls(spool_id, written, request)


def append_to_spool(path: Path, request: CallbackRequest, *, lock_timeout: float = 5.0) -> SpoolEntry:
    """Append one confirmed request durably (fsync'd). The entry's ``spool_id`` is
    the request's ``request_id``; the request is stored with ``source="spool"``."""
    path = Path(path)
    spooled = dataclasses.replace(request, spool_id=request.request_id, source="spool")
    entry = SpoolEntry(request.request_id, datetime.now(timezone.utc), spooled)
    line = entry.to_line()
    _ensure_dir(path.parent)
    with _locked(path, lock_timeout):
        created = not path.exists()
        fd = open_private(path, os.O_WRONLY | os.O_APPEND)
        try:
            size = os.fstat(fd).st_size
            if size > 0:
                # A previous writer may have died mid-line: start ours on a new one.
                with open(path, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        line = b"\n" + line
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(path.parent)
    log.warning(
        "callback %s spooled to %s (replayed once the database is back, by serve or the dispatcher)",
        entry.spool_id,
        path,
    )
    return entry


@dataclass
class ReplayReport:
    """What one ``replay_spool`` did. ``created``/``updated``: rows written;
    ``duplicates``: entries already in the database (a re-run after a crash);
    ``remaining``: entries left for later (database went away, or an entry's
    save failed); ``rejected``: unreadable lines moved to ``<path>.rejected``;
    ``skipped_files``: replay files another process was working on."""

    created: int = 0
    updated: int = 0
    duplicates: int = 0
    remaining: int = 0
    rejected: int = 0
    skipped_files: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def replayed(self) -> int:
        return self.created + self.updated

    @property
    def database_unavailable(self) -> bool:
        return any(e.startswith("database unavailable") for e in self.errors)


def _replay_files(path: Path) -> list[Path]:
    if not path.parent.is_dir():
        return []
    prefix = path.name + _REPLAY_MARK
    return sorted(
        p for p in path.parent.iterdir() if p.name.startswith(prefix) and not p.name.endswith(".tmp")
    )


def _reject(path: Path, raw: bytes, reason: str) -> None:
    target = path.with_name(path.name + ".rejected")
    record = json.dumps(
        {
            "rejected_at": datetime.now(timezone.utc).isoformat(),
            "reason": reason,
            "line": raw.decode("utf-8", "replace"),
        },
        ensure_ascii=False,
    )
    fd = open_private(target, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (record + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite(target: Path, lines: list[bytes]) -> None:
    """Atomically replace ``target`` with ``lines`` (or remove it when empty)."""
    if not lines:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        _fsync_dir(target.parent)
        return
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_EXCL)
    try:
        for line in lines:
            data = line if line.endswith(b"\n") else line + b"\n"
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def replay_spool(
    db: Database,
    path: Path,
    *,
    messages: ConfirmedMessages,
    lock_timeout: float = 10.0,
    on_saved: Optional[Callable[[SpoolEntry], None]] = None,
) -> ReplayReport:
    """Replay every spooled request into the database, exactly once (see the module
    docstring). Stops early, keeping the rest, when the database is unavailable.
    ``on_saved`` is called after each entry's transaction committed (progress
    reporting; tests use it to interrupt a replay half-way)."""
    path = Path(path)
    report = ReplayReport()
    if path.exists():
        with _locked(path, lock_timeout):
            if path.exists() and path.stat().st_size > 0:
                os.replace(path, path.with_name(f"{path.name}{_REPLAY_MARK}{uuid.uuid4().hex}"))
                _fsync_dir(path.parent)
    for file in _replay_files(path):
        try:
            fd = os.open(str(file), os.O_RDONLY)
        except FileNotFoundError:
            continue  # finished by another replay meanwhile
        try:
            try:
                _flock(fd, 0.0, str(file))
            except SpoolBusy:
                report.skipped_files += 1
                continue
            if not file.exists():
                continue  # removed by the replay that held it before us
            stop = _replay_file(db, file, path, messages, report, on_saved)
        finally:
            os.close(fd)
        if stop:
            break
    return report


def _replay_file(
    db: Database,
    file: Path,
    spool: Path,
    messages: ConfirmedMessages,
    report: ReplayReport,
    on_saved: Optional[Callable[[SpoolEntry], None]],
) -> bool:
    """Replay one claimed file; True when the database went away (stop replaying)."""
    raw_lines = [ln for ln in file.read_bytes().split(b"\n") if ln.strip()]
    keep: list[bytes] = []
    stop = False
    for raw in raw_lines:
        if stop:
            keep.append(raw)
            continue
        try:
            entry = SpoolEntry.from_line(raw)
        except ValidationError as exc:
            _reject(spool, raw, str(exc))
            report.rejected += 1
            continue
        try:
            result = save_confirmed_callback(db, entry.request, messages)
        except DatabaseUnavailable as exc:
            report.errors.append(f"database unavailable: {exc}")
            keep.append(raw)
            stop = True
            continue
        except StoreError as exc:
            # Not an outage and not this entry's fault we can fix here: keep it.
            report.errors.append(f"{entry.spool_id}: {exc}")
            keep.append(raw)
            continue
        if result.already_saved:
            report.duplicates += 1
        elif result.created:
            report.created += 1
        else:
            report.updated += 1
        if on_saved is not None:
            on_saved(entry)
    report.remaining += len(keep)
    _rewrite(file, keep)
    return stop


def spool_pending(path: Path) -> bool:
    """Anything for ``replay_spool`` to do: a non-empty spool or a replay file
    (a ``stat`` and a directory listing, no lock)."""
    path = Path(path)
    try:
        if path.stat().st_size > 0:
            return True
    except OSError:
        pass
    return bool(_replay_files(path))


class SpoolReplayer:
    """A process's own spool, replayed in the background (``serve``): every
    ``interval`` seconds, when something waits, ``replay_spool``; ``metrics``
    (``set_spool``) gets the entries still waiting. A database still away is
    logged once per outage. ``stop()`` is bounded by one replay."""

    def __init__(self, db: Database, path: Path, *, messages: ConfirmedMessages, interval: float = 5.0,
                 metrics: Any = None) -> None:
        self.db = db
        self.path = Path(path)
        self.messages = messages
        self.interval = max(0.05, float(interval))
        self.metrics = metrics
        self.replayed = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._waiting = False  # the last round left entries behind

    def start(self) -> SpoolReplayer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spool-replay", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the replay thread must outlive any one failure
                log.exception("spool replay failed; retrying in %.0fs", self.interval)
            self._stop.wait(self.interval)

    def run_once(self) -> Optional[ReplayReport]:
        """One round; None when nothing waited."""
        if not spool_pending(self.path):
            if self._waiting:
                self._report(0)
                self._waiting = False
            return None
        report = replay_spool(self.db, self.path, messages=self.messages)
        self.replayed += report.replayed
        if report.replayed or report.duplicates:
            log.warning("spool %s: %d callback(s) written to the database (%d already there), %d left",
                        self.path, report.replayed, report.duplicates, report.remaining)
        if report.database_unavailable and not self._waiting:
            log.warning("spool %s: the database is still unreachable; %d callback(s) wait, retried every %.0fs",
                        self.path, report.remaining, self.interval)
        elif report.errors and not report.database_unavailable:
            log.error("spool %s: %s", self.path, "; ".join(report.errors[:3]))
        self._waiting = report.remaining > 0 or report.skipped_files > 0
        self._report(spool_status(self.path).entries if self._waiting else 0)
        return report

    def _report(self, entries: int) -> None:
        if self.metrics is not None and hasattr(self.metrics, "set_spool"):
            self.metrics.set_spool(entries)


@dataclass(frozen=True)
class SpoolStatus:
    path: Path
    entries: int  # valid entries waiting (spool file + replay files)
    unreadable: int  # lines that will be rejected at the next replay
    oldest: Optional[datetime]
    files: int
    rejected: int  # lines already in <path>.rejected


def spool_status(path: Path) -> SpoolStatus:
    """What is waiting in the spool (reads without locking; a snapshot)."""
    path = Path(path)
    files = ([path] if path.exists() else []) + _replay_files(path)
    entries = unreadable = 0
    oldest: Optional[datetime] = None
    for file in files:
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            continue
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                entry = SpoolEntry.from_line(raw)
            except ValidationError:
                unreadable += 1
                continue
            entries += 1
            if oldest is None or entry.written_at < oldest:
                oldest = entry.written_at
    rejected_file = path.with_name(path.name + ".rejected")
    rejected = 0
    if rejected_file.exists():
        rejected = sum(1 for ln in rejected_file.read_bytes().split(b"\n") if ln.strip())
    return SpoolStatus(path, entries, unreadable, oldest, len(files), rejected)


__all__ = [
    "ReplayReport",
    "SpoolBusy",
    "SpoolEntry",
    "SpoolReplayer",
    "SpoolStatus",
    "append_to_spool",
    "replay_spool",
    "spool_path",
    "spool_pending",
    "spool_status",
]
