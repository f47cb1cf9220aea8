"""Layers the search inserts into a model: the output-sparsity constraint ``TopK``."""

from regsearch.layers._top_k import TopK

__all__ = ["TopK"]
