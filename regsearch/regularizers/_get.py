"""Resolve regularizer identifiers: names, config dicts, instances or None."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeAlias

import keras

from regsearch._validation import did_you_mean
from regsearch.regularizers._activity import Contractive, HiddenL1, RecurrentNorm, RecurrentState
from regsearch.regularizers._group_lasso import GroupLasso
from regsearch.regularizers._kernel_extent import KernelExtent
from regsearch.regularizers._kernel_length import KernelLength
from regsearch.regularizers._orthogonal import Orthogonal
from regsearch.regularizers._output_sparsity import OutputSparsity
from regsearch.regularizers._reweighted import ReweightedGroupSparsity
from regsearch.regularizers._scales import Polarization, Slimming
from regsearch.regularizers._structured_sparsity import StructuredSparsity

#: What Keras accepts as a layer's regularizer: a ``Regularizer`` instance or any
#: callable mapping a weight tensor to a scalar penalty.
RegularizerLike: TypeAlias = keras.regularizers.Regularizer | Callable[[Any], Any]

# Name -> class. Keys are the snake_case names; ClassName strings resolve too.
_REGISTRY: dict[str, type[keras.regularizers.Regularizer]] = {
    "l1": keras.regularizers.L1,
    "l2": keras.regularizers.L2,
    "l1_l2": keras.regularizers.L1L2,
    "kernel_length": KernelLength,
    "kernel_extent": KernelExtent,
    "group_lasso": GroupLasso,
    "structured_sparsity": StructuredSparsity,
    "reweighted_group_sparsity": ReweightedGroupSparsity,
    "slimming": Slimming,
    "polarization": Polarization,
    "orthogonal": Orthogonal,
    "hidden_l1": HiddenL1,
    "recurrent_state": RecurrentState,
    "recurrent_norm": RecurrentNorm,
    "contractive": Contractive,
    "output_sparsity": OutputSparsity,
}  # and "growing" (Growing resolves what it wraps here; the package registers it)


def register(name: str, cls: type[keras.regularizers.Regularizer]) -> None:
    """Make ``cls`` resolvable by ``get(name)`` and by its class name."""
    _REGISTRY[name] = cls


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def available() -> list[str]:
    """The snake_case names ``get`` accepts."""
    return sorted(_REGISTRY)


def _lookup(name: str) -> type[keras.regularizers.Regularizer] | None:
    if name in _REGISTRY:
        return _REGISTRY[name]
    for cls in _REGISTRY.values():
        if name == cls.__name__:
            return cls
    return _REGISTRY.get(_snake_case(name))


def serialize(regularizer: keras.regularizers.Regularizer) -> dict[str, Any]:
    """Serialize a regularizer to a Keras config dict."""
    return keras.saving.serialize_keras_object(regularizer)


def deserialize(config: dict[str, Any]) -> keras.regularizers.Regularizer:
    """Inverse of ``serialize``."""
    # Keras's own regularizers and regsearch's, also from short configs that carry
    # only ``class_name`` (Keras alone returns the bare name string for those).
    module_objects = {
        name: obj
        for name, obj in vars(keras.regularizers).items()
        if isinstance(obj, type) and issubclass(obj, keras.regularizers.Regularizer)
    }
    module_objects.update({cls.__name__: cls for cls in _REGISTRY.values()})
    return keras.saving.deserialize_keras_object(config, module_objects=module_objects)


def get(identifier: Any) -> RegularizerLike | None:
    """Resolve a regularizer identifier, accepting what a Keras layer accepts.

    Args:
        identifier: ``None``; a regularizer instance (registered or not, with or
            without ``get_config``) or any other callable ``penalty(weight)``, both
            returned as is; a ``Regularizer`` subclass, built with its default
            arguments; a name in snake_case (``"kernel_length"``, ``"l1"``) or
            ClassName form (``"KernelLength"``), built likewise; or a config dict as
            produced by ``serialize`` or ``get_config()``.

    Returns:
        The regularizer, or ``None`` for ``None`` and ``"none"``.

    Raises:
        ValueError: for an unknown name, with the closest known name suggested.
        TypeError: for anything else.

    Examples:
        >>> from regsearch import regularizers
        >>> regularizers.get("l2")
        <keras.src.regularizers.regularizers.L2 object at ...>
    """
    if identifier is None:
        return None
    if inspect.isclass(identifier) and issubclass(identifier, keras.regularizers.Regularizer):
        return identifier()
    if callable(identifier) and not inspect.isclass(identifier):
        return identifier  # a Regularizer instance, a function, any callable object
    if isinstance(identifier, str):
        if identifier.lower() == "none":
            return None
        cls = _lookup(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown regularizer identifier: received {identifier!r}; expected one of "
                f"{available()}, a config dict or a Regularizer instance."
                f"{did_you_mean(identifier, available())}"
            )
        return cls()
    if isinstance(identifier, dict):
        if "class_name" in identifier:
            return deserialize(identifier)
        raise ValueError(
            f"A regularizer config dict needs a 'class_name' key; received {identifier!r}."
        )
    raise TypeError(
        f"Cannot interpret regularizer identifier {identifier!r} of type "
        f"{type(identifier).__name__}; expected a name, a config dict, a Regularizer, a "
        "callable penalty(weight) or None."
    )
