"""Why a file path cannot be created, said plainly (a parent that is a file, not a directory)."""

from __future__ import annotations

from pathlib import Path


def blocked_by_file(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a directory, else None."""
    for ancestor in path.parents:
        if ancestor.exists() or ancestor.is_symlink():
            return None if ancestor.is_dir() else ancestor
    return None


__all__ = ["blocked_by_file"]
