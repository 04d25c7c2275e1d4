"""Optional packages and the install extra that provides each.

The base install serves the sampler and the CLI's CPU path; the dashboard, figures and database
drivers come with extras. A missing one is a one-line error that names the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from orderopt.errors import MissingExtraError

__all__ = ["EXTRAS", "require", "available"]

# importable module -> (pip package, orderopt extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "optuna_dashboard": ("optuna-dashboard", "dashboard"),
    "plotly": ("plotly", "dashboard"),
    "matplotlib": ("matplotlib", "plots"),
    "psycopg2": ("psycopg2-binary", "postgres"),
    "pymysql": ("PyMySQL", "mysql"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` for ``purpose`` (e.g. ``"orderopt dashboard"``) or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package, extra = EXTRAS[module.split(".")[0]]
        raise MissingExtraError(f"{purpose} needs {package}, which is not installed; "
                                f"pip install 'orderopt[{extra}]'") from None


def available(module: str) -> bool:
    """True when ``module`` can be imported (without importing it twice if it already was)."""
    return importlib.util.find_spec(module.split(".")[0]) is not None
