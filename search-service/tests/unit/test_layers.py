"""The service layer holds the rules only: no Elasticsearch client or raw reply in it (the
repository builds the queries and turns the replies into hits, totals and suggestions)."""

import ast
from pathlib import Path

import search_service.service

DRIVERS = {"bson", "pymongo", "motor", "elasticsearch", "elastic_transport"}
# The keys one reads a raw Elasticsearch search reply by.
RAW_REPLY_KEYS = {"hits", "_source", "_id", "_score", "aggregations", "buckets", "doc_count"}


def imported_packages(source: Path) -> set[str]:
    """The top-level packages a module imports, wherever in the module the import is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_service_layer_imports_no_database_driver() -> None:
    source = Path(search_service.service.__file__)
    imported = imported_packages(source)
    assert "search_service" in imported  # the walk does see the imports
    assert not imported & DRIVERS, f"{source.name} imports {sorted(imported & DRIVERS)}"


def raw_reply_keys_read(source: Path) -> set[str]:
    """Raw-reply keys the module subscripts with or passes to `.get(...)`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
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


def test_the_service_layer_reads_no_raw_elasticsearch_reply() -> None:
    source = Path(search_service.service.__file__)
    assert not raw_reply_keys_read(source), sorted(raw_reply_keys_read(source))


def test_the_reply_check_sees_a_raw_reply_being_read(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f(reply):\n    return reply['hits']['hits'], reply.get('aggregations', {})\n",
        encoding="utf-8",
    )
    assert raw_reply_keys_read(module) == {"hits", "aggregations"}


def test_the_check_sees_an_import_anywhere_in_a_module(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bson.errors import InvalidId\n", encoding="utf-8")
    assert imported_packages(module) & DRIVERS == {"bson"}
