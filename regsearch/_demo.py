"""``regsearch demo``: a real size-aware regularizer search on scikit-learn's digits.

A small Conv2D model with 5x5 kernels is searched over kernel regularizers and
strengths with keras-tuner's Bayesian optimization; every trial is scored by its
validation accuracy and by the size of the model once trimmed. The demo prints
progress, the results table, the Pareto front and the chosen model's trim report,
and writes ``results.csv``, ``pareto.png``, ``best.keras`` and ``report.txt``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path
from typing import Any

QUICK = {"trials": 3, "epochs": 3}
FULL = {"trials": 12, "epochs": 10}
OBJECTIVES = ("val_accuracy", "trimmed_params")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="regsearch-demo", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--trials", type=int, default=None, help=f"trials (default {FULL['trials']})"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help=f"epochs per trial (default {FULL['epochs']})"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: {QUICK['trials']} trials of {QUICK['epochs']} epochs (under 30 s)",
    )


def _digits(seed: int) -> tuple[Any, ...]:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    y = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=0.25, stratify=y_train, random_state=seed
    )
    return tuple(np.ascontiguousarray(a) for a in (x_train, y_train, x_val, y_val, x_test, y_test))


def demo_model():
    """The demo's Conv2D model for 8x8 digits: two 5x5 conv layers and a softmax head.

    Dead filters of ``conv2`` are removed together with their inputs to ``head``
    (through ``Flatten``) when the model is trimmed.
    """
    import keras

    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


class _Progress:
    """Prints one line per finished trial: trial i of n, its score, the best so far."""

    def __init__(self, tuner: Any, n_trials: int) -> None:
        self.tuner = tuner
        self.n_trials = n_trials
        self.best = math.inf
        self.started = time.perf_counter()

    def callback(self) -> Any:
        import keras

        progress = self

        class TrialProgress(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.trial_best: dict[str, float] | None = None

            def __deepcopy__(self, memo: dict[int, Any]) -> TrialProgress:
                return TrialProgress()  # keras-tuner copies callbacks for every trial

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                logs = logs or {}
                if "score" in logs and (
                    self.trial_best is None or logs["score"] < self.trial_best["score"]
                ):
                    self.trial_best = {k: float(v) for k, v in logs.items()}

            def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
                progress.report(self.trial_best)

        return TrialProgress()

    def report(self, best_epoch: dict[str, float] | None) -> None:
        done = sum(1 for t in self.tuner.oracle.trials.values() if t.status != "RUNNING") + 1
        (trial,) = self.tuner.oracle.ongoing_trials.values() or [None]
        values = trial.hyperparameters.values if trial is not None else {}
        choice = values.get("kernel", "?")
        strength = values.get(f"kernel_{choice}_strength")
        chosen = choice if strength is None else f"{choice}({strength:.2g})"
        if best_epoch is None:
            print(f"trial {done:>2} of {self.n_trials}: {chosen:<24} failed", flush=True)
            return
        self.best = min(self.best, best_epoch["score"])
        elapsed = time.perf_counter() - self.started
        accuracy = best_epoch.get("val_accuracy", math.nan)
        params = int(best_epoch["trimmed_params"])
        print(
            f"trial {done:>2} of {self.n_trials}: {chosen:<24} "
            f"score {best_epoch['score']:+.4f}  val_accuracy {accuracy:.3f}  "
            f"trimmed params {params:>6,}  |  best so far {self.best:+.4f}  ({elapsed:.0f} s)",
            flush=True,
        )


def _search(tuner: Any, progress: _Progress, x_train, y_train, x_val, y_val, epochs: int) -> None:
    tuner.search(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=64,
        verbose=0,
        callbacks=[progress.callback()],
    )


def run(
    out: str | Path = "regsearch-demo",
    *,
    trials: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    quick: bool = False,
) -> dict[str, Path]:
    """Run the demo search and write its results into ``out``.

    Args:
        out: The output folder (created; the search itself goes into ``out/search``).
        trials: Number of trials (default 12, or 3 with ``quick``).
        epochs: Epochs per trial (default 12, or 3 with ``quick``).
        seed: Seed for data splits, weights and the tuner.
        quick: A smoke test that finishes in well under 30 seconds.

    Returns:
        The paths written, by name.
    """
    import keras
    import keras_tuner
    from sklearn.exceptions import ConvergenceWarning

    import regsearch

    budget = QUICK if quick else FULL
    trials = budget["trials"] if trials is None else trials
    epochs = budget["epochs"] if epochs is None else epochs
    if trials < 1 or epochs < 1:
        raise ValueError(f"--trials and --epochs must be >= 1; received {trials} and {epochs}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_val, y_val, x_test, y_test = _digits(seed)

    hypermodel = regsearch.RegSearchHyperModel(
        demo_model(),
        regsearch.SearchSpace(
            "conv*",
            kernel=["none", "l1", "kernel_length", "group_lasso"],
            strength=(1e-4, 3e-2),
        ),
        compile={
            "optimizer": keras.optimizers.Adam(0.01),
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        trim_threshold=5e-3,
    )
    objective = regsearch.Objective("val_accuracy", size_weight=0.3)
    tuner = keras_tuner.BayesianOptimization(
        hypermodel,
        objective=objective,
        max_trials=trials,
        num_initial_points=min(4, trials),
        seed=seed,
        directory=str(out),
        project_name="search",
        overwrite=True,
    )
    print(
        f"regsearch demo: {trials} trials x {epochs} epochs on digits "
        f"({len(x_train)} train / {len(x_val)} validation / {len(x_test)} test images)\n"
        f"objective: {objective}\n",
        flush=True,
    )
    progress = _Progress(tuner, trials)
    with warnings.catch_warnings():
        # The Gaussian process of a short search often sits at a length-scale bound.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        _search(tuner, progress, x_train, y_train, x_val, y_val, epochs)

    table = regsearch.results(tuner)
    front = regsearch.pareto_front(tuner, OBJECTIVES)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    trained = regsearch.best_model(tuner, trimmed=False)
    trimmed, report = regsearch.trim(trained, hypermodel.trim_threshold, sample=x_test[:256])
    trimmed.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    trained_accuracy = trained.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    trimmed_accuracy = trimmed.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]

    columns = [
        c
        for c in (
            "trial_id",
            "status",
            "kernel",
            "score",
            "val_accuracy",
            "trimmed_params",
            "size_ratio",
        )
        if c in table.columns
    ]
    summary = (
        f"chosen: trial {best_trial.trial_id} {best_trial.hyperparameters.values}\n"
        f"test accuracy: trained {trained_accuracy:.4f}, trimmed {trimmed_accuracy:.4f}\n"
        f"parameters: {report.params_before:,} -> {report.params_after:,}; "
        f"MACs: {report.macs_before:,} -> {report.macs_after:,}\n"
    )
    print("\nResults (best first):")
    print(table.sort_values("score")[columns].to_string(index=False))
    print("\nPareto front (val_accuracy vs trimmed_params):")
    print(front[[c for c in columns if c in front.columns]].to_string(index=False))
    print("\nTrim report of the chosen model:")
    print(report)
    print("\n" + summary)

    paths = {
        "results": out / "results.csv",
        "pareto": out / "pareto.png",
        "model": out / "best.keras",
        "report": out / "report.txt",
    }
    table.to_csv(paths["results"], index=False)
    figure = regsearch.plot_pareto(tuner, OBJECTIVES, chosen=best_trial.trial_id)
    figure.savefig(paths["pareto"], dpi=120)
    trimmed.save(paths["model"])
    paths["report"].write_text(
        "regsearch demo\n\n"
        + summary
        + "\nTrim report\n"
        + str(report)
        + "\n\nPareto front\n"
        + front.to_string(index=False)
        + "\n"
    )
    print("Wrote:")
    for path in paths.values():
        print(f"  {path}")
    print(
        f"keras-tuner directory: {out / 'search'}; read it again with\n"
        f"  regsearch report {out} --project search --objectives {' '.join(OBJECTIVES)}"
    )
    return paths


def main(args: argparse.Namespace) -> int:
    run(args.out, trials=args.trials, epochs=args.epochs, seed=args.seed, quick=args.quick)
    return 0
