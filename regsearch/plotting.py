"""Plots: the Pareto front of a search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from regsearch.search import hypervolume_history, metric_column, pareto_front, results

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
    ax: Axes | None = None,
) -> Figure:
    """Scatter every finished trial on two objectives and highlight the Pareto front.

    Args:
        tuner: The tuner of a regsearch search.
        objectives: (x, y) metric names, as for ``regsearch.pareto_front``.
        chosen: A trial id to mark (for example the model you ship).
        ax: A matplotlib Axes to draw on; a new figure when ``None``.

    Returns:
        The matplotlib ``Figure``.

    Examples:
        >>> fig = regsearch.plot_pareto(tuner)  # doctest: +SKIP
        >>> fig.savefig("pareto.png")  # doctest: +SKIP
    """
    if len(objectives) != 2:
        raise ValueError(
            f"Argument `objectives` must name exactly two metrics to plot; received {objectives!r}."
        )
    front = pareto_front(tuner, objectives)
    table = results(tuner)
    finished = table[table["status"] == "COMPLETED"]
    keys = [metric_column(name, finished.to_dict("records")) for name in objectives]
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.5))
    else:
        fig = ax.figure
    ax.scatter(finished.get(keys[0], []), finished.get(keys[1], []), color="0.6", label="trials")
    front_x, front_y = front.get(keys[0], []), front.get(keys[1], [])
    ax.plot(front_x, front_y, "o-", color="tab:red", label="Pareto front")
    for trial_id, x, y in zip(front["trial_id"], front_x, front_y):
        ax.annotate(str(trial_id), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if chosen is not None:
        picked = finished[finished["trial_id"] == chosen]
        if picked.empty:
            raise ValueError(f"Argument `chosen`: no finished trial {chosen!r}.")
        ax.scatter(
            picked[keys[0]],
            picked[keys[1]],
            marker="*",
            s=250,
            color="tab:blue",
            label=f"chosen ({chosen})",
            zorder=3,
        )
    ax.set_xlabel(keys[0])
    ax.set_ylabel(keys[1])
    ax.set_title("regsearch: validation metric vs trimmed size")
    ax.legend()
    fig.tight_layout()
    return fig


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
