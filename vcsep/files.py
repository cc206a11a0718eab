"""Files written whole or not at all.

Every file (or folder) vcsep writes goes to a unique temporary name beside its target and is renamed
onto the target only when complete, so a crash, a full disk or Ctrl-C never leaves a half-written
output under the real name, and two processes writing the same target never share a temporary file.
"""

from __future__ import annotations

import json
import os
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
