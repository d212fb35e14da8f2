"""Numba's on-disk cache checks only the timestamp of the file a function lives in, not of the
files it calls into: after an edit to core/kernels.py, core/loop.py's cached machine code would
still call the old kernels. Before any compiled module is imported, drop every cached entry when
the compiled sources (every file of ``tdsim/core``) changed (digest of their contents, kept
beside the cache), and with it the sweep driver's markers of a done warm-up
(tdsim.runs.sweep.warm_marker)."""
import hashlib
from pathlib import Path

CORE = Path(__file__).resolve().parent / "core"
CACHE = CORE / "__pycache__"


def sources() -> list:
    """The compiled sources, in a fixed order."""
    return sorted(CORE.rglob("*.py"))


def guard() -> None:
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in sources())).hexdigest()
    stamp = CACHE / "tdsim-kernels.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for cache in CORE.rglob("__pycache__"):
            for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")) + list(cache.glob("tdsim-warm-*")):
                f.unlink(missing_ok=True)
        CACHE.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:          # a read-only install: numba falls back to its own cache locations
        pass
