"""One penalty over the kernels of several layers, seen together."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from regsearch import regularizers
from regsearch._compat.keras import producing_layer
from regsearch._validation import check_bool, check_int, check_patterns
from regsearch.regularizers import RegularizerLike


@keras.saving.register_keras_serializable(package="regsearch")
class CrossLayer(keras.layers.Layer):
    """A regularizer applied to the kernels of several layers concatenated.

    The case it serves: ten 1x1 filters split into ten ``Conv2D(1, 1)`` layers so
    that some can be frozen, while an orthogonality penalty must still see all ten
    filters at once. ``regsearch.apply(model, cross_layer=[CrossLayer("conv_*",
    "orthogonal")])`` adds it; the penalty is one entry of ``model.losses`` (added
    on each forward pass, like any ``add_loss`` penalty).

    How it works: ``apply`` inserts this layer as a pass-through at the model's
    first output, ``CrossLayer(...)([output, out_a, out_b, ...])``, where
    ``out_a, out_b, ...`` are the outputs of the matched layers. When called on
    symbolic tensors it binds to the layers that produced the extra inputs; its
    ``call`` returns ``output`` unchanged and adds
    ``regularizer(concatenate([a.kernel, b.kernel, ...], axis))`` as a loss.
    Because Keras rebuilds a functional model by calling its layers on symbolic
    tensors, the binding is restored when a `.keras` file is loaded, with no
    ``custom_objects``. The layer has no weights of its own. A ``Sequential``
    model given a ``CrossLayer`` becomes a functional model.

    Args:
        layers: glob pattern(s) over layer names (``"conv_*"`` or a list); every
            bound layer's name must match one of them.
        regularizer: a regularizer instance (registered or not), any callable
            ``penalty(weight)``, a name or a config, resolved by
            ``regsearch.regularizers.get``. Saving follows Keras's rules: a
            registered class or function round-trips; an unregistered function is
            saved by name and loads with ``custom_objects``.
        axis: the axis along which kernels are concatenated (the filter axis,
            ``-1`` for Dense and Conv kernels).
        flatten: instead, reshape each kernel to ``(-1, kernel.shape[axis])`` and
            stack the rows: the kernels then need the same size along ``axis`` only,
            and with ``"group_lasso"`` each group is one channel over every bound
            layer -- the coupled group norm of layers whose channels a residual
            ``Add`` ties together (Torch-Pruning's group-norm sparse learning).
        **kwargs: base ``Layer`` arguments (``name``, ...).

    Examples:
        >>> import keras, regsearch
        >>> inputs = keras.Input((4,))
        >>> a = keras.layers.Dense(2, name="dense_a")(inputs)
        >>> b = keras.layers.Dense(3, name="dense_b")(inputs)
        >>> out = keras.layers.Concatenate()([a, b])
        >>> model = keras.Model(inputs, out)
        >>> new = regsearch.apply(
        ...     model, cross_layer=[regsearch.CrossLayer("dense_*", "l2")]
        ... )
        >>> _ = new(keras.ops.ones((1, 4)))
        >>> len(new.losses)
        1
    """

    def __init__(
        self,
        layers: str | Sequence[str],
        regularizer: RegularizerLike | str | dict[str, Any],
        *,
        axis: int = -1,
        flatten: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layer_patterns = check_patterns("layers", layers)
        if isinstance(regularizer, dict):
            # A saved config: Keras resolves built-in and registered classes.
            regularizer = keras.saving.deserialize_keras_object(regularizer)
        resolved = regularizers.get(regularizer)
        if resolved is None:
            raise ValueError(
                f"Argument `regularizer` must name a regularizer; received {regularizer!r}."
            )
        self.regularizer = resolved
        self.axis = check_int("axis", axis)
        self.flatten = check_bool("flatten", flatten)
        # Untracked references to the bound layers: they belong to the model,
        # not to this layer (tracking them would duplicate their weights).
        object.__setattr__(self, "_bound", ())

    @property
    def bound_layers(self) -> tuple[keras.layers.Layer, ...]:
        """The layers whose kernels are penalized (empty until first called)."""
        return self._bound  # type: ignore[no-any-return]

    def _bind(self, tensors: Sequence[Any]) -> None:
        bound = []
        for tensor in tensors:
            layer = producing_layer(tensor)
            if layer is None or not hasattr(layer, "kernel"):
                raise ValueError(
                    f"CrossLayer {self.name!r}: every input after the first must be the "
                    "output of a layer with a `kernel`; received a tensor produced by "
                    f"{getattr(layer, 'name', None)!r}."
                )
            if not any(fnmatch.fnmatchcase(layer.name, p) for p in self.layer_patterns):
                raise ValueError(
                    f"CrossLayer {self.name!r}: layer {layer.name!r} does not match "
                    f"`layers`={self.layer_patterns}."
                )
            bound.append(layer)
        shapes = [tuple(layer.kernel.shape) for layer in bound]
        if not self._fits(shapes):
            raise ValueError(
                f"CrossLayer {self.name!r}: the kernels of {[layer.name for layer in bound]} "
                f"have shapes {shapes} and cannot be concatenated along axis {self.axis}; "
                "they must agree on every other axis."
            )
        object.__setattr__(self, "_bound", tuple(bound))

    def _fits(self, shapes: list[tuple[int, ...]]) -> bool:
        """Whether kernels of ``shapes`` can be concatenated (or stacked) along ``axis``."""
        sizes = set()
        for shape in shapes:
            rank = len(shape)
            if not -rank <= self.axis < rank:
                return False
            axis = self.axis % rank
            sizes.add(shape[axis] if self.flatten else (rank, shape[:axis] + shape[axis + 1 :]))
        return len(sizes) == 1

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                f"CrossLayer {self.name!r} must be called on a list "
                "[output, matched_output_1, ...]; use `regsearch.apply(model, "
                "cross_layer=[...])` to insert it."
            )
        if all(isinstance(t, keras.KerasTensor) for t in inputs[1:]):
            self._bind(inputs[1:])
        return super().__call__(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def compute_output_spec(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)

    def penalty(self) -> Any:
        """The regularizer applied to the concatenated kernels of the bound layers."""
        if not self._bound:
            raise ValueError(
                f"CrossLayer {self.name!r} is not bound to any layer yet: call it on "
                "symbolic tensors (regsearch.apply does this)."
            )
        kernels = [layer.kernel for layer in self._bound]
        if self.flatten:
            rows = [
                ops.reshape(ops.moveaxis(k, self.axis, -1), (-1, k.shape[self.axis]))
                for k in kernels
            ]
            return self.regularizer(ops.concatenate(rows, axis=0))
        if len(kernels) == 1:
            return self.regularizer(ops.convert_to_tensor(kernels[0]))
        return self.regularizer(ops.concatenate(kernels, axis=self.axis))

    def call(self, inputs: Any) -> Any:
        if self.regularizer is not None:  # None: held off (``search.PenaltyWarmup``)
            self.add_loss(self.penalty())
        return inputs[0]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "layers": list(self.layer_patterns),
                "regularizer": keras.saving.serialize_keras_object(self.regularizer),
                "axis": self.axis,
                "flatten": self.flatten,
            }
        )
        return config
