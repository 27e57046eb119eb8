"""srrepro method zoo: ``create``, ``list_methods``, ``get_card``.

Family modules are imported here by name; each registers its cards at import time.
"""
# each import registers that family's cards; an import error is never swallowed
from methods import (  # noqa: F401
                              bicubic,
                              discriminators,
                              drn,
                              drn2018,
                              edsr,
                              gradient_branch,
                              rrdbnet,
                              srresnet,
)
from methods.registry import (
                              MethodCard,
                              UnknownMethodError,
                              WeightsEntry,
                              count_params,
                              create,
                              get_card,
                              list_methods,
                              register,
)

__all__ = ["MethodCard", "UnknownMethodError", "WeightsEntry", "count_params", "create",
           "get_card", "list_methods", "register"]
