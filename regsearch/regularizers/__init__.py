"""Weight, activity and cross-layer regularizers, and the ``get`` resolver."""

from regsearch.regularizers._get import available, deserialize, get, serialize
from regsearch.regularizers._output_sparsity import OutputSparsity

__all__ = ["OutputSparsity", "available", "deserialize", "get", "serialize"]
