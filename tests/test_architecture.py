"""The import direction of the architecture guide, enforced.

Data flows one way: transports → protocol cores → services → store / api.  Each package may
import only the packages listed for it (plus itself and the standard library/third parties).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "sightline"

BASE = {"errors"}
ALLOWED: dict[str, set[str]] = {
    "sip": BASE,
    "media": BASE,
    "store": BASE,
    "events": BASE,
    "config": BASE,
    "gb28181": BASE | {"sip", "media", "store", "events", "config"},
    "directory": BASE | {"gb28181", "store", "events", "config"},
    "access": BASE | {"store", "events", "config"},
    "health": BASE | {"gb28181", "media", "directory", "store", "events", "config"},
    "analytics": BASE | {"media", "store", "events", "config"},
    "sim": BASE | {"sip", "gb28181", "media", "config"},
    "api": BASE
    | {
        "sip",
        "gb28181",
        "media",
        "directory",
        "access",
        "health",
        "analytics",
        "store",
        "events",
        "config",
    },
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "sightline" and len(parts) > 1:
                found.add(parts[1])
    return found


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def test_lower_layers_never_import_higher_ones() -> None:
    violations = []
    for path in SRC.rglob("*.py"):
        package = _package_of(path)
        if package not in ALLOWED:
            continue  # cli, node, web and top-level wiring may import anything
        for imported in _imports(path) - {package} - ALLOWED[package]:
            violations.append(f"{path.relative_to(SRC)} imports sightline.{imported}")
    assert not violations, "\n".join(sorted(violations))


def test_every_package_is_classified() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(ALLOWED) <= {"cli", "web"}
