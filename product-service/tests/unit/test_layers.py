"""The service layer holds the rules only: no MongoDB driver types in it (the repository
turns string ids into ObjectIds, builds the queries and returns `Product`)."""

import ast
from pathlib import Path

import product_service.service

DRIVERS = {"bson", "pymongo", "motor", "elasticsearch", "elastic_transport"}


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
    source = Path(product_service.service.__file__)
    imported = imported_packages(source)
    assert "product_service" in imported  # the walk does see the imports
    assert not imported & DRIVERS, f"{source.name} imports {sorted(imported & DRIVERS)}"


def test_the_check_sees_an_import_anywhere_in_a_module(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bson.errors import InvalidId\n", encoding="utf-8")
    assert imported_packages(module) & DRIVERS == {"bson"}
