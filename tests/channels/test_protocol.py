"""The protocol package as a whole: its public names, and that it stays pure.

The rules themselves are tested next door: test_protocol_serializers.py (wire formats and
malformed input), test_protocol_connection.py (the socket rules), test_protocol_properties.py
(round trips and fuzzing).
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import trouper.channels
import trouper.channels.protocol as protocol

PACKAGE = Path(protocol.__file__).parent

# What a sans-I/O protocol may need: the stdlib's pure modules and attrs. No trio, no sockets,
# nothing else from trouper (imports inside the package are relative).
ALLOWED_IMPORTS = {
    "__future__",
    "attrs",
    "collections",
    "enum",
    "functools",
    "json",
    "re",
    "sys",
    "types",
    "typing",
}


def imported_roots(path: Path) -> set[str]:
    """The top-level modules ``path`` imports absolutely."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.partition(".")[0])
    return roots


def test_the_protocol_imports_only_pure_modules() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        assert imported_roots(path) <= ALLOWED_IMPORTS, path.name


def test_the_allowed_imports_are_pure_stdlib_or_attrs() -> None:
    assert ALLOWED_IMPORTS - {"attrs"} <= set(sys.stdlib_module_names) | {"__future__"}


def test_every_public_name_is_exported_once_and_exists() -> None:
    assert len(protocol.__all__) == len(set(protocol.__all__))
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    public = {name for name in vars(protocol) if not name.startswith("_")}
    assert public == set(protocol.__all__)


def test_the_channels_layer_exposes_the_protocol_as_a_subpackage() -> None:
    # Wire-level names (the protocol's Reply record, serializers) stay under .protocol so
    # they do not collide with the channel API (a channel's Reply).
    assert trouper.channels.protocol is protocol
    assert "protocol" in trouper.channels.__all__


def test_public_classes_and_functions_have_docstrings() -> None:
    for name in protocol.__all__:
        obj = getattr(protocol, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
