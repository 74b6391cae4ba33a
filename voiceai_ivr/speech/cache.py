"""The speech audio directory: synthesized prompts and callers' recorded answers.

Layout under ``speech.audio_dir`` (default ``<data dir>/speech``)::

    tts/<language>/<2 hex>/<sha256>.wav       one synthesized text (16 kHz mono 16-bit)
    rec/<YYYY-MM-DD>/<call uuid>-<turn>.wav   a caller's answer, recorded by FreeSWITCH

Both hold customer data (names, numbers, voices): every directory is created
0700 and every file 0600, whatever the umask. A synthesized file is named by the
SHA-256 of (language, voice, engine, text), so a text is synthesized once per
voice, and written atomically (a temporary file in the same directory, fsync,
rename): a call never plays half a file, and two calls synthesizing the same text
at once both end up with the same whole file.

FreeSWITCH reads the prompts and writes the recordings at the same paths, so it
must see this directory (same host, a shared mount, or mod_python3 inside
FreeSWITCH) and run as the same user (0700); ``speech.plan`` checks the first
with FreeSWITCH's ``file_exists``.

Retention (``voiceai-ivr speech cleanup``, or ``scripts/voiceai-ivr-speech-cleanup.timer``):
recordings older than ``speech.keep_recordings_hours`` and synthesized audio not
used for ``speech.keep_synthesized_days`` are deleted (a cache hit refreshes the
file's time at most once a day).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Union

from voiceai_ivr.privatefs import make_private_dirs

log = logging.getLogger("voiceai_ivr.speech")

DIR_MODE = 0o700
FILE_MODE = 0o600
CACHE_VERSION = "1"
#: A cache hit refreshes the file's mtime (retention) when it is older than this.
TOUCH_AFTER_S = 86400.0
#: Temporary files older than this are leftovers of a crash.
STALE_TMP_S = 3600.0
_SAFE_PART = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
#: What ``speech.audio_dir`` may not contain (FreeSWITCH splits ``record``'s
#: argument on blanks and expands ``${}``).
UNSAFE_PATH = re.compile(r"[\s'\"${}\\;|&<>`]")


def ensure_dir(path: Path) -> Path:
    """``path`` and its missing parents created 0700 (umask ignored); an existing
    directory of ours is tightened to 0700."""
    make_private_dirs(path)
    st = path.stat()
    if st.st_uid == os.geteuid() and st.st_mode & 0o777 != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all (0600)."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".tmp-", suffix=".wav")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def cache_key(language: str, voice: str, engine: str, text: str) -> str:
    raw = json.dumps([CACHE_VERSION, language, voice, engine, " ".join(text.split())], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass
class CleanupReport:
    recordings_deleted: int = 0
    synthesized_deleted: int = 0
    temporary_deleted: int = 0
    bytes_freed: int = 0
    kept: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "recordings_deleted": self.recordings_deleted,
            "synthesized_deleted": self.synthesized_deleted,
            "temporary_deleted": self.temporary_deleted,
            "bytes_freed": self.bytes_freed,
            "kept": self.kept,
            "errors": list(self.errors),
        }


class AudioStore:
    """The audio directory (thread-safe: every write is atomic)."""

    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_absolute():
            self.root = self.root.resolve()

    @property
    def tts_root(self) -> Path:
        return self.root / "tts"

    @property
    def rec_root(self) -> Path:
        return self.root / "rec"

    # ------------------------------------------------------------------ synthesized

    def tts_path(self, language: str, voice: str, engine: str, text: str) -> Path:
        if not _SAFE_PART.match(language):
            raise ValueError(f"not a language tag: {language!r}")
        key = cache_key(language, voice, engine, text)
        return self.tts_root / language / key[:2] / f"{key}.wav"

    def lookup(self, language: str, voice: str, engine: str, text: str) -> Optional[Path]:
        """The cached file for this text, when there is one."""
        path = self.tts_path(language, voice, engine, text)
        try:
            st = path.stat()
        except OSError:
            return None
        if st.st_size <= 44:
            return None
        if time.time() - st.st_mtime > TOUCH_AFTER_S:
            try:
                os.utime(path)
            except OSError:
                pass
        return path

    def store(self, language: str, voice: str, engine: str, text: str, wav: bytes) -> Path:
        return write_atomic(self.tts_path(language, voice, engine, text), wav)

    # ------------------------------------------------------------------ recordings

    def recording_path(self, call_uuid: str, turn: int, *, now: Optional[datetime] = None) -> Path:
        """A new, empty 0600 file for one recorded answer (FreeSWITCH truncates and
        writes it, keeping its mode) in a 0700 folder of the day."""
        if not _SAFE_PART.match(call_uuid):
            raise ValueError(f"not a call uuid: {call_uuid!r}")
        day = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
        folder = ensure_dir(self.rec_root / day)
        path = folder / f"{call_uuid}-{int(turn)}.wav"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
        os.close(fd)
        os.chmod(path, FILE_MODE)
        return path

    # ------------------------------------------------------------------ retention

    def cleanup(self, *, keep_recordings_s: float, keep_synthesized_s: float,
                now: Optional[float] = None, dry_run: bool = False) -> CleanupReport:
        """Delete recordings older than ``keep_recordings_s`` and synthesized files
        unused for ``keep_synthesized_s`` (0 or less: keep them all), plus leftover
        temporary files; then empty day folders."""
        report = CleanupReport()
        now = time.time() if now is None else now
        for base, keep, kind in ((self.rec_root, keep_recordings_s, "rec"),
                                 (self.tts_root, keep_synthesized_s, "tts")):
            if not base.is_dir():
                continue
            for dirpath, _dirnames, filenames in os.walk(base, topdown=False):
                for name in filenames:
                    path = Path(dirpath) / name
                    try:
                        st = path.lstat()
                    except OSError:
                        continue
                    age = now - st.st_mtime
                    if name.startswith(".tmp-"):
                        expired, counter = age > STALE_TMP_S, "temporary_deleted"
                    else:
                        expired = keep > 0 and age > keep
                        counter = "recordings_deleted" if kind == "rec" else "synthesized_deleted"
                    if not expired:
                        report.kept += 1
                        continue
                    if not dry_run:
                        try:
                            path.unlink()
                        except OSError as exc:
                            report.errors.append(f"{path}: {exc.strerror or exc}")
                            continue
                    setattr(report, counter, getattr(report, counter) + 1)
                    report.bytes_freed += st.st_size
                if not dry_run and Path(dirpath) != base:
                    try:
                        os.rmdir(dirpath)  # only when empty
                    except OSError:
                        pass
        return report


__all__ = ["DIR_MODE", "FILE_MODE", "UNSAFE_PATH", "AudioStore", "CleanupReport", "cache_key", "ensure_dir",
           "write_atomic"]
