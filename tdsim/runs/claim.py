"""Claiming an output path: one writer per store, and ``overwrite`` replaces only tdsim stores.

A store is written by one process at a time. The writer holds an OS file lock (``flock``) on a
small file beside the store, ``.<name>.lock``, for as long as it writes; the lock goes with the
process, so a killed run leaves none behind, and a second writer (another ``tdsim run`` or sweep
driver on the same output) is refused at once with the first one's pid. The lock file itself
stays (removing it would race with a writer about to take it); it holds only that pid.

``overwrite`` deletes a folder only if it is a tdsim store (a Zarr group with a ``tdsim_version``
attribute) or what a killed run left while creating one: never a user's folder of other files."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import zarr

from tdsim.errors import SpecError


class StoreLock:
    """The exclusive write lock of the store at ``path``; ``release()`` (or process exit) frees it."""

    def __init__(self, path: Path):
        """Claim ``path``: refuse an output that cannot be a store, make its folder, take the lock."""
        self.fd = None
        self.path = Path(path)
        check_output(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.parent / f".{self.path.name}.lock"
        try:
            self.fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SpecError("output", f"cannot write beside {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            self.fd = None
            raise SpecError("output", f"{self.path} is being written by another tdsim process (pid {holder}); "
                                      "a store takes one writer at a time") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)            # closing the descriptor drops the flock
            self.fd = None

    def __del__(self):
        self.release()


def open_existing(path: Path):
    """The Zarr group at ``path`` opened for writing, or None if it is not one."""
    try:
        return zarr.open_group(str(path), mode="r+")
    except Exception:   # noqa: BLE001 (zarr raises several kinds for "not a group")
        return None


def aborted_creation(path: Path) -> bool:
    """A directory left by a run killed while creating its group: nothing in it but zarr's
    temporary '*.partial' files (never a user's folder with content)."""
    if not path.is_dir() or (path / "zarr.json").exists():
        return False
    return all(p.is_file() and p.name.endswith(".partial") for p in path.iterdir())


def is_store(root) -> bool:
    """A group tdsim wrote (every tdsim store records the version that wrote it)."""
    return root is not None and "tdsim_version" in root.attrs


def check_output(path: Path) -> None:
    """Refuse an output path that cannot become a store, before any work: under a regular file,
    a regular file itself, or in a folder we may not write."""
    path = Path(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SpecError("output", f"{path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise SpecError("output", f"{path}: the folder {parent} is not writable")
            break
    if path.exists() and not path.is_dir():
        raise SpecError("output", f"{path} is a file, not a store; choose another output")


def refuse_overwrite_of_non_store(path: Path, root) -> None:
    """``overwrite`` replaces a tdsim store only: a folder holding anything else is the user's."""
    if path.exists() and not is_store(root) and not aborted_creation(path) and any(path.iterdir()):
        names = ", ".join(sorted(p.name for p in path.iterdir())[:8])
        raise SpecError("output", f"{path} is not a tdsim store (holds {names}); --overwrite replaces only a "
                                  "tdsim store, never other files: choose another output")
