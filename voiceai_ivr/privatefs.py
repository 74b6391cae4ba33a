"""Folders for customer data (spool, call-log journal, recordings, prompt audio):
created 0700 whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700


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


__all__ = ["DIR_MODE", "make_private_dirs"]
