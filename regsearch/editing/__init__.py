"""Model editing: glob targeting, ``apply``, resizes, and the one graph rebuild.

``apply`` is the public entry point (also ``regsearch.apply``). The other names are
the package's surface for the rest of regsearch: ``trimming`` rebuilds through
:func:`rebuild`, ``search`` targets layers with :func:`match_layers`.
"""

from regsearch.editing._apply import apply
from regsearch.editing._patterns import (
    Patterns,
    match_layers,
    match_weights,
    output_layers,
    resolve_mapping,
    target_layers,
    weight_paths,
)
from regsearch.editing._rebuild import Edits, LayerFactory, clone_layer, copy_weights, rebuild
from regsearch.editing._resize import ResizePlan, has_kernel_size, resize_error, resize_plan

__all__ = [
    "Edits",
    "LayerFactory",
    "Patterns",
    "ResizePlan",
    "apply",
    "clone_layer",
    "copy_weights",
    "has_kernel_size",
    "match_layers",
    "match_weights",
    "output_layers",
    "rebuild",
    "resize_error",
    "resize_plan",
    "resolve_mapping",
    "target_layers",
    "weight_paths",
]
