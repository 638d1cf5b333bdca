"""Where an export may write, and writing it atomically.

OUT is checked before any work: it must be a regular file or absent, not the spec itself, in a
folder that exists and is writable. Everything is written into a hidden temporary folder next
to OUT and moved into place with `os.replace` only once it is complete and verified, so OUT is
either untouched or the new file, whatever fails (an exception, a full disk, Ctrl-C, SIGTERM
or SIGHUP). The folder's name does not grow with OUT's, so it fits beside any legal OUT.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from archc.diagnostics import Diagnostic, UsageError


def refuse(out: str | os.PathLike, why: str, code: str = "bad-output") -> UsageError:
    return UsageError([Diagnostic(code, f"cannot write {out}: {why}", str(out))])


def check_output(path: str | os.PathLike, spec_file: str | None = None) -> Path:
    """The file an export to `path` writes (a symlink's target); raise UsageError if unusable.

    >>> check_output("/tmp")
    Traceback (most recent call last):
    archc.diagnostics.UsageError: cannot write /tmp: it is a directory
    """
    text = os.fspath(path)
    if not text:
        raise refuse("''", "the output path is empty")
    out = Path(text)
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    try:
        info = out.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refuse(text, exc.strerror or str(exc)) from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise refuse(text, "it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise refuse(text, "it is not a regular file (a device, a pipe or a socket)")
        if spec_file is not None and _same_file(out, spec_file):
            raise refuse(text, "it is the spec file itself")
    folder = out.absolute().parent
    if not folder.is_dir():
        raise refuse(text, f"the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise refuse(text, f"the folder {folder} is not writable")
    return out


def _same_file(a: Path, b: str) -> bool:
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


class Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while staging: unwind like Ctrl-C, then die of the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# Signals that end a process by default and that a CI runner or a closed terminal sends.
CLEANUP_SIGNALS = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else ()


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception, so that `finally` blocks run."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers
        return

    def unwind(signum: int, frame: object) -> None:
        raise Signalled(signum)

    previous = {number: signal.signal(number, unwind) for number in CLEANUP_SIGNALS}
    try:
        yield
    except Signalled as exc:
        for number, handler in previous.items():
            signal.signal(number, handler)
        previous = {}
        signal.raise_signal(exc.signum)  # the default action: exit as killed by the signal
        raise
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A temporary folder beside `out`, removed on leaving, whatever happened."""
    with _signals_unwind():
        try:
            folder = Path(tempfile.mkdtemp(prefix=".archc-", suffix=".tmp", dir=out.parent))
        except OSError as exc:
            raise refuse(out, exc.strerror or str(exc)) from None
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def commit(staged: Path, out: Path, staged_data: Path | None = None) -> None:
    """Move the finished file (and its external data, first) over `out`, then sync the folder."""
    if staged_data is not None:
        os.replace(staged_data, out.with_name(out.name + ".data"))
    os.replace(staged, out)
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        descriptor = os.open(out.absolute().parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
