"""Folders and files for customer data (spool, call-log journal, recordings,
prompt audio): folders created 0700 and files 0600, whatever the umask."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(directory: Path) -> Path:
    """Create ``directory`` and any missing parents as 0700 (``mkdir -p`` would
    follow the umask). Folders that already exist are left as they are."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)
    return directory


def open_private(path: Path, flags: int) -> int:
    """``os.open`` creating ``path`` as 0600; a file of ours that is more open
    (an older version, a copy) is narrowed to 0600 too."""
    fd = os.open(str(path), flags | os.O_CREAT, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except PermissionError:
        log.warning("%s: not ours, its permissions stay as they are", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


__all__ = ["DIR_MODE", "FILE_MODE", "make_private_dirs", "open_private"]
