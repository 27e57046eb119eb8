"""srrepro method zoo: ``create``, ``list_methods``, ``get_card``.

Family modules are imported here by name; each registers its cards at import time.
"""
from methods.registry import (MethodCard, UnknownMethodError, WeightsEntry, count_params,
                              create, get_card, list_methods, register)
from methods import bicubic  # noqa: F401  (registers "bicubic")

__all__ = ["MethodCard", "UnknownMethodError", "WeightsEntry", "count_params", "create",
           "get_card", "list_methods", "register"]
