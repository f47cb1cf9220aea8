"""Layers regsearch inserts into models: the output-sparsity constraint ``TopK`` and
the cross-layer penalty ``CrossLayer``."""

from regsearch.layers._cross_layer import CrossLayer
from regsearch.layers._top_k import TopK

__all__ = ["CrossLayer", "TopK"]
