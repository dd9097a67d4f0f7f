"""Console-script wrapper: expected failures end with one ``error:`` line, never a traceback.

The Singer executables are the SDK's click commands. A config, catalog or state file that
is not JSON (or not the object Singer expects) makes the SDK fail deep inside with a
Python traceback, and Exact's own errors would do the same; users should read one line
naming the file or the call instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from exact_online_core.errors import ExactError

JSON_FILE_OPTIONS = ("--config", "--catalog", "--properties", "--state", "--input")
"""Options whose value is a JSON file (``--config ENV`` means environment variables)."""

FileCheck = Callable[[Any], str | None]
"""Returns what is wrong with a parsed file (None: nothing)."""


class InputFileError(Exception):
    """A file named on the command line cannot be used."""


def check_input_files(argv: Sequence[str], checks: Mapping[str, FileCheck]) -> None:
    """Parse every JSON file option in ``argv`` and apply the ``checks`` per option."""
    for index, arg in enumerate(argv):
        option, _, inline = arg.partition("=")
        if option not in JSON_FILE_OPTIONS or option == "--input":
            continue
        value = inline or (argv[index + 1] if index + 1 < len(argv) else "")
        if not value or (option == "--config" and value == "ENV"):
            continue
        path = Path(value)
        try:
            parsed = json.loads(path.read_text(encoding="utf-8"), parse_constant=_Constant)
        except FileNotFoundError:
            raise InputFileError(f"{option} {path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(f"{option} {path}: cannot be read ({exc})") from None
        except ValueError as exc:
            raise InputFileError(f"{option} {path}: not valid JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise InputFileError(
                f"{option} {path}: must hold a JSON object, not a {type(parsed).__name__}"
            )
        found = _find_constant(parsed)
        if found is not None:
            where, constant = found
            raise InputFileError(
                f"{option} {path}: {where} is {constant}, which JSON does not allow; give a "
                "finite number"
            )
        problem = checks.get(option, lambda _parsed: None)(parsed)
        if problem:
            raise InputFileError(f"{option} {path}: {problem}")


class _Constant(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` in a file: Python's json accepts them, JSON
    (and the SDK's parser, with a traceback) does not."""


def _find_constant(value: Any, where: str = "") -> tuple[str, str] | None:
    """The first ``NaN``/``Infinity`` in a parsed file, with its path (``timeout``, ``a[2]``)."""
    if isinstance(value, _Constant):
        return where or "the file", str(value)
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = [(f"{where}.{key}" if where else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
    for path, item in items:
        found = _find_constant(item, path)
        if found is not None:
            return found
    return None


def catalog_problem(catalog: Any) -> str | None:
    """What makes ``catalog`` unusable as a Singer catalog (None: it looks right)."""
    streams = catalog.get("streams")
    if not isinstance(streams, list):
        return 'needs a "streams" list'
    for position, stream in enumerate(streams):
        if not isinstance(stream, dict):
            return f"stream #{position} is not an object"
        name = stream.get("tap_stream_id") or stream.get("stream")
        if not isinstance(name, str):
            return f"stream #{position} has no tap_stream_id"
        if not isinstance(stream.get("schema"), dict):
            return f"stream {name} has no schema object"
        if not isinstance(stream.get("metadata", []), list):
            return f"stream {name}: metadata must be a list"
    return None


SINGER_CHECKS: Mapping[str, FileCheck] = {
    "--catalog": catalog_problem,
    "--properties": catalog_problem,
}


def run(
    cli: Callable[[], Any],
    argv: Sequence[str] | None = None,
    checks: Mapping[str, FileCheck] | None = None,
) -> None:
    """Run a Singer click command; input-file and Exact errors become one line and exit 1.

    ``checks``: more checks per file option (the tap checks its ``--state``).
    """
    try:
        check_input_files(list(sys.argv[1:] if argv is None else argv),
                          {**SINGER_CHECKS, **(checks or {})})
        cli()
    except (InputFileError, ExactError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
