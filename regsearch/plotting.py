"""Plots: the Pareto front of a search. Needs matplotlib (``pip install regsearch[plot]``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _pyplot() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg",) and not _interactive():
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # optional dependency
        raise ImportError("Plotting needs matplotlib: pip install 'regsearch[plot]'.") from error
    return plt


def _interactive() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:
        return False


def _as_rows(table: Any) -> list[dict[str, Any]]:
    if hasattr(table, "to_dict"):
        return table.to_dict("records")
    return list(table)


def plot_pareto(
    tuner: Any,
    objectives: Sequence[str] = ("val_loss", "trimmed_params"),
    *,
    chosen: str | None = None,
    ax: Any = None,
) -> Any:
    """Scatter every finished trial on two objectives and highlight the Pareto front.

    Args:
        tuner: The tuner of a regsearch search.
        objectives: (x, y) metric names, as for ``regsearch.pareto_front``.
        chosen: A trial id to mark (for example the model you ship).
        ax: A matplotlib Axes to draw on; a new figure when ``None``.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> fig = regsearch.plot_pareto(tuner)  # doctest: +SKIP
        >>> fig.savefig("pareto.png")  # doctest: +SKIP
    """
    from regsearch.search import pareto_front, results
    from regsearch.search._results import metric_column

    if len(objectives) != 2:
        raise ValueError(
            f"Argument `objectives` must name exactly two metrics to plot; received {objectives!r}."
        )
    front = _as_rows(pareto_front(tuner, objectives))
    rows = [row for row in _as_rows(results(tuner)) if row["status"] == "COMPLETED"]
    keys = [metric_column(name, rows) for name in objectives]
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.5))
    else:
        fig = ax.figure
    ax.scatter(
        [row.get(keys[0]) for row in rows],
        [row.get(keys[1]) for row in rows],
        color="0.6",
        label="trials",
    )
    front_x = [row.get(keys[0]) for row in front]
    front_y = [row.get(keys[1]) for row in front]
    ax.plot(front_x, front_y, "o-", color="tab:red", label="Pareto front")
    for row in front:
        ax.annotate(
            str(row["trial_id"]),
            (row.get(keys[0]), row.get(keys[1])),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    if chosen is not None:
        picked = [row for row in rows if row["trial_id"] == chosen]
        if not picked:
            raise ValueError(f"Argument `chosen`: no finished trial {chosen!r}.")
        ax.scatter(
            [picked[0].get(keys[0])],
            [picked[0].get(keys[1])],
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
    tuner: Any,
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

    Example:
        >>> fig = regsearch.plot_hypervolume(tuner)  # doctest: +SKIP
    """
    from regsearch.search._hypervolume import hypervolume_history

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
