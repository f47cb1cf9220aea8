"""Model editing: glob targeting, ``apply``, inlining, resizes, and the one graph rebuild.

``apply`` is the public entry point (also ``regsearch.apply``); ``match_layers`` and
``match_weights`` show which layers and weights a glob pattern reaches;
``inline_models`` replaces nested models by their layers. The other
names, importable from here but not in ``__all__``, are the package's surface for the
rest of regsearch: ``trimming`` rebuilds through ``rebuild``, ``search`` targets layers
with ``match_layers`` and resizes through ``resize_plan``; ``channel_following_target``
is the one rule for a ``Reshape`` that channels pass through.
"""

from regsearch.editing._apply import apply
from regsearch.editing._inline import inline_models, nested_models
from regsearch.editing._patterns import Patterns, match_layers, match_weights
from regsearch.editing._patterns import output_layers as output_layers
from regsearch.editing._patterns import resolve_mapping as resolve_mapping
from regsearch.editing._patterns import target_layers as target_layers
from regsearch.editing._patterns import weight_paths as weight_paths
from regsearch.editing._rebuild import Edits as Edits
from regsearch.editing._rebuild import LayerFactory as LayerFactory
from regsearch.editing._rebuild import clone_layer as clone_layer
from regsearch.editing._rebuild import copy_weights as copy_weights
from regsearch.editing._rebuild import rebuild as rebuild
from regsearch.editing._resize import ResizePlan as ResizePlan
from regsearch.editing._resize import channel_following_target as channel_following_target
from regsearch.editing._resize import has_kernel_size as has_kernel_size
from regsearch.editing._resize import kernel_size_cap as kernel_size_cap
from regsearch.editing._resize import resize_error as resize_error
from regsearch.editing._resize import resize_plan as resize_plan

__all__ = ["Patterns", "apply", "inline_models", "match_layers", "match_weights", "nested_models"]
