"""The layers of docs/architecture.md, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "carbide_dpf"

# Which top-level layers of carbide_dpf each layer may import (itself always allowed).
ALLOWED_LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "kube": {"errors"},
    "models": {"kube", "errors"},
}

# Third-party HTTP libraries, and the only layers allowed to use them: kube/ speaks to
# Kubernetes, sandbox/ to etcd's gateway in tests, redfish/ to BMCs.
HTTP_LIBRARIES = {"httpx", "aiohttp", "requests", "urllib3"}
HTTP_LAYERS = {"kube", "sandbox", "redfish"}


def _layer_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_sources_to_check() -> None:
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_allowed_layers(path: Path) -> None:
    layer = _layer_of(path)
    if layer not in ALLOWED_LAYERS:
        return

    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "carbide_dpf" or len(parts) < 2:
            continue
        imported = parts[1]
        assert imported == layer or imported in ALLOWED_LAYERS[layer], (
            f"{path.relative_to(PACKAGE)} ({layer}/) imports {name}"
        )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_transport_layers_speak_http(path: Path) -> None:
    layer = _layer_of(path)
    for name in _imports(path):
        if name.split(".")[0] in HTTP_LIBRARIES:
            assert layer in HTTP_LAYERS, f"{path.relative_to(PACKAGE)} imports {name}"
