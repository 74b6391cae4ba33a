"""A PostgreSQL cluster one test owns and may stop and start (an outage), never
the shared per-session server every other test uses."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voiceai_ivr.stores.db import stop_embedded_at


@contextmanager
def own_cluster(prefix: str = "ownpg") -> Iterator[Path]:
    """The cluster's folder (started with ``ensure_embedded``); stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=tempfile.gettempdir()))
    try:
        yield root / "pg"
    finally:
        try:
            stop_embedded_at(root / "pg", timeout=30)
        except Exception:
            pass
        shutil.rmtree(root, ignore_errors=True)


def stop_cluster(path: Path) -> None:
    assert stop_embedded_at(path, timeout=60), "PostgreSQL did not stop"


def restart_cluster(path: Path) -> str:
    """Start it again; returns its DSN. pgserver caches its server object per
    process: start it from a fresh interpreter, as the next voiceai-ivr command
    would after an outage."""
    code = ("import sys; from pathlib import Path; from voiceai_ivr.stores.db import ensure_embedded; "
            "print(ensure_embedded(Path(sys.argv[1]), connect_timeout=5))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-1000:]
    return out.stdout.strip().splitlines()[-1]
