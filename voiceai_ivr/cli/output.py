"""``--output FILE`` of the export commands: refused up front when it cannot be
written, written beside the target and renamed into place (never half-written),
readable by its owner only (exports hold customers' data), whatever the umask."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO

import click

OUTPUT_MODE = 0o600


def check_output(path: str, option: str = "--output") -> None:
    """Refuse, before any work, a path whose folder is missing or not writable,
    or that is a directory: one line naming the option and what was typed."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise click.ClickException(f"{option} {path}: is a directory; give a file name")
    if not os.path.isdir(folder):
        raise click.ClickException(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.ClickException(f"{option} {path}: folder {folder} is not writable")


@contextlib.contextmanager
def atomic_output(path: str, option: str = "--output") -> Iterator[IO[str]]:
    """A text file that becomes ``path`` (mode 0600) only when the block ends
    without an error; on any error the partial file is removed and ``path`` is
    left as it was."""
    check_output(path, option)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".voiceai-export-", dir=folder)  # created 0600
    except OSError as exc:
        raise click.ClickException(f"{option} {path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), OUTPUT_MODE)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise click.ClickException(f"{option} {path}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
