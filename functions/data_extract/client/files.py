"""Local files to submit: paths and folders turned into named uploads, as the API's upload names expect them."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalFile:
    """One file to upload: `name` is its name in the job (a relative path such as reports/a.pdf)."""

    name: str
    path: Path
    size: int

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"


class FileSelectionError(ValueError):
    """A path to submit does not exist, holds no files, or two files would get the same name in the job."""


def _hidden(parts: Iterable[str]) -> bool:
    return any(part.startswith(".") for part in parts)


def collect_files(paths: Iterable[str | Path]) -> list[LocalFile]:
    """Files and folders to submit, folders walked recursively (hidden files and folders left out).

    A file keeps its own name; a folder's files are named below the folder's name (`docs/a.pdf`,
    `docs/notes/b.txt`), so two folders with files of the same name stay apart in the job.
    """
    found: list[LocalFile] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            found.append(LocalFile(path.name, path, path.stat().st_size))
        elif path.is_dir():
            root = path.resolve()
            base = root.name or "files"
            inside = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root).parts))
            if not inside:
                raise FileSelectionError(f"{raw}: the folder holds no files")
            found.extend(LocalFile(f"{base}/{p.relative_to(root).as_posix()}", p, p.stat().st_size) for p in inside)
        elif path.exists():
            raise FileSelectionError(f"{raw}: not a regular file or folder")
        else:
            raise FileSelectionError(f"{raw}: no such file or folder")
    if not found:
        raise FileSelectionError("nothing to submit: give at least one file or folder")
    seen: dict[str, Path] = {}
    for item in found:
        if item.name in seen and seen[item.name] != item.path:
            raise FileSelectionError(
                f"two files would both be named '{item.name}' in the job: {seen[item.name]} and {item.path}"
            )
        seen[item.name] = item.path
    unique = {item.name: item for item in found}  # the same file given twice is sent once
    return list(unique.values())
