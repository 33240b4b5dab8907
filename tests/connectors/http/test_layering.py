import ast
import pathlib

import connectors.http

PACKAGE = pathlib.Path(connectors.http.__file__).parent


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_http_toolkit_knows_nothing_of_tickets_app_or_vendors():
    sources = sorted(PACKAGE.glob("*.py"))
    assert len(sources) > 5
    for source in sources:
        for module in imported_modules(source):
            top = module.split(".")[0]
            assert top not in {"schemas", "app", "emulators"}, (source.name, module)
            if top == "connectors":
                assert module.startswith("connectors.http"), (source.name, module)
