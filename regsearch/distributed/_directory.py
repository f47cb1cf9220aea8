"""Open a saved regsearch search (local or distributed) from its directory alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras_tuner

from regsearch._validation import did_you_mean
from regsearch.search import SCORE

_ORACLE_FILE = "oracle.json"


class SavedSearch(keras_tuner.Tuner):
    """A tuner that reads a saved search; it runs no trial.

    Built without the search's hypermodel, from the files keras-tuner writes
    (``oracle.json`` and every ``trial_*/trial.json``), exactly as a tuner
    reloads its project with ``overwrite=False``. ``regsearch.results``,
    ``regsearch.pareto_front`` and ``regsearch.plot_pareto`` work on it;
    ``regsearch.best_model`` needs the search's own tuner.
    """

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "This tuner only reads a saved search; build the search's own tuner "
            "(with overwrite=False) to run more trials."
        )


def _projects(directory: Path) -> list[Path]:
    if (directory / _ORACLE_FILE).is_file():
        return [directory]
    return sorted(p.parent for p in directory.glob(f"*/{_ORACLE_FILE}"))


def _project_dir(directory: str | os.PathLike[str], project_name: str | None) -> Path:
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Argument `directory`: {str(directory)!r} is not a directory. Pass the "
            f"`directory` of the search's tuner (or its project folder inside it)."
        )
    if project_name is not None:
        if (root / project_name / _ORACLE_FILE).is_file():
            return root / project_name
        names = [p.name for p in _projects(root) if p != root]
        raise ValueError(
            f"Argument `project_name`: {str(directory)!r} has no search {project_name!r}; "
            f"searches there: {names}.{did_you_mean(project_name, names)}"
        )
    found = _projects(root)
    if not found:
        raise ValueError(
            f"{str(directory)!r} is not a keras-tuner search directory: neither it nor a "
            f"folder in it has an {_ORACLE_FILE}. Pass the `directory` given to the tuner."
        )
    if len(found) > 1:
        raise ValueError(
            f"{str(directory)!r} holds several searches: {[p.name for p in found]}; pick one "
            f"with `project_name` (`--project` on the command line)."
        )
    return found[0]


def open_search(
    directory: str | os.PathLike[str], *, project_name: str | None = None
) -> keras_tuner.Tuner:
    """Open the search saved in ``directory`` to read its trials.

    Works on the directory of a local search and on the chief's directory of a
    distributed one, without the search's code or data.

    Args:
        directory: The tuner's ``directory``, or the project folder inside it.
        project_name: The tuner's ``project_name``; needed only when
            ``directory`` holds several searches.

    Returns:
        A read-only ``keras_tuner.Tuner`` for ``regsearch.results``,
        ``regsearch.pareto_front`` and ``regsearch.plot_pareto``.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        ValueError: it holds no keras-tuner search, no trial yet, or a search
            that is not a regsearch search (its trials report no ``score``).

    Examples:
        >>> tuner = regsearch.distributed.open_search("runs", project_name="conv")  # doctest: +SKIP
        >>> regsearch.results(tuner)  # doctest: +SKIP
    """
    project = _project_dir(directory, project_name)
    if not any(project.glob("trial_*/trial.json")):
        raise ValueError(
            f"The search in {str(project)!r} is empty: it has not started any trial yet."
        )
    oracle = keras_tuner.Oracle(objective=keras_tuner.Objective(SCORE, "min"))
    try:
        tuner = SavedSearch(oracle, directory=str(project.parent), project_name=project.name)
        tuner.oracle = oracle  # never the chief's client, whatever KERASTUNER_* says
        if not oracle.trials:
            oracle.reload()
    except (RuntimeError, KeyError, ValueError) as error:
        raise ValueError(f"Cannot read the search in {str(project)!r}: {error}") from error
    trials = list(oracle.trials.values())
    completed = [t for t in trials if t.status == "COMPLETED"]
    if completed and not any(t.metrics.exists(SCORE) for t in completed):
        logged = sorted({name for t in completed for name in t.metrics.metrics})
        raise ValueError(
            f"{str(project)!r} is a keras-tuner search but not a regsearch search: its trials "
            f"report no {SCORE!r} (the objective of regsearch.Objective); they report "
            f"{logged}."
        )
    return tuner
