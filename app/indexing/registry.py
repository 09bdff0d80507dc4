"""Collection NSID → the module that indexes it, found by walking app/indexing/collections."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache

from app.indexing import collections as collections_package
from app.indexing.collection import Collection
from app.indexing.collections.generic import ANY_COLLECTION


class Registry:
    def __init__(self, collections: dict[str, Collection], modules: dict[str, str]) -> None:
        self.by_nsid = collections
        self.module_of = modules
        self.fallback = collections[ANY_COLLECTION]

    def lookup(self, nsid: str) -> Collection:
        return self.by_nsid.get(nsid, self.fallback)

    def __iter__(self) -> Iterator[Collection]:
        return iter(self.by_nsid.values())

    def modules(self) -> dict[str, str]:
        """NSID → module path, for `python -m app`'s listing."""
        return dict(sorted(self.module_of.items()))


@cache
def registry() -> Registry:
    found: dict[str, Collection] = {}
    modules: dict[str, str] = {}
    for module_info in pkgutil.iter_modules(collections_package.__path__):
        module = importlib.import_module(f"{collections_package.__name__}.{module_info.name}")
        collection = getattr(module, "COLLECTION", None)
        if not isinstance(collection, Collection):
            continue
        if collection.nsid in found:
            raise RuntimeError(f"two modules index {collection.nsid}")
        found[collection.nsid] = collection
        modules[collection.nsid] = module.__name__
    return Registry(found, modules)
