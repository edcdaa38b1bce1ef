"""Loading the scripts of benchmarks/, which are not a package, for their tests."""

import importlib.util
from pathlib import Path
from types import ModuleType

FOLDER = Path(__file__).parents[1] / "benchmarks"


def script_path(name: str) -> Path:
    return FOLDER / f"{name}.py"


def load_script(name: str) -> ModuleType:
    """benchmarks/NAME.py as a module (its main() does not run)."""
    spec = importlib.util.spec_from_file_location(name, script_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
