"""Plots: the Pareto front of a search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from regsearch.search import (
    SIZE_PARTS,
    hypervolume_history,
    infer_direction,
    metric_column,
    pareto_front,
    results,
)

if TYPE_CHECKING:
    import keras_tuner
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and not _interactive():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _interactive() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:
        return False


def plot_pareto(
    tuner: keras_tuner.Tuner,
    objectives: Sequence[str] = ("val_loss", "trimmed_params"),
    *,
    chosen: str | None = None,
    base: Mapping[str, float] | None = None,
    tolerance: float | None = None,
    relative: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Scatter every finished trial, size against metric, and highlight the Pareto front.

    As in compression papers, the size objective (``trimmed_params``,
    ``trimmed_macs``, ...) goes on the x axis, on a log scale when it spans a decade
    or more, and the metric on the y axis, whichever order ``objectives`` gives.

    Args:
        tuner: The tuner of a regsearch search.
        objectives: The two metric names, as for ``regsearch.pareto_front``.
        chosen: A trial id to mark (for example the model you ship).
        base: The model you started from, ``{objective: value}`` for both
            objectives (e.g. ``{"val_accuracy": 0.98, "trimmed_macs": 763520}``);
            marked with a cross.
        tolerance: With ``base``: shade the band of metric values within
            ``tolerance`` of the base's, the models ``regsearch.select(...,
            reference=...)`` chooses from.
        relative: Read ``tolerance`` as a fraction of the base's metric.
        ax: A matplotlib Axes to draw on; a new figure when ``None``.

    Returns:
        The matplotlib ``Figure``.

    Examples:
        >>> fig = regsearch.plot_pareto(  # doctest: +SKIP
        ...     tuner, ("val_accuracy", "trimmed_macs"),
        ...     base={"val_accuracy": 0.98, "trimmed_macs": 763520}, tolerance=0.01)
        >>> fig.savefig("pareto.png")  # doctest: +SKIP
    """
    if len(objectives) != 2:
        raise ValueError(
            f"Argument `objectives` must name exactly two metrics to plot; received {objectives!r}."
        )
    front = pareto_front(tuner, objectives)
    table = results(tuner)
    finished = table[table["status"] == "COMPLETED"]
    size, metric = _size_first([metric_column(n, finished.to_dict("records")) for n in objectives])
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.5))
    else:
        fig = ax.figure
    over = finished["feasible"].eq(False) if "feasible" in finished else None
    within = finished if over is None else finished[~over]
    ax.scatter(within.get(size, []), within.get(metric, []), color="0.6", label="trials")
    if over is not None and over.any():
        outside = finished[over]
        ax.scatter(
            outside[size], outside[metric], marker="x", color="0.6", label="over budget"
        )  # fmt: skip
    ax.plot(front.get(size, []), front.get(metric, []), "o-", color="tab:red", label="Pareto front")
    for trial_id, x, y in zip(front["trial_id"], front.get(size, []), front.get(metric, [])):
        ax.annotate(str(trial_id), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if chosen is not None:
        _mark_chosen(ax, finished, chosen, size, metric)
    _mark_base(ax, objectives, base, tolerance, relative)
    sizes = [float(v) for v in finished.get(size, []) if float(v) > 0]
    if sizes and max(sizes) >= 10 * min(sizes):
        ax.set_xscale("log")
    ax.set_xlabel(size)
    ax.set_ylabel(metric)
    ax.set_title("regsearch: validation metric vs trimmed size")
    ax.legend()
    fig.tight_layout()
    return fig


def _size_first(keys: list[str]) -> tuple[str, str]:
    """``(size key, metric key)``: the size objective on x, whatever the order given."""
    is_size = [key.removeprefix("val_") in SIZE_PARTS for key in keys]
    return (keys[1], keys[0]) if is_size == [False, True] else (keys[0], keys[1])


def _mark_chosen(ax: Axes, finished: Any, chosen: str, size: str, metric: str) -> None:
    picked = finished[finished["trial_id"] == chosen]
    if picked.empty:
        raise ValueError(f"Argument `chosen`: no finished trial {chosen!r}.")
    ax.scatter(
        picked[size], picked[metric], marker="*", s=250, color="tab:blue",
        label=f"chosen ({chosen})", zorder=3,
    )  # fmt: skip


def _mark_base(
    ax: Axes,
    objectives: Sequence[str],
    base: Mapping[str, float] | None,
    tolerance: float | None,
    relative: bool,
) -> None:
    """The base model as a cross, and the band of metrics within ``tolerance`` of it."""
    if base is None:
        if tolerance is not None:
            raise ValueError(
                "Argument `tolerance` shades the band around the base model's metric: "
                "pass `base` too, e.g. base={'val_accuracy': 0.98, 'trimmed_macs': 763520}."
            )
        return
    missing = [name for name in objectives if name not in base]
    if missing:
        raise ValueError(
            f"Argument `base` must give a value for each of {list(objectives)}; it lacks "
            f"{missing}: received {dict(base)!r}."
        )
    size_name, metric_name = _size_first(list(objectives))
    x, y = float(base[size_name]), float(base[metric_name])
    ax.scatter([x], [y], marker="X", s=120, color="black", label="base", zorder=3)
    if tolerance is not None:
        width = tolerance * abs(y) if relative else tolerance
        maximized = infer_direction(metric_name) == "max"
        low, high = (y - width, y) if maximized else (y, y + width)
        ax.axhspan(low, high, color="tab:green", alpha=0.15, label="within tolerance")


def plot_hypervolume(
    tuner: keras_tuner.Tuner,
    objectives: Sequence[str] = ("val_accuracy", "trimmed_macs"),
    reference: Sequence[float] | None = None,
    *,
    ax: Any = None,
) -> Any:
    """Plot the hypervolume of the front after each finished trial, in the order they ended.

    Args:
        tuner: The tuner of a regsearch search.
        objectives: Two or more metric names, as for ``regsearch.hypervolume``.
        reference: The reference point, as for ``regsearch.hypervolume``.
        ax: A matplotlib Axes to draw on; a new figure when ``None``.

    Returns:
        The matplotlib ``Figure``.

    Examples:
        >>> fig = regsearch.plot_hypervolume(tuner)  # doctest: +SKIP
    """
    history = hypervolume_history(tuner, objectives, reference)
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    ax.step(range(1, len(history) + 1), [volume for _, volume in history], "o-", where="post")
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume")
    ax.set_title(f"regsearch: hypervolume of the front ({', '.join(objectives)})")
    fig.tight_layout()
    return fig
