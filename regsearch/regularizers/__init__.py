"""Weight, activity and cross-layer regularizers, and the ``get`` resolver."""

from regsearch.regularizers._get import available, deserialize, get, serialize

__all__ = ["available", "deserialize", "get", "serialize"]
