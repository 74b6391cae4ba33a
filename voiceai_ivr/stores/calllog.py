"""The call log's background writer: ``CallLogWriter`` takes the call-start and
call-end rows and the transfer attempts off the call's own thread, journals them
to ``<data dir>/calllog-journal`` and commits them in batches (``stores.calls.
write_rows``); see its docstring for what a crash can and cannot lose.
``install_writer`` / ``writer_for`` / ``uninstall_writer``: one writer per
database handle.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import itertools
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from voiceai_ivr.config import default_data_dir
from voiceai_ivr.errors import DatabaseUnavailable, StoreError, ValidationError
from voiceai_ivr.ports import Database
from voiceai_ivr.privatefs import make_private_dirs, open_private
from voiceai_ivr.stores import outbox
from voiceai_ivr.stores.calls import (
    Notice,
    TransferAttemptRecord,
    check_attempt,
    check_outcome,
    check_start,
    json_text,
    write_rows,
)

log = logging.getLogger(__name__)


JOURNAL_DIR = "calllog-journal"
_SEGMENT_PREFIX = "calllog-"
_SEGMENT_SUFFIX = ".jsonl"
_REJECTED = "calllog.rejected"


def journal_dir(data_dir: str) -> Path:
    """Where ``CallLogWriter`` keeps its journal: ``<data_dir>/calllog-journal``."""
    if data_dir:
        return Path(data_dir).expanduser() / JOURNAL_DIR

    return default_data_dir() / JOURNAL_DIR


class _Segment:
    """One journal file: every row submitted while it was current, in order."""

    __slots__ = ("bytes", "fd", "keep", "last_seq", "opened", "path")

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.last_seq = 0
        self.bytes = 0
        self.opened = time.monotonic()
        self.keep = False  # a row in it never reached the queue: the next start replays it


_WRITERS: weakref.WeakKeyDictionary[Any, CallLogWriter] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


class CallLogWriter:
    """Writes the call log's start and end rows, and the transfer attempts (with
    their helpdesk notice), from one background thread, in batches, so a call
    never waits for PostgreSQL, and nothing is lost while it is down.

    Durability. Every row is first appended to a journal file in ``directory``
    (one ``write`` from the call's thread, no fsync), then committed to PostgreSQL
    by the writer thread together with whatever else is queued (one transaction,
    usually a few milliseconds later). The journal is what survives a crash of the
    process: the kernel keeps what was written, and the next writer started on the
    same directory (the next ``serve``) replays the journal files no live writer
    holds (each holds an ``flock`` on its own), then deletes them. Replays are
    idempotent: the start row is inserted once per ``call_uuid``; the end row sets
    the same values again; an attempt is inserted once per ``call_uuid`` and
    ``transfer_id``, its notice once per idempotency key. A journal file is deleted only once every row in it is
    committed.

    The trade-off against writing in the call's thread: after a process crash the
    rows of its last milliseconds reach the table when the next writer starts,
    not before; a power cut or kernel crash can lose the unsynced tail of the
    journal (the last few milliseconds of rows), where a row committed before the
    call went on would have survived. ``started_at`` and ``ended_at`` are the
    host's clock when the call started and ended (not the database's ``now()``
    when the row was written).

    Bounded. At most ``max_pending`` rows wait in memory; past that a row is only
    journaled, and its journal file is kept for the next start's replay (the
    database is down or far behind: nothing is dropped). While PostgreSQL is
    unreachable the writer retries with backoff (up to ``retry_max_s`` apart). A
    row PostgreSQL refuses (it never should) is logged and kept in
    ``calllog.rejected`` next to the journal, never silently dropped.
    """

    def __init__(
        self,
        db: Database,
        directory: Path,
        *,
        max_batch: int = 500,
        max_pending: int = 20000,
        linger_s: float = 0.005,
        retry_max_s: float = 5.0,
        segment_max_s: float = 10.0,
        segment_max_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.db = db
        self.directory = Path(directory)
        self.max_batch = max(1, int(max_batch))
        self.max_pending = max(1, int(max_pending))
        self.linger_s = max(0.0, float(linger_s))
        self.retry_max_s = max(0.05, float(retry_max_s))
        self.segment_max_s = segment_max_s
        self.segment_max_bytes = segment_max_bytes
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: list[tuple[int, dict[str, Any]]] = []
        self._seq = 0  # last row submitted
        self._queued = 0  # last row that went to the queue
        self._committed = 0  # every queued row up to this one is committed
        self._segment: Optional[_Segment] = None
        self._closed_segments: list[_Segment] = []
        self._names = itertools.count(1)
        self._orphans: list[tuple[Path, int]] = []
        self._idle = False
        self._stopping = False
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self._warned_at = 0.0
        self.rows_written = 0
        self.batches = 0
        self.overflowed = 0
        self.replayed = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CallLogWriter:
        """Create the journal folder (0700), claim the journals of writers that are
        gone (replayed by the writer thread) and start that thread."""
        make_private_dirs(self.directory)
        for path in sorted(self.directory.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}")):
            fd = _claim(path)
            if fd is not None:
                self._orphans.append((path, fd))
        if self._orphans:
            log.warning("call log: %d journal file(s) left by a writer that stopped early; replaying",
                        len(self._orphans))
        self._running = True
        self._thread = threading.Thread(target=self._run, name="call-log-writer", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._running and not self._stopping

    def flush(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) until every row queued so far is committed."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            target = self._queued
            self._cond.notify_all()
            while self._committed < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    break
                self._cond.wait(left)
            return self._committed >= target

    def stop(self, timeout: float = 5.0) -> bool:
        """Commit what is queued (at most ``timeout``), stop the thread, and delete
        the journal when everything in it is committed (else it stays for the
        next start). True when nothing was left behind."""
        deadline = time.monotonic() + max(0.0, timeout)
        done = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
        with self._cond:
            self._running = False
            segments = self._closed_segments + ([self._segment] if self._segment is not None else [])
            self._closed_segments, self._segment = [], None
            complete = self._committed >= self._queued and not self._queue
        for seg in segments:
            _close_segment(seg, remove=complete and not seg.keep)
        for _path, fd in self._orphans:
            os.close(fd)
        self._orphans = []
        left = not (done and complete) or any(seg.keep for seg in segments)
        if left:
            log.warning("call log: rows not yet in the database are kept in %s for the next start", self.directory)
        return not left

    # ------------------------------------------------------------------ rows

    def open_call(
        self,
        *,
        call_uuid: str,
        domain: str,
        secretary_id: Optional[int] = None,
        did: Optional[str] = None,
        caller_number: Optional[str] = None,
        caller_name: Optional[str] = None,
        language: Optional[str] = None,
        mode: str = "socket",
        details: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """``start_call``, written in the background (same checks, raised here)."""
        check_start(call_uuid, mode)
        self._submit({
            "op": "open", "call_uuid": call_uuid, "domain": domain or "", "secretary_id": secretary_id,
            "did": did, "caller_number": caller_number, "caller_name": caller_name, "language": language,
            "mode": mode, "details": json_text(dict(details or {}), "details"), "at": _now(),
        })

    def close_call(
        self,
        *,
        call_uuid: str,
        domain: str,
        mode: str,
        outcome: str,
        hangup_cause: Optional[str] = None,
        intents: Sequence[Mapping[str, Any]] = (),
        details: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """``start_call`` (if the start row is missing) and ``finish_call``, in the background."""
        check_start(call_uuid, mode)
        check_outcome(outcome)
        self._submit({
            "op": "close", "call_uuid": call_uuid, "domain": domain or "", "mode": mode, "outcome": outcome,
            "hangup_cause": hangup_cause, "intents": json_text([dict(i) for i in intents], "intents"),
            "details": json_text(dict(details or {}), "details"), "at": _now(),
        })

    def record_attempt(self, rec: TransferAttemptRecord, *, notice: Optional[Notice] = None) -> None:
        """``record_transfer_attempt`` (and, in the same transaction, the helpdesk
        ``notice``: kind, payload, idempotency key), written in the background.
        Written once: a replay skips an attempt whose ``details["transfer_id"]`` is
        already in the table for this call (the notice: its idempotency key)."""

        check_attempt(rec)
        transfer_id = rec.details.get("transfer_id") if isinstance(rec.details, Mapping) else None
        if not isinstance(transfer_id, str) or not transfer_id:
            raise ValidationError("details.transfer_id", "required to write the attempt once")
        at = _now()
        row: dict[str, Any] = {
            "op": "attempt", "call_uuid": rec.call_uuid, "domain": rec.domain or "",
            "destination_id": rec.destination_id, "destination_name": rec.destination_name,
            "dial_string": rec.dial_string, "agent_uuid": rec.agent_uuid, "status": rec.status,
            "hangup_cause": rec.hangup_cause, "sip_status": rec.sip_status,
            "wait_seconds": None if rec.wait_seconds is None else round(float(rec.wait_seconds), 3),
            "started_at": rec.started_at.isoformat() if rec.started_at else at,
            "ended_at": rec.ended_at.isoformat() if rec.ended_at else at,
            "details": json_text(rec.details, "details"), "transfer_id": transfer_id, "at": at,
        }
        if notice is not None:
            kind, payload, key = notice
            body = outbox.check_message(rec.domain, kind, payload, key)
            row["notice"] = {"kind": kind, "key": key, "payload": json.dumps(body, separators=(",", ":"))}
        self._submit(row)

    def _submit(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if not self._running or self._stopping:
                raise StoreError("the call log writer is stopped")
            self._seq += 1
            seq = self._seq
            seg = self._journal_segment()
            if seg is not None:
                try:
                    os.write(seg.fd, line)
                    seg.last_seq = seq
                    seg.bytes += len(line)
                except OSError as exc:
                    self._warn(f"call log journal {seg.path.name} not written ({exc}); the row goes to the "
                               "database only")
            if len(self._queue) >= self.max_pending:
                self.overflowed += 1
                if seg is not None and seg.last_seq == seq:
                    seg.keep = True
                self._warn(f"call log: {self.max_pending} rows wait for the database; further rows are kept "
                           f"in the journal for the next start")
                return
            self._queue.append((seq, row))
            self._queued = seq
            if self._idle:
                self._idle = False
                self._cond.notify_all()

    def _journal_segment(self) -> Optional[_Segment]:
        """Lock held: the journal file new rows go to (opened on first use)."""
        seg = self._segment
        if seg is None:
            name = f"{_SEGMENT_PREFIX}{os.getpid()}-{int(time.time() * 1000)}-{next(self._names)}{_SEGMENT_SUFFIX}"
            path = self.directory / name
            try:
                fd = _open_segment(path)
            except OSError as exc:
                self._warn(f"call log journal {path} cannot be created ({exc}); rows go to the database only")
                return None
            seg = self._segment = _Segment(path, fd)
        return seg

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 30.0:
            self._warned_at = now
            log.warning("%s", message)

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        delay = 0.1
        while True:
            with self._cond:
                while not self._queue and not self._orphans and not self._stopping:
                    self._idle = True
                    self._cond.wait(1.0)
                self._idle = False
                if self._stopping and not self._queue:
                    return
            if self._orphans:  # the rows a crashed writer left go in first, then ours
                if self._replay_orphans():
                    delay = 0.1
                    continue
                if self._sleep(delay):
                    return
                delay = min(delay * 2, self.retry_max_s)
                continue
            if self.linger_s and not self._stopping:
                with self._lock:
                    short = len(self._queue) < self.max_batch
                if short:
                    time.sleep(self.linger_s)  # let the rows of calls starting or ending now join
            with self._lock:
                batch = self._queue[: self.max_batch]
                seg = self._segment
                if seg is not None and (time.monotonic() - seg.opened > self.segment_max_s
                                        or seg.bytes > self.segment_max_bytes):
                    self._closed_segments.append(seg)  # rows after this go to a new file
                    self._segment = None
            try:
                self._write([row for _seq, row in batch])
            except StoreError as exc:
                self._warn(f"call log: {len(batch)} rows wait for the database ({exc}); retrying")
                if self._sleep(delay):
                    return
                delay = min(delay * 2, self.retry_max_s)
                continue
            delay = 0.1
            done: list[_Segment] = []
            with self._cond:
                del self._queue[: len(batch)]
                self._committed = batch[-1][0]
                self.rows_written += len(batch)
                self.batches += 1
                keep: list[_Segment] = []
                for seg in self._closed_segments:
                    (done if seg.last_seq <= self._committed and not seg.keep else keep).append(seg)
                self._closed_segments = keep
                self._cond.notify_all()
            for seg in done:
                _close_segment(seg, remove=True)

    def _sleep(self, seconds: float) -> bool:
        """Back off; True when the writer is being stopped."""
        with self._cond:
            if not self._stopping:
                self._cond.wait(seconds)
            return self._stopping

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """One transaction for the batch. A database that is down fails the whole
        batch (retried); a row it refuses is set apart and the rest written."""
        try:
            with self.db.cursor() as cur:
                write_rows(cur, rows)
            return
        except DatabaseUnavailable:
            raise
        except StoreError as exc:
            if len(rows) == 1:
                self._reject(rows[0], exc)
                return
        for row in rows:  # isolate the row the database refuses
            try:
                with self.db.cursor() as cur:
                    write_rows(cur, [row])
            except DatabaseUnavailable:
                raise
            except StoreError as exc:
                self._reject(row, exc)

    def _reject(self, row: dict[str, Any], exc: Exception) -> None:
        log.error("call log: the database refused the %s row of call %s (%s); kept in %s", row.get("op"),
                  row.get("call_uuid"), exc, self.directory / _REJECTED)

        line = (json.dumps({"error": str(exc)[:500], "row": row}, separators=(",", ":")) + "\n").encode()
        try:
            fd = open_private(self.directory / _REJECTED, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as err:
            log.error("call log: %s not written: %s", self.directory / _REJECTED, err)

    def _replay_orphans(self) -> bool:
        """Write the rows of the journals claimed at start; True when all are done."""
        while self._orphans:
            path, fd = self._orphans[0]
            rows, bad = _read_journal(fd)
            if bad:
                log.warning("call log journal %s: %d unreadable line(s) skipped (a write cut by the crash)",
                            path.name, bad)
            try:
                for start in range(0, len(rows), self.max_batch):
                    self._write(rows[start : start + self.max_batch])
            except StoreError as exc:
                self._warn(f"call log: journal {path.name} waits for the database ({exc})")
                return False
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)
            self._orphans.pop(0)
            self.replayed += len(rows)
            log.info("call log: %d row(s) of %s replayed", len(rows), path.name)
        return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()

def _open_segment(path: Path) -> int:
    fd = open_private(path, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while we live: nobody replays it
    except OSError:
        os.close(fd)
        raise
    return fd


def _claim(path: Path) -> Optional[int]:
    """An open, locked descriptor on a journal no live writer holds, else None."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            log.warning("call log journal %s: %s", path, exc)
        return None
    return fd


def _read_journal(fd: int) -> tuple[list[dict[str, Any]], int]:
    chunks = []
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            break
        chunks.append(data)
    rows: list[dict[str, Any]] = []
    bad = 0
    for line in b"".join(chunks).split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if (isinstance(row, dict) and row.get("op") in ("open", "close", "attempt") and row.get("call_uuid")
                and (row["op"] != "attempt" or row.get("transfer_id"))):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def _close_segment(seg: _Segment, *, remove: bool) -> None:
    if remove:
        with contextlib.suppress(OSError):
            seg.path.unlink()
    with contextlib.suppress(OSError):
        os.close(seg.fd)


def install_writer(db: Database, directory: Path, **options: Any) -> Optional[CallLogWriter]:
    """Start (once per database handle) the background writer ``open_call_log`` and
    ``close_call_log`` use from now on; ``uninstall_writer`` stops it. None (and a
    warning: rows are then written by each call, as without it) when the journal
    folder cannot be made."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(db)
        if writer is None or not writer.running:
            try:
                writer = CallLogWriter(db, directory, **options).start()
            except OSError as exc:
                log.warning("call log: journal folder %s not usable (%s); each call writes its own rows",
                            directory, exc)
                return None
            _WRITERS[db] = writer
        return writer


def writer_for(db: Database) -> Optional[CallLogWriter]:
    """The running background writer of this database handle, if one is installed."""
    writer = _WRITERS.get(db)
    return writer if writer is not None and writer.running else None


def uninstall_writer(db: Database, timeout: float = 5.0) -> bool:
    """Stop the writer of ``db`` after committing what it holds (see ``CallLogWriter.stop``)."""
    with _WRITERS_LOCK:
        writer = _WRITERS.pop(db, None)
    return writer.stop(timeout) if writer is not None else True


@atexit.register
def _stop_writers() -> None:
    for writer in list(_WRITERS.values()):
        with contextlib.suppress(Exception):
            writer.stop(5.0)


__all__ = [
    "JOURNAL_DIR",
    "CallLogWriter",
    "install_writer",
    "journal_dir",
    "uninstall_writer",
    "writer_for",
]
