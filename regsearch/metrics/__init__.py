"""Metrics for ``compile(metrics=...)``: how sparse a model's outputs are."""

from regsearch.metrics._sparsity import ActiveOutputs, SparsityViolation

__all__ = ["ActiveOutputs", "SparsityViolation"]
