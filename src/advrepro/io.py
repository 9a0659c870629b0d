"""Atomic writes and safe loads: a killed job never leaves a file that looks complete, a written file
is readable by whoever the umask allows, and a file that cannot be written or read is named with the fix."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import torch


class UnreadableFile(RuntimeError):
    """A file exists but cannot be loaded (truncated, corrupt or unsafe); the message names it and the fix."""


def _umask() -> int:
    """The process umask (read without changing it for longer than the call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _no_space(path: Path, error: OSError) -> OSError:
    """ENOSPC while writing `path`, with the path, the free space and the fix."""
    free = shutil.disk_usage(path.parent).free
    return OSError(errno.ENOSPC, f"No space left on device while writing {path} ({free:,} bytes free on its "
                                 f"filesystem; {error.strerror or error}): free some space and rerun")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The file gets the mode a plain `open` would give it (0666 minus the umask), not mkstemp's 0600, so
    the group and a web server can read results on a shared filesystem. A full disk is reported as
    ENOSPC naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise _no_space(path, error) from error
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def save_tensors(path: str | os.PathLike, obj: Any) -> None:
    """torch.save a dict of tensors and plain values, atomically. Serialized in memory first, so that a
    full disk surfaces as an OSError (ENOSPC, naming the path) rather than a C++ stream error."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getbuffer())


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
    """torch.load with weights_only=True: archives hold tensors and plain values only. A file that
    cannot be loaded raises UnreadableFile naming it (a missing one: FileNotFoundError)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as error:  # weights_only refused an object that is not tensors/plain values
        raise UnreadableFile(f"{path} holds objects other than tensors and plain values, so it is not loaded "
                             f"({str(error).splitlines()[0]}). Delete it and rerun; the workflow remakes it.") from error
    except (OSError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise UnreadableFile(f"{path} is truncated or corrupt ({type(error).__name__}: {error}). Delete it and "
                             "rerun; the workflow remakes it.") from error
