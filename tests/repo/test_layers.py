"""The business rules speak no driver: each service's `service.py` imports no database or
search driver (sessions, transactions, ObjectIds, queries and driver errors are the repository's,
repository.py: chassis.postgres's Database/UnitOfWork for order and inventory, MongoDB for
product, Elasticsearch for search), and search's reads no raw Elasticsearch reply."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = (
    "sqlalchemy",
    "asyncpg",
    "bson",
    "pymongo",
    "motor",
    "elasticsearch",
    "elastic_transport",
)
SERVICE_MODULES = [
    ROOT / "order-service" / "order_service" / "service.py",
    ROOT / "inventory-service" / "inventory_service" / "service.py",
    ROOT / "product-service" / "product_service" / "service.py",
    ROOT / "search-service" / "search_service" / "service.py",
]
SEARCH_SERVICE = SERVICE_MODULES[3]
# The keys one reads a raw Elasticsearch search reply by.
RAW_REPLY_KEYS = {"hits", "_source", "_id", "_score", "aggregations", "buckets", "doc_count"}


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


def raw_reply_keys_read(source: str) -> set[str]:
    """Raw-reply keys the module subscripts with or passes to `.get(...)`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        keys: list[ast.expr] = []
        if isinstance(node, ast.Subscript):
            keys = [node.slice]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
        ):
            keys = node.args[:1]
        found |= {
            k.value for k in keys if isinstance(k, ast.Constant) and k.value in RAW_REPLY_KEYS
        }
    return found


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda p: p.parent.parent.name)
def test_service_layer_imports_no_database_driver(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    # The walk does see the module's imports (its own package's, at least).
    assert any(m.startswith(path.parent.name) for m in imported_modules(source))
    assert driver_imports(source) == [], (
        f"{path.relative_to(ROOT)} imports a database driver; queries, sessions, transactions "
        "and driver errors belong in repository.py"
    )


def test_the_search_service_layer_reads_no_raw_elasticsearch_reply() -> None:
    read = raw_reply_keys_read(SEARCH_SERVICE.read_text(encoding="utf-8"))
    assert not read, sorted(read)


def test_the_check_sees_every_spelling_of_a_driver_import() -> None:
    source = (
        "import sqlalchemy as sa\n"
        "from sqlalchemy.exc import IntegrityError\n"
        "def f():\n"
        "    import asyncpg\n"
        "    from bson.errors import InvalidId\n"
        "from chassis.postgres import Database\n"
        "import sqlalchemy_utils\n"
    )
    assert driver_imports(source) == ["asyncpg", "bson.errors", "sqlalchemy", "sqlalchemy.exc"]


def test_the_reply_check_sees_a_raw_reply_being_read() -> None:
    source = "def f(reply):\n    return reply['hits']['hits'], reply.get('aggregations', {})\n"
    assert raw_reply_keys_read(source) == {"hits", "aggregations"}
