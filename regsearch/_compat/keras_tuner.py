"""Private keras-tuner engine names: the oracle's retry queue and files, the build step,
Hyperband's brackets, their schedule and its checkpoint load, a project directory's saved
trials."""

from __future__ import annotations

import glob
import json
import os
import warnings
from typing import Any

import keras
import keras_tuner
from keras_tuner.errors import FatalTypeError


def retry_queue(oracle: keras_tuner.Oracle) -> list[str]:
    """The oracle's queue of trial ids to run again (the list itself, to edit in place).

    ``Oracle.create_trial`` hands these out first; keras-tuner has no public way
    to queue a trial or to read the queue (the distributed chief does both).
    """
    queue: list[str] = oracle._retry_queue
    return queue


def oracle_file(oracle: keras_tuner.Oracle) -> str:
    """The path of the ``oracle.json`` the oracle saves its state to.

    Only the private ``_get_oracle_fname`` knows it (and the private project
    directory it lives in).
    """
    return str(oracle._get_oracle_fname())


class LightBuild:
    """A ``keras_tuner.Tuner`` mixin: build trial models without two forced collections.

    ``Tuner._try_build`` (private, no public hook) runs ``keras.backend.clear_session()``
    (which calls ``gc.collect()``) and ``gc.collect()`` again before every build: the
    initial-space build, every trial and the final ``load_model``. In a process
    holding TensorFlow each collection takes ~0.4 s, several seconds per ``fit``
    for small tabular models, so this override clears the Keras session without
    forcing a collection (Python's own collector still runs as usual). Put it
    before the tuner class in the bases.
    """

    def _try_build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        keras.backend.clear_session(free_memory=False)
        model = self._build_hypermodel(hp)  # type: ignore[attr-defined]
        if not isinstance(model, keras.Model):
            raise FatalTypeError(
                "Expected the model-building function, or HyperModel.build() to return "
                f"a valid Keras Model instance. Received: {model} of type {type(model)}."
            )
        return model


def hyperband_brackets(oracle: keras_tuner.oracles.HyperbandOracle) -> list[dict[str, Any]]:
    """The Hyperband oracle's open brackets (the list itself, to edit in place).

    Each is ``{"bracket_num": int, "rounds": [[{"past_id": ..., "id": ...}, ...], ...]}``:
    round ``r`` lists its trials and the trial of round ``r - 1`` each continues.
    ``HyperbandOracle.populate_space`` picks whom to promote inline (by ``score``)
    with no hook, so ``regsearch.ParetoHyperbandOracle`` edits the pick it made here.
    """
    brackets = getattr(oracle, "_brackets", None)
    if not isinstance(brackets, list):
        raise RuntimeError(
            f"keras-tuner {keras_tuner.__version__}'s HyperbandOracle has no `_brackets` list; "
            "regsearch.ParetoHyperbandOracle was checked against keras-tuner 1.4.8 "
            "(pyproject.toml pins keras-tuner>=1.4.8,<1.5)."
        )
    return brackets


class _BracketsDone(Exception):
    """Raised inside ``HyperbandOracle.populate_space``: the last bracket to run has started."""


class FirstBrackets:
    """A ``keras_tuner.oracles.HyperbandOracle`` mixin: run only the most exploratory brackets.

    keras-tuner starts its brackets from the most exploratory one (bracket
    ``total_brackets() - 1``: the most configurations, the fewest epochs) down to
    bracket 0 (every configuration trained ``max_epochs``), then starts the next
    iteration; the order and the decision to stop are inline in the private
    ``populate_space``, ``_increment_bracket_num`` and ``_get_num_brackets``. An
    oracle with this mixin sets ``brackets_per_iteration`` (``None``: all) before
    its first ``populate_space``: each iteration then runs only that many brackets,
    from the most exploratory one, and the search stops after the last iteration's
    last of them (``IDLE`` while its trials run, then ``STOPPED``), as keras-tuner
    does after bracket 0. Put it before the oracle class in the bases.
    """

    brackets_per_iteration: int | None = None

    def total_brackets(self) -> int:
        """The number of brackets keras-tuner's Hyperband runs per iteration."""
        return int(self._get_num_brackets())  # type: ignore[attr-defined]

    def _increment_bracket_num(self) -> None:
        per_iteration = self.brackets_per_iteration
        lowest = 0 if per_iteration is None else self.total_brackets() - per_iteration
        if lowest == 0:  # every bracket: keras-tuner's own schedule
            super()._increment_bracket_num()  # type: ignore[misc]
            return
        oracle: Any = self  # a HyperbandOracle
        if (
            oracle._current_bracket <= lowest
            and oracle._current_iteration + 1 >= oracle.hyperband_iterations
        ):
            raise _BracketsDone
        oracle._current_bracket -= 1
        if oracle._current_bracket < lowest:
            oracle._current_bracket = self.total_brackets() - 1
            oracle._current_iteration += 1

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = super().populate_space(trial_id)  # type: ignore[misc]
        except _BracketsDone:
            ongoing = self.ongoing_trials  # type: ignore[attr-defined]
            return {"status": "IDLE" if ongoing else "STOPPED"}
        return result


class ContinueFromWeights:
    """A ``keras_tuner.Hyperband`` mixin: a promoted trial starts from weights the tuner names.

    ``Hyperband._build_hypermodel`` (private, no public hook) loads a promoted
    trial's parent from the parent's best-epoch checkpoint. A tuner with this mixin
    defines ``continuation_weights(parent_trial_id) -> str | None``: a weights file
    to load instead (``None``: keras-tuner's checkpoint). The hypermodel must
    return built models (``RegSearchHyperModel`` does). Put it before
    ``keras_tuner.Hyperband`` in the bases.
    """

    def continuation_weights(self, trial_id: str) -> str | None:
        raise NotImplementedError

    def _build_hypermodel(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        parent = hp.values.get("tuner/trial_id")
        path = None if parent is None else self.continuation_weights(str(parent))
        if path is None:
            return super()._build_hypermodel(hp)  # type: ignore[misc]
        # keras_tuner.Tuner's build, without Hyperband's checkpoint load.
        model: keras.Model = keras_tuner.Tuner._build_hypermodel(self, hp)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            # The file carries the parent's optimizer slots; the new trial's start afresh.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(path)
        return model


def project_trials(
    project_dir: str,
) -> tuple[keras_tuner.HyperParameters, dict[str, keras_tuner.engine.trial.Trial]]:
    """The hyperparameter space and the trials saved in a keras-tuner project directory.

    Read only, from the files ``Oracle.reload`` reads (``oracle.json`` and
    ``trial_*/trial.json``, a layout keras-tuner does not publish); nothing is
    written.

    Raises:
        FileNotFoundError: when ``project_dir`` holds no ``oracle.json``.
    """
    oracle_json = os.path.join(project_dir, "oracle.json")
    if not os.path.isfile(oracle_json):
        raise FileNotFoundError(oracle_json)
    with open(oracle_json, encoding="utf-8") as file:
        state = json.load(file)
    space = keras_tuner.HyperParameters.from_config(state["hyperparameters"])
    trials = {}
    for fname in sorted(glob.glob(os.path.join(glob.escape(project_dir), "trial_*", "trial.json"))):
        trial = keras_tuner.engine.trial.Trial.load(fname)
        trials[trial.trial_id] = trial
    return space, trials
