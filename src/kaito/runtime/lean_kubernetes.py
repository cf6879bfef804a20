"""kubernetes-asyncio without loading its generated API classes and models.

The ``__init__`` files of ``kubernetes_asyncio`` and ``kubernetes_asyncio.client`` import every
generated API class and model: about 1,200 modules and ~38 MiB of a process's memory, a third
of the manager's. kaito uses only the ``ApiClient`` (auth, TLS, token refresh), ``Configuration``
and the config loaders, and decodes JSON into plain dicts (:mod:`kaito.runtime.transport`).

Importing this module registers those packages (and ``client.models``, which ``api_client``
imports) as *shells*: the real module objects, made from their own import specs (same
``__path__``, so ``kubernetes_asyncio.client.api_client`` and every other submodule imports as
usual), whose package ``__init__`` has not run. A name a shell does not have yet is resolved on
first use (PEP 562 ``__getattr__``): a submodule of that name is imported, a few light names
(``ApiClient``, ``Configuration``, the exceptions) come from the submodule that defines them,
and anything else (``V1Pod``, ``CoreV1Api``) runs the package's real ``__init__`` once, so
code that wants the whole generated client still gets it, at its full cost, on first use.

Nothing changes when kubernetes-asyncio is already imported, or when its layout is not the one
expected (then the normal import runs). :mod:`kaito.runtime` imports this module first.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

SHELLS = ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.client.models")

FULL_DUNDERS = frozenset({"__all__", "__version__", "__project__"})
"""Names a package ``__init__`` defines; other dunders are probes (``__wrapped__``...)."""

LIGHT_NAMES = {
    "kubernetes_asyncio.client": {
        "ApiClient": "api_client",
        "Configuration": "configuration",
        "ApiException": "exceptions",
        "ApiValueError": "exceptions",
        "ApiTypeError": "exceptions",
        "ApiKeyError": "exceptions",
        "OpenApiException": "exceptions",
    }
}


def _shell(name: str) -> ModuleType | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return None
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    state = {"loaded": False}

    def load_all() -> None:
        """Run the package's real ``__init__`` in the shell (once)."""
        state["loaded"] = True
        del module.__dict__["__getattr__"]
        loader.exec_module(module)

    def resolve(attr: str) -> Any:
        if state["loaded"] or (attr.startswith("__") and attr not in FULL_DUNDERS):
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        light = LIGHT_NAMES.get(name, {}).get(attr)
        if light is not None:
            return getattr(importlib.import_module(f"{name}.{light}"), attr)
        if importlib.util.find_spec(f"{name}.{attr}") is not None:
            return importlib.import_module(f"{name}.{attr}")  # also set on the shell
        load_all()
        return getattr(module, attr)

    module.__dict__["__getattr__"] = resolve
    return module


def install() -> None:
    """Register the shells, unless kubernetes-asyncio (or any part of it) is imported."""
    if any(name in sys.modules for name in SHELLS):
        return
    for name in SHELLS:
        shell = _shell(name)
        if shell is None:  # not the layout this module knows: import as usual
            for registered in SHELLS:
                sys.modules.pop(registered, None)
            return
        sys.modules[name] = shell
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, shell)


install()
