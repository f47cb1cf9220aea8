"""Layers that regsearch inserts into models."""

from regsearch.layers._cross_layer import CrossLayer

__all__ = ["CrossLayer"]
