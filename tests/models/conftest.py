"""Fixtures for the preset-weights tests: the hack/models script as a module, a real registry."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.tuning.conftest import oci_registry  # noqa: F401  (a real distribution registry)

SCRIPT = Path(__file__).parents[2] / "hack" / "models" / "smollm2.py"


@pytest.fixture(scope="session")
def smollm2() -> ModuleType:
    """``hack/models/smollm2.py`` imported as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("hack_models_smollm2", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
