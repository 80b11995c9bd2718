"""The business rules of the PostgreSQL services speak no driver: their `service.py` imports
neither SQLAlchemy nor asyncpg (sessions, transactions and driver errors are the repository's,
repository.py, on chassis.postgres's Database/UnitOfWork)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = ("sqlalchemy", "asyncpg")
SERVICE_MODULES = [
    ROOT / "order-service" / "order_service" / "service.py",
    ROOT / "inventory-service" / "inventory_service" / "service.py",
]


def imported_modules(source: str) -> set[str]:
    """Every module a source file imports, at any depth (a function-local import counts)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def driver_imports(source: str) -> list[str]:
    return sorted(
        module
        for module in imported_modules(source)
        if any(module == d or module.startswith(f"{d}.") for d in DRIVERS)
    )


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda p: p.parent.parent.name)
def test_service_layer_imports_no_database_driver(path: Path) -> None:
    assert driver_imports(path.read_text()) == [], (
        f"{path.relative_to(ROOT)} imports a database driver; queries, sessions, transactions "
        "and driver errors belong in repository.py"
    )


def test_the_check_sees_every_spelling_of_a_driver_import() -> None:
    source = (
        "import sqlalchemy as sa\n"
        "from sqlalchemy.exc import IntegrityError\n"
        "def f():\n"
        "    import asyncpg\n"
        "from chassis.postgres import Database\n"
        "import sqlalchemy_utils\n"
    )
    assert driver_imports(source) == ["asyncpg", "sqlalchemy", "sqlalchemy.exc"]
