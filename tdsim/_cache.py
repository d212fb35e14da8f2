"""Numba's on-disk cache checks only the timestamp of the file a function lives in, not of the
files it calls into: after an edit to kernels.py, engine.py's cached machine code would still call
the old kernels. Before any compiled module is imported, drop every cached entry when the
compiled sources changed (digest of their contents, kept beside the cache), and with it the
sweep driver's markers of a done warm-up (tdsim.sweep.warm_marker)."""
import hashlib
from pathlib import Path

_SOURCES = ("kernels.py", "linalg.py", "engine.py", "elements.py", "_jit.py", "rodas.py")


def guard() -> None:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join((here / f).read_bytes() for f in _SOURCES)).hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "tdsim-kernels.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")) + list(cache.glob("tdsim-warm-*")):
            f.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:          # a read-only install: numba falls back to its own cache locations
        pass
