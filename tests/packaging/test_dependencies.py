"""pyproject.toml declares exactly what the code imports: runtime, tests and tools apart."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_SOURCES = ("tests", "scripts", "benchmarks")


@cache
def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        names.add(normalise(match.group(0)))
    return names


OPTIONAL_PACKAGES = {"exact_online_dagster": "orchestration"}
"""Packages that only work with an extra installed, and that extra."""


def runtime_packages() -> list[str]:
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]  # type: ignore[index]
    return sorted({pattern.rstrip("*") for pattern in include})


def connector_packages() -> list[str]:
    return [name for name in runtime_packages() if name not in OPTIONAL_PACKAGES]


def local_modules() -> set[str]:
    """Names importable from the repository itself (packages, test helpers, scripts)."""
    names = set(runtime_packages())
    for folder in (ROOT, *(ROOT / source for source in DEV_SOURCES)):
        for path in folder.rglob("*") if folder != ROOT else folder.iterdir():
            if path.suffix == ".py" or (path.is_dir() and not path.name.startswith(".")):
                names.add(path.stem)
    return names


def imported_distributions(folders: list[str]) -> dict[str, set[str]]:
    """Third-party distributions imported by the .py files under ``folders``, with where."""
    owners = metadata.packages_distributions()
    local = local_modules()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module.split(".")[0]]
                else:
                    continue
                for name in names:
                    if name in sys.stdlib_module_names or name in local:
                        continue
                    assert name in owners, f"{path}: {name} is not installed by any distribution"
                    for distribution in owners[name]:
                        found.setdefault(normalise(distribution), set()).add(
                            str(path.relative_to(ROOT)))
    return found


def declared_runtime() -> set[str]:
    return requirement_names(pyproject()["project"]["dependencies"])  # type: ignore[index]


def declared_extras() -> dict[str, set[str]]:
    extras = pyproject()["project"]["optional-dependencies"]  # type: ignore[index]
    return {name: requirement_names(items) for name, items in extras.items()}


def test_runtime_dependencies_are_exactly_what_the_packages_import() -> None:
    imported = imported_distributions(connector_packages())
    declared = declared_runtime()
    assert {d: sorted(w) for d, w in imported.items() if d not in declared} == {}, (
        "imported by the packages but not in [project] dependencies")
    assert declared - set(imported) == set(), "declared in [project] dependencies, never imported"


def test_an_optional_package_imports_only_the_runtime_and_its_extra() -> None:
    extras = declared_extras()
    for package, extra in OPTIONAL_PACKAGES.items():
        imported = imported_distributions([package])
        allowed = declared_runtime() | extras[extra]
        assert {d: sorted(w) for d, w in imported.items() if d not in allowed} == {}, package
        assert extras[extra] <= set(imported), f"{package} never imports its extra {extra}"


def test_test_script_and_benchmark_imports_are_declared() -> None:
    imported = imported_distributions(list(DEV_SOURCES))
    declared = declared_runtime().union(*declared_extras().values())
    assert {d: sorted(w) for d, w in imported.items() if d not in declared} == {}


def tool_is_run(name: str) -> bool:
    """A tool's executable in .venv/bin is run by scripts/ or tests/ (ruff, mypy, meltano)."""
    texts = [path.read_text(encoding="utf-8") for source in ("scripts", "tests")
             for path in (ROOT / source).rglob("*") if path.suffix in (".py", ".sh")]
    pattern = re.compile(rf'bin/{re.escape(name)}\b|"bin" / "{re.escape(name)}"')
    return any(pattern.search(text) for text in texts)


def test_every_optional_dependency_is_imported_run_or_a_stub_of_an_import() -> None:
    imported = set(imported_distributions([*runtime_packages(), *DEV_SOURCES]))
    unused = {
        name for names in declared_extras().values() for name in names
        if name not in imported and not tool_is_run(name)
        and not (name.startswith("types-") and name.removeprefix("types-") in imported)
    }
    assert unused == set(), "optional dependencies nothing imports or runs"
