"""Weight, activity and cross-layer regularizers, and the ``get`` resolver."""

from regsearch.regularizers._activity import Contractive, HiddenL1, RecurrentNorm, RecurrentState
from regsearch.regularizers._base import Regularizer
from regsearch.regularizers._get import (
    RegularizerLike,
    available,
    deserialize,
    get,
    register,
    serialize,
)
from regsearch.regularizers._group_lasso import GroupLasso
from regsearch.regularizers._growing import Growing
from regsearch.regularizers._kernel_extent import KernelExtent

# Shared with search's ExactZeros (the groups a KernelExtent penalty empties).
from regsearch.regularizers._kernel_extent import extent_groups as extent_groups
from regsearch.regularizers._kernel_length import KernelLength
from regsearch.regularizers._orthogonal import Orthogonal
from regsearch.regularizers._output_sparsity import OutputSparsity
from regsearch.regularizers._reweighted import ReweightedGroupSparsity
from regsearch.regularizers._scales import Polarization, Slimming

# Shared with search's ExactZeros (which groups a StructuredSparsity penalty empties).
from regsearch.regularizers._scales import output_channel_axes as output_channel_axes
from regsearch.regularizers._structured_sparsity import StructuredSparsity
from regsearch.regularizers._structured_sparsity import group_axes as group_axes
from regsearch.regularizers._structured_sparsity import group_size as group_size

register("growing", Growing)  # after ``_get``'s own names: Growing resolves through them

__all__ = [
    "Contractive",
    "GroupLasso",
    "Growing",
    "HiddenL1",
    "KernelExtent",
    "KernelLength",
    "Orthogonal",
    "OutputSparsity",
    "Polarization",
    "RecurrentNorm",
    "RecurrentState",
    "Regularizer",
    "RegularizerLike",
    "ReweightedGroupSparsity",
    "Slimming",
    "StructuredSparsity",
    "available",
    "deserialize",
    "get",
    "register",
    "serialize",
]
