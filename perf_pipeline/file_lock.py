"""An exclusive lock on a file beside the data it guards, held across processes.

Notifier runs, CLI commands and sensors of one data root may run at once; each read-modify-write
of a shared file (the delivery ledger, people's alert decisions) holds the lock of that file so
that two writers never interleave. `flock` is released by the kernel if the holder dies, so a
killed process never leaves a data root locked.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_lock(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock` (created if missing); blocks until it is free."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
