"""Search spaces: which regularizers, how strong, on which layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import keras_tuner

from regsearch import regularizers
from regsearch._compat.keras import producing_layer
from regsearch._validation import check_bool, check_choice, check_float, check_int
from regsearch.editing import has_kernel_size, match_layers, output_layers
from regsearch.layers import CrossLayer
from regsearch.trimming import ChannelGroup, channel_groups, coupled_penalties

NONE = "none"
# Regularizers that need a kernel with spatial axes (Conv*), not a Dense kernel.
_SPATIAL_ONLY = {"kernel_length", "kernel_extent"}
# How a layer's penalties evolve over the epochs (``SearchSpace(schedule=...)``).
CONSTANT, GROWING = "constant", "growing"
SCHEDULES = (CONSTANT, GROWING)
_STRENGTH_KEYS = ("strength", "l1", "l2")
# The ``regsearch.apply`` arguments a space plans per layer.
_PLANNED = ("kernel", "gamma", "activity", "dropout", "noise", "width", "kernel_size")


def with_strength(name: str, strength: float) -> keras.regularizers.Regularizer:
    """Build the regularizer called ``name`` with its strength set to ``strength``.

    Keras's ``L1``/``L2``/``L1L2`` take ``l1``/``l2``; regsearch's take ``strength``.
    """
    default = regularizers.get(name)
    if not isinstance(default, keras.regularizers.Regularizer):
        raise ValueError(f"Regularizer {name!r} has no strength.")
    config = default.get_config()
    for key in _STRENGTH_KEYS:
        if key in config:
            config[key] = float(strength)
    return type(default).from_config(config)


def _check_choices(argument: str, choices: Any) -> tuple[str, ...]:
    if isinstance(choices, str) or not isinstance(choices, Sequence):
        raise TypeError(
            f"Argument `{argument}` must be a list of regularizer names; received {choices!r}. "
            f"For a single choice pass [{choices!r}]."
        )
    if not choices:
        raise ValueError(f"Argument `{argument}` must name at least one choice; received [].")
    for name in choices:
        if not isinstance(name, str):
            raise TypeError(
                f"Argument `{argument}` must hold regularizer names (a search space is saved "
                f"with the tuner, and keras-tuner choices are strings); received {name!r}. "
                "To search your own Regularizer class (one taking `strength`), register "
                "it: regsearch.regularizers.register('my_name', MyRegularizer), then "
                "pass 'my_name'."
            )
        if name != NONE:
            regularizers.get(name)  # unknown names raise with a suggestion
    if len(set(choices)) != len(choices):
        raise ValueError(f"Argument `{argument}` repeats a choice: {list(choices)!r}.")
    return tuple(choices)


def _check_range(argument: str, value: Any, *, log: bool) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"Argument `{argument}` must be a (min, max) pair; received {value!r}.")
    low = check_float(f"{argument}[0]", value[0], minimum=0.0, exclusive_minimum=log)
    high = check_float(f"{argument}[1]", value[1], minimum=0.0, exclusive_minimum=log)
    if low >= high:
        raise ValueError(
            f"Argument `{argument}` must satisfy min < max; received {value!r}. "
            f"To fix a value, give a narrower range such as ({low}, {low * 1.01 or 1e-9})."
        )
    return low, high


def hp_regularizer(
    hp: keras_tuner.HyperParameters,
    name: str,
    *,
    choices: Sequence[str] = (NONE, "l1", "l2"),
    strength: tuple[float, float] = (1e-6, 1e-1),
) -> keras.regularizers.Regularizer | None:
    """Declare a regularizer choice in a ``build(hp)`` and return the trial's pick.

    Declares ``hp.Choice(name, choices)`` and, for every regularizer in
    ``choices``, a log-uniform ``hp.Float(f"{name}_{choice}_strength", ...)`` that
    exists only while that regularizer is chosen (a conditional scope), so
    Bayesian optimization never tunes the strength of an unused regularizer.

    Args:
        hp: The trial's hyperparameters.
        name: The hyperparameter name, unique within the build.
        choices: Regularizer names accepted by ``regsearch.regularizers.get``,
            and ``"none"``.
        strength: The (min, max) strength range, sampled log-uniformly.

    Returns:
        The regularizer the trial chose, or ``None`` for ``"none"``.

    Examples:
        >>> import keras, keras_tuner, regsearch
        >>> def build(hp):
        ...     reg = regsearch.hp_regularizer(hp, "dense_reg", choices=["none", "l2"])
        ...     return keras.Sequential([keras.layers.Dense(1, kernel_regularizer=reg)])
        >>> _ = build(keras_tuner.HyperParameters())
    """
    choices = _check_choices("choices", choices)
    low, high = _check_range("strength", strength, log=True)  # type: ignore[misc]
    chosen = hp.Choice(name, list(choices))
    picked = None
    for choice in choices:
        if choice == NONE:
            continue
        with hp.conditional_scope(name, [choice]):
            value = hp.Float(f"{name}_{choice}_strength", low, high, sampling="log")
        if chosen == choice:
            picked = with_strength(choice, value)
    return picked


def _check_list(
    argument: str, values: Any, check: Callable[[str, Any], Any]
) -> tuple[Any, ...] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"Argument `{argument}` must be a non-empty list; received {values!r}.")
    checked = tuple(check(f"{argument}[{i}]", v) for i, v in enumerate(values))
    if len(set(checked)) != len(checked):
        raise ValueError(f"Argument `{argument}` repeats a choice: {list(values)!r}.")
    return checked


def _followers(group: list[keras.layers.Layer], normalizations: dict[str, list[str]]) -> list[str]:
    """The BatchNormalization layers right after the layers of ``group``."""
    return [bn for layer in group for bn in normalizations.get(layer.name, [])]


def _check_relative_strength(value: Any) -> bool | str:
    if isinstance(value, bool) or value in ("loss", "gradient"):
        return value  # type: ignore[no-any-return]
    raise ValueError(
        "Argument `relative_strength` must be False, True (the same as 'loss'), 'loss' "
        f"or 'gradient'; received {value!r}."
    )


def _check_schedule(name: str, value: Any) -> str:
    return check_choice(name, value, SCHEDULES)


def _check_width(name: str, value: Any) -> float:
    return check_float(name, value, exclusive_minimum=True)


def _check_kernel_size(name: str, value: Any) -> int:
    return check_int(name, value, minimum=1)


def _normalizations(model: keras.Model) -> dict[str, list[str]]:
    """``{layer name: the BatchNormalization layers that read its output directly}``."""
    found: dict[str, list[str]] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            source = producing_layer(layer.input)
            if source is not None:
                found.setdefault(source.name, []).append(layer.name)
    return found


def _kernel_rank(layer: keras.layers.Layer) -> int | None:
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        kernel = getattr(layer, "depthwise_kernel", None)
    return None if kernel is None else len(kernel.shape)


@keras.saving.register_keras_serializable(package="regsearch")
class SearchSpace:
    """What a regularizer search may choose, and for which layers.

    Args:
        layers: Glob pattern(s) over layer names (``"conv*"``, ``["block[23]_*"]``);
            ``None`` matches every layer with a kernel.
        kernel: Kernel-regularizer choices (names for ``regularizers.get`` and
            ``"none"``). ``"kernel_length"`` applies only to layers with spatial
            kernels (Conv); Dense layers get no kernel regularizer from it.
        strength: (min, max) of the kernel-regularizer strength, log-uniform.
        gamma: Optional choices of a penalty on the scales of the
            BatchNormalization layers that directly follow the matched layers
            (``"slimming"``, ``"polarization"``, ``"none"``): a channel whose scale
            reaches 0 is trimmed with the filter feeding it. It shares ``strength``.
        activity: Optional activity-regularizer choices.
        activity_strength: (min, max) of the activity strength, log-uniform.
        dropout: Optional (min, max) dropout rate inserted after matched layers
            that are not model outputs.
        noise: Optional (min, max) GaussianNoise stddev, inserted likewise.
        top_k: Optional choices of k for a ``TopK`` layer after the output.
        per_layer: ``False``: one choice shared by all matched layers; ``True``:
            one choice per layer (hyperparameters prefixed with the layer name).
        width: Optional choices of a width factor for the matched Dense and Conv
            layers (``regsearch.apply``'s ``width``): ``[1.0, 0.5, 0.25]`` searches
            each layer at its own, half and a quarter of its filters. Layers coupled
            through a merge (a ResNet's residual stream: the stem and each block's
            last convolution) share one width, named after the first of them
            (``regsearch.trimming.channel_groups``). Layers whose width the rest
            of the model fixes keep it: model outputs, and layers whose channels
            reach a ``Reshape`` that moves the channels, a ``LayerNormalization``
            or the model's input.
        kernel_size: Optional choices of the largest kernel size per spatial axis
            of the matched convolutions (``regsearch.apply``'s ``kernel_size``);
            a kernel never grows.
        coupled: Also search, per coupled channel group of several layers (a
            residual stream), a ``GroupLasso`` over each channel across all of them
            (a ``CrossLayer`` with ``flatten=True``): it empties a channel in every
            layer at once, which is what ``trim`` needs to remove it. Shares
            ``strength``.
        relative_strength: Read ``strength`` relative to the data loss: before a
            trial trains, each regsearch penalty is rescaled so that it equals
            ``strength`` times the model's data loss on the first training samples
            (``True`` or ``"loss"``; ``RegSearchHyperModel`` does it), or so that
            the norm of its gradient is ``strength`` times that of the data loss's
            gradient on the same weights (``"gradient"``: how hard the penalty
            pulls against the data, layer by layer). One range then means the same
            on any model, loss and starting point (a trained model has a small loss).
        schedule: Optional choices of how the kernel and gamma penalties of the
            matched layers evolve: ``"constant"`` (at their strength from the first
            step) and ``"growing"`` (wrapped in
            ``regsearch.regularizers.Growing``: from a tenth of their strength,
            multiplied by a searched factor per epoch, up to their strength;
            ``RegSearchHyperModel`` grows them). With ``relative_strength`` the
            strength is calibrated at its full value.
        growth: (min, max) of the ``"growing"`` schedule's factor per epoch, each
            > 1, log-uniform.

    Examples:
        >>> import regsearch
        >>> space = regsearch.SearchSpace(layers="conv*", kernel=["none", "l1", "kernel_length"],
        ...                               strength=(1e-6, 1e-1), dropout=(0.0, 0.5))
    """

    def __init__(
        self,
        layers: str | Sequence[str] | None = None,
        *,
        kernel: Sequence[str] = (NONE, "l1", "l2"),
        strength: tuple[float, float] = (1e-6, 1e-1),
        gamma: Sequence[str] | None = None,
        activity: Sequence[str] | None = None,
        activity_strength: tuple[float, float] = (1e-6, 1e-2),
        dropout: tuple[float, float] | None = None,
        noise: tuple[float, float] | None = None,
        top_k: Sequence[int] | None = None,
        per_layer: bool = False,
        width: Sequence[float] | None = None,
        kernel_size: Sequence[int] | None = None,
        coupled: bool = False,
        relative_strength: bool | str = False,
        schedule: Sequence[str] | None = None,
        growth: tuple[float, float] = (1.2, 3.0),
    ) -> None:
        if layers is not None:
            patterns = [layers] if isinstance(layers, str) else list(layers)
            if not patterns or not all(isinstance(p, str) and p for p in patterns):
                raise TypeError(
                    f"Argument `layers` must be a glob pattern or a non-empty list of them; "
                    f"received {layers!r}."
                )
            layers = patterns
        self.layers = layers
        self.kernel = _check_choices("kernel", kernel)
        self.strength: tuple[float, float] = _check_range("strength", strength, log=True)  # type: ignore[assignment]
        self.gamma = None if gamma is None else _check_choices("gamma", gamma)
        self.activity = None if activity is None else _check_choices("activity", activity)
        self.activity_strength: tuple[float, float] = _check_range(  # type: ignore[assignment]
            "activity_strength", activity_strength, log=True
        )
        self.dropout = _check_range("dropout", dropout, log=False)
        if self.dropout is not None and self.dropout[1] >= 1.0:
            raise ValueError(f"Argument `dropout` must stay below 1.0; received {dropout!r}.")
        self.noise = _check_range("noise", noise, log=False)
        if top_k is not None:
            if isinstance(top_k, (str, int)) or not isinstance(top_k, Sequence) or not top_k:
                raise TypeError(
                    f"Argument `top_k` must be a non-empty list of integers; received {top_k!r}."
                )
            top_k = [check_int("top_k", k, minimum=1) for k in top_k]
        self.top_k = None if top_k is None else tuple(top_k)
        self.per_layer = check_bool("per_layer", per_layer)
        self.width = _check_list("width", width, _check_width)
        self.kernel_size = _check_list("kernel_size", kernel_size, _check_kernel_size)
        self.coupled = check_bool("coupled", coupled)
        self.relative_strength = _check_relative_strength(relative_strength)
        self.schedule = _check_list("schedule", schedule, _check_schedule)
        self.growth: tuple[float, float] = _check_range("growth", growth, log=True)  # type: ignore[assignment]
        if self.growth[0] <= 1.0:
            raise ValueError(
                f"Argument `growth` must lie above 1 (a factor per epoch); received {growth!r}. "
                "Try (1.2, 3.0)."
            )

    @classmethod
    def for_size(
        cls,
        layers: str | Sequence[str] | None = None,
        *,
        strength: tuple[float, float] | None = None,
        per_layer: bool = True,
        width: Sequence[float] | None = None,
        kernel_size: Sequence[int] | None = None,
        relative_strength: bool | str = "gradient",
        kernel: Sequence[str] = ("structured_sparsity",),
        gamma: Sequence[str] | None = None,
        coupled: bool = False,
        schedule: Sequence[str] | None = None,
        growth: tuple[float, float] = (1.2, 3.0),
    ) -> SearchSpace:
        """A space for "make it smaller": structured sparsity, one strength per layer.

        Every matched layer gets ``StructuredSparsity`` (filters, input channels and
        kernel positions together) at its own log-uniform strength, so one search
        covers removing filters, channels and edge taps, layer by layer. Use it
        with ``RegSearchHyperModel`` (whose ``exact_zeros`` is on by default and
        ``finetune_epochs`` recovers the accuracy the penalty costs) and a
        size-aware ``Objective``.

        By default a strength is relative to the data's gradient
        (``relative_strength="gradient"``): each layer's penalty is rescaled so
        that the norm of its gradient is ``strength`` times that of the data
        loss, measured when the penalty starts (after ``RegSearchHyperModel``'s
        penalty warmup, for trials from fresh weights), so one range means about
        the same on every task. With ``relative_strength=False`` strengths are
        absolute, with a range chosen on the digits demo model. A penalty alone
        leaves in place what the data uses a little; searching
        ``width`` and ``kernel_size`` as well closes that gap. Widths are not
        searched by default (they change the architecture, and kernel sizes are
        specific to the model): pass both; coupled layers (a residual stream)
        share one width, and outputs keep theirs. The figures are in
        ``benchmarks/README.md`` (``bench_vs_architecture_search.py``).

        Args:
            layers: Glob pattern(s) of the layers to shrink; ``None``: every layer
                with a kernel.
            strength: (min, max) of the ``StructuredSparsity`` strength;
                ``None``: ``(0.03, 1.0)`` for relative strengths, ``(3e-4, 3e-3)``
                for absolute ones.
            per_layer: One strength per layer (``True``) or one for all.
            width: Optional width factors to search as well (see ``SearchSpace``).
            kernel_size: Optional largest kernel sizes to search as well.
            relative_strength: How to read ``strength`` (see ``SearchSpace``):
                ``"gradient"`` (default), ``"loss"`` (``True``) or ``False``
                (absolute).
            kernel: The kernel penalties chosen from per layer, e.g.
                ``("structured_sparsity", "reweighted_group_sparsity")``, or
                ``("structured_sparsity", "kernel_extent")`` to empty the outer
                rings of the convolution kernels as well (Dense layers get
                ``structured_sparsity`` from it).
            gamma: Optional penalties on the scales of the BatchNormalization
                layers after each layer, e.g. ``("none", "polarization", "slimming")``.
                With ``relative_strength`` every choice shares one meaningful range.
            coupled: Also search a coupled ``GroupLasso`` per residual stream (see
                ``SearchSpace``).
            schedule: Optional ``("constant", "growing")``: also search, per layer,
                whether its penalty grows over the epochs, and how fast (see
                ``SearchSpace``).
            growth: (min, max) of the growing schedule's factor per epoch.

        Returns:
            The ``SearchSpace``.

        Examples:
            >>> import regsearch
            >>> space = regsearch.SearchSpace.for_size("conv*")
            >>> space.kernel, space.per_layer
            (('structured_sparsity',), True)
        """
        return cls(
            layers,
            kernel=kernel,
            gamma=gamma,
            coupled=coupled,
            strength=strength or ((0.03, 1.0) if relative_strength else (3e-4, 3e-3)),
            per_layer=per_layer,
            width=width,
            kernel_size=kernel_size,
            relative_strength=relative_strength,
            schedule=schedule,
            growth=growth,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "kernel": list(self.kernel),
            "strength": list(self.strength) if self.strength else None,
            "gamma": None if self.gamma is None else list(self.gamma),
            "activity": None if self.activity is None else list(self.activity),
            "activity_strength": list(self.activity_strength) if self.activity_strength else None,
            "dropout": None if self.dropout is None else list(self.dropout),
            "noise": None if self.noise is None else list(self.noise),
            "top_k": None if self.top_k is None else list(self.top_k),
            "per_layer": self.per_layer,
            "width": None if self.width is None else list(self.width),
            "kernel_size": None if self.kernel_size is None else list(self.kernel_size),
            "coupled": self.coupled,
            "relative_strength": self.relative_strength,
            "schedule": None if self.schedule is None else list(self.schedule),
            "growth": list(self.growth),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SearchSpace:
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.get_config() == other.get_config()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"SearchSpace({args})"

    def matched_layers(self, model: keras.Model) -> list[keras.layers.Layer]:
        """The layers of ``model`` this space regularizes."""
        if self.layers is None:
            with_kernel = [layer for layer in model.layers if _kernel_rank(layer) is not None]
            if not with_kernel:
                raise ValueError(
                    "The model has no layer with a kernel to regularize; layers: "
                    f"{[layer.name for layer in model.layers]}."
                )
            return with_kernel
        names = match_layers(model, self.layers, argument="layers")
        return [model.get_layer(name) for name in names]

    def plan(self, hp: keras_tuner.HyperParameters, model: keras.Model) -> dict[str, Any]:
        """Declare this space's hyperparameters on ``hp``; return ``regsearch.apply`` kwargs."""
        layers = self.matched_layers(model)
        outputs = output_layers(model)
        plan: dict[str, dict[str, Any]] = {key: {} for key in _PLANNED}
        normalizations = _normalizations(model) if self.gamma is not None else {}
        groups = [[layer] for layer in layers] if self.per_layer else [layers]
        for group in groups:
            prefix = f"{group[0].name}_" if self.per_layer else ""
            hidden = [layer for layer in group if layer.name not in outputs]
            self._plan_regularizers(hp, group, prefix, plan)
            self._plan_gamma(hp, group, prefix, plan, normalizations)
            self._plan_schedule(hp, group, prefix, plan, normalizations)
            self._plan_inserted(hp, hidden, prefix, plan)
            self._plan_kernel_sizes(hp, group, prefix, plan)
        self._plan_widths(hp, self.width_groups(model), plan)
        top_k = None if self.top_k is None else hp.Choice("top_k", list(self.top_k))
        cross_layer = self._plan_coupled(hp, model, layers) if self.coupled else []
        return {
            **{key: value or None for key, value in plan.items()},
            "top_k": top_k,
            "cross_layer": cross_layer or None,
        }

    def _plan_coupled(
        self, hp: keras_tuner.HyperParameters, model: keras.Model, layers: list[keras.layers.Layer]
    ) -> list[CrossLayer]:
        """A coupled ``GroupLasso`` choice per group of several layers with kernels."""
        specs = []
        for spec in coupled_penalties(model, "group_lasso", layers=[x.name for x in layers]):
            penalty = hp_regularizer(
                hp, spec.name, choices=(NONE, "group_lasso"), strength=self.strength
            )
            if penalty is not None:
                specs.append(CrossLayer(spec.layer_patterns, penalty, flatten=True, name=spec.name))
        return specs

    def width_groups(self, model: keras.Model) -> list[ChannelGroup]:
        """The coupled channel groups whose width this space searches.

        A group is searched when one of its producers is a matched layer and
        nothing fixes its width (see ``regsearch.trimming.ChannelGroup``).
        """
        if self.width is None:
            return []
        matched = {layer.name for layer in self.matched_layers(model)}
        return [
            group
            for group in channel_groups(model)
            if not group.blocked and matched.intersection(group.producers)
        ]

    def uniform_width(self, model: keras.Model, factor: float) -> dict[str, float]:
        """Hyperparameter values that set every searched width of ``model`` to ``factor``.

        For a warm start, e.g. ``ParetoSearch(initial_trials=[space.uniform_width(model,
        0.5)])``: a trial at half the width of every group, as a pruning user would try.

        Examples:
            >>> import keras, regsearch
            >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="a"),
            ...                           keras.layers.Dense(2, name="b")])
            >>> space = regsearch.SearchSpace("a", width=(1.0, 0.5), per_layer=True)
            >>> space.uniform_width(model, 0.5)
            {'a_width': 0.5}
        """
        if self.width is None or factor not in self.width:
            raise ValueError(
                f"Argument `factor` must be one of the space's widths {self.width}; "
                f"received {factor!r}."
            )
        groups = self.width_groups(model)
        if not self.per_layer:
            return {"width": factor} if groups else {}
        return {f"{group.name}_width": factor for group in groups}

    def _plan_regularizers(
        self,
        hp: keras_tuner.HyperParameters,
        group: list[keras.layers.Layer],
        prefix: str,
        plan: dict[str, dict[str, Any]],
    ) -> None:
        choices = self.kernel
        if self.per_layer and (_kernel_rank(group[0]) or 0) < 3:
            choices = tuple(c for c in choices if c not in _SPATIAL_ONLY) or (NONE,)
        regularizer = hp_regularizer(hp, f"{prefix}kernel", choices=choices, strength=self.strength)
        if regularizer is not None:
            chosen = hp.get(f"{prefix}kernel")
            for layer in group:
                if chosen not in _SPATIAL_ONLY or (_kernel_rank(layer) or 0) >= 3:
                    plan["kernel"][layer.name] = regularizer
        if self.activity is not None:
            act = hp_regularizer(
                hp, f"{prefix}activity", choices=self.activity, strength=self.activity_strength
            )
            if act is not None:
                plan["activity"].update({layer.name: act for layer in group})

    def _plan_gamma(
        self,
        hp: keras_tuner.HyperParameters,
        group: list[keras.layers.Layer],
        prefix: str,
        plan: dict[str, dict[str, Any]],
        normalizations: dict[str, list[str]],
    ) -> None:
        """Declare the scale penalty of the BatchNormalization layers after ``group``."""
        followers = _followers(group, normalizations)
        if self.gamma is None or not followers:
            return
        penalty = hp_regularizer(hp, f"{prefix}gamma", choices=self.gamma, strength=self.strength)
        if penalty is not None:
            plan["gamma"].update(dict.fromkeys(followers, penalty))

    def _plan_schedule(
        self,
        hp: keras_tuner.HyperParameters,
        group: list[keras.layers.Layer],
        prefix: str,
        plan: dict[str, dict[str, Any]],
        normalizations: dict[str, list[str]],
    ) -> None:
        """Declare how the penalties of ``group`` evolve; wrap the growing ones."""
        if self.schedule is None:
            return
        name = f"{prefix}schedule"
        chosen = hp.Choice(name, list(self.schedule), default=self.schedule[0])
        if GROWING not in self.schedule:
            return
        with hp.conditional_scope(name, [GROWING]):
            rate = hp.Float(f"{prefix}growth", *self.growth, sampling="log")
        if chosen != GROWING:
            return
        targets = [("kernel", layer.name) for layer in group]
        targets += [("gamma", bn) for bn in _followers(group, normalizations)]
        wrapped: dict[int, regularizers.Growing] = {}
        for argument, layer_name in targets:
            penalty = plan[argument].get(layer_name)
            if penalty is not None:
                if id(penalty) not in wrapped:  # one schedule per shared penalty
                    wrapped[id(penalty)] = regularizers.Growing(penalty, growth=rate)
                plan[argument][layer_name] = wrapped[id(penalty)]

    def _plan_inserted(
        self,
        hp: keras_tuner.HyperParameters,
        hidden: list[keras.layers.Layer],
        prefix: str,
        plan: dict[str, dict[str, Any]],
    ) -> None:
        for key, values in (("dropout", self.dropout), ("noise", self.noise)):
            if values is not None and hidden:
                value = hp.Float(f"{prefix}{key}", *values)
                if value > 0:
                    plan[key].update({layer.name: value for layer in hidden})

    def _plan_kernel_sizes(
        self,
        hp: keras_tuner.HyperParameters,
        group: list[keras.layers.Layer],
        prefix: str,
        plan: dict[str, dict[str, Any]],
    ) -> None:
        """Declare the largest kernel size of the convolutions among ``group``."""
        convolutions = [layer for layer in group if has_kernel_size(layer)]
        if self.kernel_size is None or not convolutions:
            return
        # The default (what keras-tuner's first builds use) resizes least.
        value = hp.Choice(
            f"{prefix}kernel_size", list(self.kernel_size), default=max(self.kernel_size)
        )
        plan["kernel_size"].update({layer.name: value for layer in convolutions})

    def _plan_widths(
        self,
        hp: keras_tuner.HyperParameters,
        groups: list[ChannelGroup],
        plan: dict[str, dict[str, Any]],
    ) -> None:
        """Declare one width per coupled group (``per_layer``) or one for all groups."""
        if self.width is None or not groups:
            return
        shared = None
        for group in groups:
            if self.per_layer or shared is None:
                name = f"{group.name}_width" if self.per_layer else "width"
                shared = hp.Choice(name, list(self.width), default=max(self.width))
            plan["width"].update({producer: shared for producer in group.producers})
