"""The layout is the architecture: which package may import which, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = ("exact_online_core", "exact_online_cli", "tap_exact_online", "target_exact_online")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # Exact's API reference as data: below both the connector and the sandbox, imports neither
    "exact_online_reference": (*CONNECTOR, "exact_online_dagster", "exact_online_sandbox"),
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
    "exact_online_dagster": ("exact_online_cli", "exact_online_reference", "exact_online_sandbox",
                             "tap_exact_online", "target_exact_online"),
}

HTTP = frozenset({"requests", "urllib3", "urllib", "http", "httpx", "aiohttp", "socket"})
CORE_API = frozenset({"exact_online_core.api", "exact_online_core.config",
                      "exact_online_core.errors"})
"""What the orchestration layer may use of the core: the model API, its config and errors."""

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


def imported_modules(package: str, prefix: str) -> dict[str, set[str]]:
    """Full names of the ``prefix`` modules each module of ``package`` imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.startswith(prefix)}
    return found


def test_the_orchestration_layer_never_talks_to_exact_itself() -> None:
    """exact_online_dagster runs meltano; it asks Exact only for the login's divisions, and
    only through the core's model API: no HTTP client, no core internals."""
    http = {module: sorted(names & HTTP)
            for module, names in imported_packages("exact_online_dagster").items()
            if names & HTTP}
    assert http == {}, f"exact_online_dagster imports an HTTP client: {http}"
    internals = {module: sorted(names - CORE_API)
                 for module, names in imported_modules("exact_online_dagster",
                                                       "exact_online_core").items()
                 if names - CORE_API}
    assert internals == {}, f"exact_online_dagster reaches into the core: {internals}"
