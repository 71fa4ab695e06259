"""Which paths of the landing zone are read, and which are skipped (and why).

Only regular files inside a well-named `date=YYYY-MM-DD` folder are read. A symbolic link is
never followed (a link to `/etc/passwd` must not land its lines in the lake or in an alert), and a
path that looks meant to be read but is not (a misnamed day folder, a folder inside a day, a
link) is reported, never silently passed over: a day that seems to have no logs because its
folder is called `date=2026-1-3` is a problem someone has to see.

Hidden files and `_`-marker files (`.DS_Store`, `_SUCCESS`) are skipped without a word: writers
leave them on purpose. The landing root itself may be a link (where the data root lives is a
deployment choice), but nothing below it: the path from the landing root down to a day folder
(`predictions/`, `model=<id>/`, `date=<day>/`) is checked one step at a time, so a linked
`model=<id>` folder cannot bring in files from outside the landing zone either.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

SYMLINK = "symbolic link (not followed)"
_DAY_PREFIX = "date="
_LOOSE_DAY = re.compile(r"^date=(\d{1,4})-(\d{1,2})-(\d{1,2})$")


@dataclass(frozen=True)
class SkippedPath:
    """A landing path that was not read, with the reason, for the ingest log and the warnings."""

    path: str
    why: str


@dataclass
class FolderListing:
    files: list[Path]
    skipped: list[SkippedPath]


def _ignored(path: Path) -> bool:
    return path.name.startswith((".", "_"))


def first_link(root: Path, folder: Path) -> Path | None:
    """The first symbolic link on the way from `root` (itself not judged) down to `folder`.

    Checking only `folder` is not enough: a day folder is a plain folder inside a linked
    `model=<id>` folder. A `folder` outside `root` counts as a link: nothing outside is read.
    """
    try:
        steps = folder.relative_to(root).parts
    except ValueError:
        return folder
    current = root
    for step in steps:
        current = current / step
        if current.is_symlink():
            return current
    return None


def list_folder(folder: Path, root: Path) -> FolderListing:
    """Data files of one landing folder under the landing `root`, in name order, and the paths
    in it that were not read (the first link on the way to it, if there is one)."""
    link = first_link(root, folder)
    if link is not None:
        return FolderListing([], [SkippedPath(str(link), SYMLINK)])
    if not folder.is_dir():
        return FolderListing([], [])
    files: list[Path] = []
    skipped: list[SkippedPath] = []
    for path in sorted(folder.iterdir()):
        if _ignored(path):
            continue
        if path.is_symlink():
            skipped.append(SkippedPath(str(path), SYMLINK))
        elif path.is_dir():
            skipped.append(SkippedPath(str(path), "a folder inside a landing folder (not read)"))
        elif not path.is_file():
            skipped.append(SkippedPath(str(path), "not a regular file"))
        else:
            files.append(path)
    return FolderListing(files, skipped)


def day_of_folder(name: str) -> dt.date | None:
    """The day a `date=YYYY-MM-DD` folder name holds; None for any other spelling."""
    if not name.startswith(_DAY_PREFIX):
        return None
    text = name.removeprefix(_DAY_PREFIX)
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    # fromisoformat also takes `20260103` and `2026-W01-6`: only the canonical spelling names a day.
    return day if day.isoformat() == text else None


def _meant_day(name: str) -> dt.date | None:
    """The day a misspelled folder was most likely meant for (`date=2026-1-3`), if any."""
    match = _LOOSE_DAY.match(name)
    if not match:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None  # `date=2026-02-30`: no such day


def misnamed_entries(model_folder: Path, root: Path) -> list[tuple[dt.date | None, SkippedPath]]:
    """Entries of a model's landing folder that are not a `date=YYYY-MM-DD` folder.

    Each comes with the day it was most likely meant for (None when no day can be told), so the
    ingest log of that day can say why it looks empty. A folder reached through a link is not
    listed at all (`list_folder` reports the link for each day).
    """
    if first_link(root, model_folder) is not None or not model_folder.is_dir():
        return []
    found: list[tuple[dt.date | None, SkippedPath]] = []
    for path in sorted(model_folder.iterdir()):
        if _ignored(path):
            continue
        day = day_of_folder(path.name)
        if day is not None and (path.is_dir() or path.is_symlink()):
            continue  # a day folder (a linked one is reported when its day is read)
        if day is not None:
            found.append((day, SkippedPath(str(path), "not a folder (day folders hold files)")))
            continue
        why = "not a day folder: the name must be date=YYYY-MM-DD (not read)"
        found.append((_meant_day(path.name), SkippedPath(str(path), why)))
    return found


def landing_files(folder: Path, root: Path | None = None) -> list[Path]:
    """Data files of one landing folder, in name order (links and subfolders are not read).

    No link between the landing `root` and `folder` is followed; without `root`, `folder` is
    taken to be a reference folder, `<landing root>/reference/model=<id>`, two levels below it.
    """
    return list_folder(folder, folder.parents[1] if root is None else root).files
