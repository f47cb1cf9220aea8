"""regsearch: search which regularizers to put on which Keras layers, and how strong.

Candidates are judged by their validation metric, by the size of the model once
near-zero kernel edges and dead filters are trimmed, and by how sparse the
outputs are.
"""

from regsearch import constraints, layers, metrics, regularizers
from regsearch._apply import apply
from regsearch._version import __version__
from regsearch.layers import CrossLayer
from regsearch.trim import TrimReport, snap_to_zero, trim, trimmed_size

__all__ = [
    "CrossLayer",
    "TrimReport",
    "__version__",
    "apply",
    "constraints",
    "layers",
    "metrics",
    "regularizers",
    "snap_to_zero",
    "trim",
    "trimmed_size",
]
