"""Crash-safe file writing: write beside the target, flush to disk, then rename over it."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: Path, suffix: str | None = None):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, on failure it vanishes.

    The temporary name is hidden and carries `.tmp` before any extension, so that a process killed mid-write leaves
    nothing that a glob for `*.parquet` or `*.mp4` under the dataset folders would read as data.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a writer that needs a real extension (ffmpeg picks the container from it) gets `.tmp<ext>`
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX + (suffix or ""))
    except OSError as e:
        raise _clear(e, path) from e
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; outputs get the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _clear(e, path) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


STORAGE_ERRORS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
                  errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.EDQUOT: "the disk quota is exceeded"}


def _clear(e: OSError, path: Path) -> OSError:
    """A storage error that names the file, says what went wrong, and that earlier output was left as it was."""
    if e.errno not in STORAGE_ERRORS:
        return e
    return OSError(e.errno, f"cannot write {path}: {STORAGE_ERRORS[e.errno]} ({e.strerror}); nothing there was changed")


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str | None = None) -> None:
    """Call `write(tmp_path)` and move the result onto `path` atomically."""
    with atomic_path(path, suffix) as tmp:
        write(tmp)


def write_json(path: Path, obj) -> None:
    """JSON to a file, atomically."""
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def remove_stale_temps(root: Path) -> int:
    """Delete temporary files that a killed writer left under `root`; returns how many."""
    n = 0
    for p in Path(root).rglob(".*"):
        if p.is_file() and TMP_SUFFIX in p.suffixes[-2:] and p.name.startswith("."):
            p.unlink(missing_ok=True)
            n += 1
    return n


def trim_log(path: Path, last_step: int) -> None:
    """Keep a CSV log's header and its rows up to `last_step` (the resumed checkpoint), dropping rows a killed run
    wrote after it and any half-written last line, so a resumed run's log has each step once."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1]
    for line in lines[1:]:
        if not line.endswith("\n"):
            break  # half-written
        try:
            step = int(line.split(",", 1)[0])
        except ValueError:
            break
        if step > last_step:
            break
        keep.append(line)
    if keep != lines:
        atomic_write(path, lambda p: p.write_text("".join(keep)))


def open_step_log(path: Path, step: int, header: list[str]):
    """The per-step CSV log of a trainer resumed at `step` (0: a fresh run): a new file with its header, or the old
    one trimmed to the checkpoint's step (`trim_log`) and reopened for appending. Returns (file, csv writer); the
    file is line-buffered, so progress is visible while the run goes on."""
    import csv

    path = Path(path)
    new = step == 0 or not path.exists()
    if not new:
        trim_log(path, step)
    f = open(path, "w" if new else "a", newline="", buffering=1)
    writer = csv.writer(f)
    if new:
        writer.writerow(header)
    return f, writer


def claim_folder(path: Path, identity: dict, what: str) -> None:
    """Record the settings an output folder is made with, or refuse a run whose settings differ (so results never mix)."""
    path = Path(path)
    identity = json.loads(json.dumps(identity))  # as it will read back (tuples become lists)
    if path.exists():
        earlier = json.loads(path.read_text())
        if earlier != identity:
            raise ValueError(f"{path.parent} holds {what} made with other settings ({path}: {earlier}); this run asks for "
                             f"{identity}. Use another `out`, or the same settings to resume.")
    else:
        write_json(path, identity)


def progress(total: int, initial: int, enabled: bool | None, desc: str):
    """A tqdm bar over episodes, shown when asked or (enabled=None) when stderr is a terminal."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="ep", disable=not (sys.stderr.isatty() if enabled is None else enabled))
