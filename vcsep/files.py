"""Files written whole or not at all.

Every file (or folder) vcsep writes goes to a unique temporary name beside its target and is renamed
onto the target only when complete, so a crash, a full disk or Ctrl-C never leaves a half-written
output under the real name, and two processes writing the same target never share a temporary file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: str | os.PathLike) -> Path:
    """A hidden, unique name beside ``path`` that keeps its suffix, so writers that pick the format
    from the extension (soundfile, PyAV) still work: ``out/vn.wav`` -> ``out/.vn.1234-9f3a.partial.wav``
    (process id and a random tag: concurrent writers never share one)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(3)}.partial{path.suffix}")


# A name made by temporary_name: the writer's process id is group 1.
_TEMPORARY = re.compile(r"\..*\.(\d+)-[0-9a-f]{6}\.partial(\.[^.]*)?")


def _running(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def remove_stale(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders (:func:`temporary_name`) in ``folder`` whose writer
    process is gone: what a run killed before it could clean up (SIGKILL, a power cut) left behind.
    Returns what was deleted. Call it only while holding the folder's :func:`folder_lock`."""
    stale = []
    for path in Path(folder).iterdir():
        match = _TEMPORARY.fullmatch(path.name)
        if match and not _running(int(match.group(1))):
            remove(path)
            stale.append(path)
    return stale


def remove(path: str | os.PathLike) -> None:
    """Delete a file or folder if it exists (no error when it does not)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on a clean exit it replaces ``path``,
    on any exception (including KeyboardInterrupt) it is deleted and the exception propagates.

    Works for folders too: a folder written at the temporary path replaces an existing ``path``.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            remove(path)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | os.PathLike, data, indent: int = 2) -> Path:
    """Write ``data`` as JSON (with a final newline) to ``path`` atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=indent) + "\n")


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy ``source`` to ``target`` atomically; returns the target."""
    target = Path(target)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path when it is a file; else a ``FileNotFoundError``/``IsADirectoryError`` that
    says which (a folder given for a file is not a missing file)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"is a folder, not a {what} file", str(path))
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"{what} not found (the file does not exist)", str(path))
    return path


LOCK_NAME = ".vcsep.lock"


def check_output_folder(path: str | os.PathLike, needed_bytes: int = 0) -> Path:
    """Make sure ``path`` can take a run's outputs before the run starts; returns it.

    Creates the folder (and its parents) when missing; an ``OSError`` naming the folder when it is a
    file, cannot be created, is not writable, or has less than ``needed_bytes`` free (with the
    errno of the cause, ``ENOSPC`` for too little space).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(err.errno, f"cannot create the output folder ({err.strerror})", str(path)) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "the output folder is not writable", str(path))
    free = shutil.disk_usage(path).free
    if free < needed_bytes:
        raise OSError(
            errno.ENOSPC,
            f"No space left on device: the outputs need about {needed_bytes / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB are free",
            str(path),
        )
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """Make sure a file can be written at ``path`` before the work that makes it starts; returns it.

    The folder it goes in is checked (and created) by :func:`check_output_folder`; an existing
    folder at ``path`` itself is an ``IsADirectoryError`` naming it.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", str(path))
    check_output_folder(path.parent)
    return path


@contextmanager
def folder_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on the folder ``path`` (which must exist) for the ``with`` block.

    Two runs writing into one folder would mix their outputs; the second one gets a
    ``BlockingIOError`` naming the folder instead of waiting. The lock is an ``flock`` on
    ``path/.vcsep.lock`` (holding the owner's process id): the kernel releases it when the process
    ends, however it ends, so a crashed run never leaves the folder locked. Once locked, the work
    files that runs which died left in the folder are deleted (:func:`remove_stale`).
    """
    lock = Path(path) / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise BlockingIOError(
                errno.EWOULDBLOCK,
                f"another vcsep run (process {owner}) is writing to this folder; wait for it or pick another",
                str(path),
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        remove_stale(path)
        yield lock
    finally:
        os.close(fd)  # releases the flock
