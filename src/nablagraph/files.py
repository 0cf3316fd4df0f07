"""Safe file access shared by every writer and reader of the package.

* :func:`open_regular` opens a file for reading without ever blocking: FIFOs, devices
  (``/dev/zero``), sockets and folders are refused before and after opening.
* :func:`atomic_write` writes to a temporary file beside the target, fsyncs and
  renames it over the target: an interrupted write leaves the old file intact and no
  temporary file behind.  A symbolic link is followed (the file it points to is
  replaced, the link stays); a link loop, a folder, a FIFO or a device is refused
  (``os.replace`` would swap the link, the pipe or the device itself).
* :func:`check_write_target` raises now what a write would raise later.

Weight files and checkpoints (:mod:`nablagraph.io`), IDX files (:mod:`nablagraph.data`),
diagrams (:mod:`nablagraph.viz`) and plots all go through here, so the rules are the
same for every file the package touches.

Imports: ``errors`` only (it sits below every module that reads or writes files).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable
from io import FileIO
from pathlib import Path
from typing import Any

from nablagraph.errors import ConfigError, FileFormatError

__all__ = ["PathLike", "open_regular", "atomic_write", "check_write_target", "tmp_stem"]

PathLike = str | os.PathLike[str]


def _check_path(path: Any, what: str) -> None:
    """Refuse what is not a file name (an ``int`` would be taken as an open descriptor)."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{what}: expected a file path (str or os.PathLike), got {type(path).__name__}")
    if "\0" in os.fspath(path):
        raise ConfigError(f"{what}: the file path {os.fspath(path)!r} holds a NUL character, which no file name can")


def _write_target(path: Path, what: str = "save") -> Path:
    """The file to replace for ``path``: the one a symbolic link points to.

    A link loop, a folder and anything but a regular file (a FIFO, a device such as
    ``/dev/null``, a socket) are refused: ``os.replace`` would swap the link, the
    device or the pipe itself for a regular file.
    """
    if path.is_symlink():
        resolved = Path(os.path.realpath(path))
        if resolved.is_symlink():  # realpath stops where the links loop
            raise OSError(errno.ELOOP, f"{what}: the symbolic link loops (too many levels of "
                                       "symbolic links)", str(path))
        path = resolved
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    _refuse_irregular(mode, path, what)
    return path


def check_write_target(path: PathLike, what: str) -> None:
    """Raise now what writing ``path`` atomically would raise later (nothing is written).

    Used by ``fit(checkpoint_path=...)`` before the first epoch, so that a bad path
    does not cost the epochs trained before the first checkpoint.
    """
    _check_path(path, what)
    target = _write_target(Path(path), what)
    if not target.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"{what}: the directory {str(target.parent)!r} does not "
                                              "exist; create it first", str(path))


def tmp_stem(name: str) -> str:
    """``name`` cut to 64 bytes of UTF-8, for a temporary file beside it: a target whose
    name is near the 255-byte limit of most file systems stays writable."""
    return name.encode("utf-8", "surrogateescape")[:64].decode("utf-8", "ignore")


def _atomic_write(path: Path, chunks: Iterable[bytes | memoryview], what: str = "save") -> None:
    """Write ``chunks`` to a temporary file beside ``path``, fsync, rename it over ``path``.

    A symbolic link is followed: the file it points to is replaced and the link stays.
    On any exception, including ``KeyboardInterrupt`` (and SIGTERM where the caller
    turns it into one, as the ``nablagraph`` command does), the temporary file is
    removed and ``path`` is left as it was.
    """
    path = _write_target(path, what)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"{what}: the directory {str(directory)!r} does not exist")
    tmp = directory / f".{tmp_stem(path.name)}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd: int | None = None
    try:
        # Inside the try: an interrupt just after the file is created removes it too.
        # 0o666 lets the umask decide the final permissions, as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if not (fd is None and isinstance(exc, FileExistsError)):  # never another's file
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    # Make the rename itself durable (POSIX; directories cannot be opened on Windows).
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)


def _refuse_irregular(mode: int, path: PathLike, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"{what}: is a directory, not a file", str(path))
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise FileFormatError(f"{what}: {str(path)!r} is {kind}, not a regular file; give the "
                              "path of a file")


def open_regular(path: PathLike, what: str) -> tuple[FileIO, int]:
    """Open a regular file for reading, without blocking: ``(file, size in bytes)``.

    The path is checked with ``stat`` first, so FIFOs, devices (``/dev/zero``) and
    sockets are refused without being opened; then it is opened with ``O_NONBLOCK``
    (should it have been replaced by a FIFO meanwhile, the open does not block) and
    checked again with ``fstat`` on the open descriptor.

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError, OSError
        From the file system.
    FileFormatError
        The path is not a regular file.
    """
    _check_path(path, what)
    _refuse_irregular(os.stat(path).st_mode, path, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        _refuse_irregular(st.st_mode, path, what)
        return FileIO(fd, "rb", closefd=True), st.st_size
    except BaseException:
        os.close(fd)
        raise


atomic_write = _atomic_write
