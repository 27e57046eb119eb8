"""srrepro method zoo: ``create``, ``list_methods``, ``get_card``.

Family modules are imported here by name; each registers its cards at import time.
"""
from methods.registry import (MethodCard, UnknownMethodError, WeightsEntry, count_params,
                              create, get_card, list_methods, register)
# each import registers that family's cards; an import error is never swallowed
from methods import (bicubic, discriminators, drn, drn2018, edsr,  # noqa: F401
                     gradient_branch, rrdbnet, srresnet)

__all__ = ["MethodCard", "UnknownMethodError", "WeightsEntry", "count_params", "create",
           "get_card", "list_methods", "register"]
