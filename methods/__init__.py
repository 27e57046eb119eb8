"""srrepro method zoo, usable without the harness: ``create``, ``load_weights``,
``get_card``, ``list_methods``, ``count_params``.

Family modules are imported here by name; each registers its cards at import time. This
package is the lower layer: it never imports ``bench``.
"""
# each import registers that family's cards; an import error is never swallowed
from methods import (  # noqa: F401
                              bicubic,
                              discriminators,
                              drn,
                              drn2018,
                              edsr,
                              gradient_branch,
                              nearest,
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
from methods.weights import find_weights, load_weights, read_model_args

__all__ = ["MethodCard", "UnknownMethodError", "WeightsEntry", "count_params", "create",
           "find_weights", "get_card", "list_methods", "load_weights", "read_model_args",
           "register"]
