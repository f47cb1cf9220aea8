"""Weight constraints: freeze chosen filters of a layer exactly."""

from regsearch.constraints._freeze import FreezeFilters

__all__ = ["FreezeFilters"]
