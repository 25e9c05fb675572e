"""The layering rules of CONVENTIONS.md, enforced: each folder imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"domain", "ledger", "projections", "web", "bench", "tests"}
ALLOWED: dict[str, set[str]] = {
    # folder: project packages and third-party roots it may import
    "domain": {"domain", "eventsourcing.domain"},
    "ledger": {"domain", "ledger", "eventsourcing", "cryptography", "psycopg", "psycopg_pool",
               "orjson"},
    "projections": {"domain", "ledger", "projections", "eventsourcing", "psycopg", "orjson"},
    "web": {"domain", "ledger", "projections", "web", "flask", "marshmallow", "werkzeug",
            "gunicorn", "eventsourcing", "cryptography", "prometheus_client", "orjson"},
}


def imported_modules(path: Path) -> list[str]:
    """Every absolute module a file imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def is_allowed(module: str, allowed: set[str], stdlib: frozenset[str]) -> bool:
    """Allowed when stdlib, or under one of the allowed roots."""
    root = module.split(".")[0]
    if root in stdlib or root == "__future__":
        return True
    return any(module == a or module.startswith(a + ".") for a in allowed)


def violations(folder: str) -> list[str]:
    """``file: module`` for each import the folder may not make."""
    import sys
    stdlib = frozenset(sys.stdlib_module_names)
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in imported_modules(path):
            if not is_allowed(module, ALLOWED[folder], stdlib):
                found.append(f"{path.relative_to(ROOT)}: {module}")
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folder_imports_only_what_its_layer_allows(folder):
    assert violations(folder) == []


def test_the_checker_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import flask\nfrom ledger.application import TimeBank\nimport json\n")
    import sys
    stdlib = frozenset(sys.stdlib_module_names)
    refused = [m for m in imported_modules(bad)
               if not is_allowed(m, ALLOWED["domain"], stdlib)]
    assert refused == ["flask", "ledger.application"]
