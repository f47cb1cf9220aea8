"""regsearch: search which regularizers to put on which Keras layers, and how strong.

Candidates are judged by their validation metric, by the size of the model once
near-zero kernel edges and dead filters are trimmed, and by how sparse the
outputs are.
"""

from regsearch import regularizers
from regsearch._version import __version__
from regsearch.trim import TrimReport, trim, trimmed_size

__all__ = [
    "TrimReport",
    "__version__",
    "regularizers",
    "trim",
    "trimmed_size",
]
