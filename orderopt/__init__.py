"""orderopt: find learning-friendly generation orders for sequential computation.

Layers (each imports only those above it): ``tasks``/``orders`` (numpy) -> ``model``,
``training`` (torch) -> ``samplers`` (optuna) -> ``studies``/``storage`` -> ``cli``.
"""

from __future__ import annotations

from orderopt.errors import OrderoptError
from orderopt.orders import Order, format_order, parse_order, validate_order
from orderopt.tasks import Task, from_callable, from_file, make_task

__version__ = "0.1.0"

__all__ = [
    "OrderoptError",
    "Order",
    "Task",
    "format_order",
    "from_callable",
    "from_file",
    "make_task",
    "parse_order",
    "validate_order",
    "__version__",
]
