"""The command's outputs and signals: planning, atomic writes, resource checks, interrupts.

Every output file is checked before any work (:func:`_plan_outputs`): its extension
names a format the option writes, it is distinct from the other outputs and from every
input (after following links), and its folder exists or can be created and is
writable.  Files are written atomically (:func:`_replace_atomically`).  While a command
runs, SIGINT raises ``KeyboardInterrupt`` and SIGTERM :class:`Terminated`
(:func:`_signals_interrupt`), so every cleanup runs.

Imports: ``errors``, ``_memory``, ``files``, ``viz.renderer`` (as ``ng.viz``, when an image is
asked for); matplotlib is only probed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import nablagraph as ng
from nablagraph import files
from nablagraph._memory import available_memory, format_bytes
from nablagraph.errors import NablaGraphError
from nablagraph.nn.module import parameter_bytes

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGTERM gives 128 + 15 = 143

PLOT_INSTALL = "pip install 'nablagraph[plot]'"
#: The formats each output option writes, by the file's extension.
MODEL_SUFFIXES = (".safetensors",)
HISTORY_SUFFIXES = (".json", ".csv")
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
GRAPH_SUFFIXES = (".svg", ".png", ".pdf", ".dot", ".gv", ".html")


class CLIError(Exception):
    """A bad argument or input: reported as one line, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (or another terminating signal), raised like Ctrl-C so cleanups run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum




# ----------------------------------------------------------------- outputs
def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _probe_writable(directory: Path) -> str | None:
    """``None`` if a file can be created in ``directory``, else why not."""
    probe = directory / f".nablagraph-probe.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def _kind(path: Path) -> str:
    """What is in the way of a folder at ``path``."""
    return "a symbolic link that loops" if path.is_symlink() else "a file"


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _plan_outputs(
    outputs: Sequence[tuple[str, str | None, tuple[str, ...], str]],
    inputs: Sequence[tuple[str, Path]] = (),
) -> dict[str, Path]:
    """Check every output before any work; return ``{option: the file to write}``.

    ``outputs`` holds ``(option, value, accepted extensions, what it writes)``;
    ``inputs`` ``(what, path)`` for every file read.  Links are followed: the file
    written is the one a link points to, and that is the file compared with the others.
    """
    planned: dict[str, Path] = {}
    shown: dict[str, str] = {}
    for option, value, suffixes, what in outputs:
        if value is None:
            continue
        if not value.strip():
            raise CLIError(f"{option} needs a file name, got an empty string")
        suffix = Path(value).suffix
        if suffix.lower() not in suffixes:  # G.SVG is an SVG, as for render()
            got = f"'{suffix}'" if suffix else "no extension"
            raise CLIError(
                f"{option} {value}: {what} are written as {_or(suffixes)}, chosen by the file's "
                f"extension; got {got}"
            )
        target = Path(os.path.realpath(value))
        if target.is_symlink():  # realpath stops where the links loop
            raise CLIError(f"{option} {value}: the symbolic link loops (it leads back to itself); "
                           "remove it or choose another name")
        if target.is_dir():
            raise CLIError(f"{option} {value}: is a folder; give a file name ending in {_or(suffixes)}")
        if target.exists() and not target.is_file():
            raise CLIError(f"{option} {value}: is not a regular file (a device or a pipe); give a file name")
        if target.exists() and not os.access(target, os.W_OK):
            raise CLIError(f"{option} {value}: the file is read-only; make it writable or choose another name")
        base = _nearest_existing(target.parent)
        if not base.is_dir():
            raise CLIError(f"{option} {value}: cannot create the folder {target.parent}: {base} is {_kind(base)}")
        why = _probe_writable(base)
        if why is not None:
            where = "its folder" if base == target.parent else "the folder"
            raise CLIError(f"{option} {value}: cannot create a file in {where} {base} ({why})")
        for other, path in planned.items():
            if _same(path, target):
                raise CLIError(
                    f"{option} {value} and {other} {shown[other]} are the same file; "
                    "each output needs its own file"
                )
        for in_what, in_path in inputs:
            if _same(Path(os.path.realpath(in_path)), target):
                raise CLIError(
                    f"{option} {value} is the {in_what} being read ({in_path}); "
                    "writing it would destroy the input: choose another output file"
                )
        planned[option] = target
        shown[option] = value
    return planned


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _replace_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """``write(target)`` after creating missing folders.

    The writers the commands pass (``nablagraph.save``, ``viz.render``,
    ``tools.plot``) already write atomically through :func:`nablagraph.files.atomic_write`
    (a temporary file beside the target, fsync, rename; removed on any exception or
    interrupt; a symbolic link followed), so the command adds no second temporary file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    write(target)


def _write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write(target, [text.encode("utf-8")])


def _needs_matplotlib(option: str) -> None:
    """Refuse an explicit plot request up front when matplotlib is missing."""
    if not _have_matplotlib():
        raise CLIError(f"{option} needs matplotlib, which is not installed: {PLOT_INSTALL}")


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _needs_renderer(option: str, target: Path) -> None:
    """Refuse up front an image format no installed Graphviz program writes."""
    fmt = target.suffix.lower().lstrip(".")
    if fmt in ("dot", "gv", "html"):  # text and the interactive page: no program needed
        return
    try:
        ng.viz.renderer._require(fmt)  # ng.viz: Graphviz loads only for the commands that draw
    except NablaGraphError as exc:
        raise CLIError(f"{option} {target.name}: {str(exc).splitlines()[0]}") from None


# ----------------------------------------------------------------- memory
def _check_memory(option: str, sizes: Sequence[int], batch: int, gradients: bool,
                  batch_option: str = "--batch") -> None:
    """Refuse sizes whose parameters (and gradients) and one batch cannot fit in memory.

    The estimate is a lower bound in float64: the parameters ``P = Σ n_l (n_{l-1} + 1)``,
    their gradients when backward runs, and one batch of ``z^l`` and ``a^l``.
    """
    P = parameter_bytes(sizes) // 8  # the library's count, in float64
    need = 8 * ((2 if gradients else 1) * P + 2 * batch * sum(sizes))
    have = available_memory()
    if have is None or need <= have:
        return
    what = "parameters and their gradients" if gradients else "parameters"
    # Name what to change: the batch of z^l and a^l when the parameters alone would fit.
    fix = ("use smaller layers" if 8 * (2 if gradients else 1) * P > have
           else f"use a smaller {batch_option}")
    raise CLIError(
        f"{option} {','.join(map(str, sizes))}: {P:,} {what} and a batch of {batch:,} need at least "
        f"{format_bytes(need)} in float64, but {format_bytes(have)} of memory is available; {fix}"
    )



#: The signals received during the current run of :func:`main` (an interrupt that a
#: library turned into another exception, e.g. an ImportError, is still an interrupt).
_received: list[int] = []


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT raises ``KeyboardInterrupt``, SIGTERM (and SIGHUP) :class:`Terminated`.

    So ``finally`` blocks and the atomic writers' cleanups run, and no temporary file
    is left; each signal is also noted in ``_received``.  Only in the main thread,
    never over a signal the parent ignores (or a handler someone else installed for
    SIGINT), and the previous handlers are restored on the way out.
    """
    saved: list[tuple[int, Any]] = []
    _received.clear()

    def interrupt(signum: int, frame: object) -> None:
        _received.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    signums = [int(signal.SIGINT), int(signal.SIGTERM)]
    signums += [int(signal.SIGHUP)] if hasattr(signal, "SIGHUP") else []
    for signum in signums:
        try:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN or (
                signum == signal.SIGINT and previous is not signal.default_int_handler
            ):
                continue
            signal.signal(signum, interrupt)
            saved.append((signum, previous))
        except (ValueError, OSError):  # not the main thread
            break
    try:
        yield
    finally:
        for signum, previous in saved:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, previous)
