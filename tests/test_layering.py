"""The layout is the architecture: which package may import which, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = ("exact_online_core", "exact_online_cli", "tap_exact_online", "target_exact_online")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # Exact's API reference as data: below both the connector and the sandbox, imports neither
    "exact_online_reference": (*CONNECTOR, "exact_online_sandbox"),
    "exact_online_core": (
        "exact_online_cli",
        "exact_online_dagster",
        "exact_online_sandbox",
        "tap_exact_online",
        "target_exact_online",
    ),
    "exact_online_sandbox": (*CONNECTOR, "exact_online_dagster"),
    "tap_exact_online": ("exact_online_cli", "exact_online_dagster", "exact_online_sandbox",
                         "target_exact_online"),
    "target_exact_online": ("exact_online_cli", "exact_online_dagster", "exact_online_sandbox",
                            "tap_exact_online"),
    "exact_online_cli": ("exact_online_dagster",),
    # the orchestration layer runs meltano (the tap and target as programs); of the connector
    # it imports only the core, to discover the login's divisions
    "exact_online_dagster": ("exact_online_cli", "exact_online_sandbox", "tap_exact_online",
                             "target_exact_online"),
}

OPTIONAL_IMPORTS: dict[str, frozenset[str]] = {
    # third-party packages a connector package may import only where its extra is installed
    "exact_online_core": frozenset({"psycopg", "dagster"}),
    "tap_exact_online": frozenset({"psycopg", "dagster"}),
    "target_exact_online": frozenset({"psycopg", "dagster"}),
    "exact_online_cli": frozenset({"psycopg", "dagster"}),
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """Top-level package names each module of ``package`` imports, by module path."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN), ids=str)
def test_package_imports_nothing_above_or_beside_it(package: str) -> None:
    offences = {
        module: sorted(names & set(FORBIDDEN[package]))
        for module, names in imported_packages(package).items()
        if names & set(FORBIDDEN[package])
    }
    assert offences == {}, f"{package} imports what it must not: {offences}"


@pytest.mark.parametrize("package", sorted(OPTIONAL_IMPORTS), ids=str)
def test_optional_extras_are_never_imported_at_module_level(package: str) -> None:
    """psycopg (extra ``postgres``) is imported lazily where it is used, dagster (extra
    ``orchestration``) only by exact_online_dagster: the connector runs without either."""
    offences = {
        module: sorted(names & OPTIONAL_IMPORTS[package])
        for module, names in imported_packages(package).items()
        if names & OPTIONAL_IMPORTS[package]
    }
    assert offences == {}, f"{package} imports an optional extra at module level: {offences}"
