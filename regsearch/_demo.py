"""``regsearch demo``: a real size-aware regularizer search on scikit-learn's digits.

A small Conv2D model with 5x5 kernels is searched with ``regsearch.ParetoSearch``
(Optuna's multi-objective TPE inside keras-tuner) over ``SearchSpace.for_size``: a
``StructuredSparsity`` strength per conv layer; each trial then fine-tunes without
the penalty. Every trial is scored by its validation accuracy and by the MACs of the
model once trimmed (``tradeoff="product"``). The model chosen is the smallest within
one point of the best validation accuracy (``regsearch.select``); its test accuracy
and MACs are printed next to the base model's, trained alone for as many epochs. The
demo prints progress, the results table, the Pareto front and the chosen model's
trim report, and writes ``results.csv``, ``pareto.png``, ``best.keras`` and
``report.txt``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import keras
    import keras_tuner
    import pandas as pd

    import regsearch

QUICK = {"trials": 3, "epochs": 3, "finetune_epochs": 1}
FULL = {"trials": 12, "epochs": 10, "finetune_epochs": 5}
BATCH_SIZE = 64
TRIM_THRESHOLD = 1e-3
# The chosen model: the smallest within one point of validation accuracy of the best trial.
TOLERANCE = 0.01
OBJECTIVES = ("val_accuracy", "trimmed_macs")


def demo_objective() -> regsearch.Objective:
    """The demo's ``regsearch.Objective``: validation accuracy against trimmed MACs."""
    import regsearch

    return regsearch.Objective("val_accuracy", size_weight=0.01, size="macs", tradeoff="product")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="regsearch-demo", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--trials", type=int, default=None, help=f"trials (default {FULL['trials']})"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"penalized epochs per trial (default {FULL['epochs']}), then "
        f"{FULL['finetune_epochs']} epochs of fine-tuning",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test: {QUICK['trials']} trials of {QUICK['epochs']} + "
        f"{QUICK['finetune_epochs']} epochs (about 30 s)",
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

    def __init__(self, tuner: keras_tuner.Tuner, n_trials: int) -> None:
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
        chosen = _describe(trial.hyperparameters.values if trial is not None else {})
        if best_epoch is None:
            print(f"trial {done:>2} of {self.n_trials}: {chosen:<24} failed", flush=True)
            return
        self.best = min(self.best, best_epoch["score"])
        elapsed = time.perf_counter() - self.started
        accuracy = best_epoch.get("val_accuracy", math.nan)
        macs = int(best_epoch["trimmed_macs"])
        print(
            f"trial {done:>2} of {self.n_trials}: {chosen:<24} "
            f"score {best_epoch['score']:+.4f}  val_accuracy {accuracy:.3f}  "
            f"trimmed MACs {macs:>7,}  |  best so far {self.best:+.4f}  ({elapsed:.0f} s)",
            flush=True,
        )


# Searched per conv layer: its width (16, 8, 4 or 2 filters) and its largest kernel size.
WIDTHS = (1.0, 0.5, 0.25, 0.125)
KERNEL_SIZES = (1, 3, 5)


def demo_space() -> regsearch.SearchSpace:
    """The demo's search space: ``for_size`` over ``conv1`` and ``conv2``, widths and
    kernel sizes searched too (on digits the two together find models several
    times smaller than either alone; see ``benchmarks/bench_vs_architecture_search.py``)."""
    import regsearch

    return regsearch.SearchSpace.for_size("conv*", width=WIDTHS, kernel_size=KERNEL_SIZES)


def demo_compile() -> dict[str, Any]:
    """The compile arguments of the base model and of every trial."""
    import keras

    return {
        "optimizer": keras.optimizers.SGD(0.1, momentum=0.9),
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    }


def demo_tuner(
    directory: str | Path,
    *,
    trials: int,
    seed: int,
    finetune_epochs: int = FULL["finetune_epochs"],
    project_name: str = "search",
    pareto: bool = True,
    space: regsearch.SearchSpace | None = None,
) -> keras_tuner.Tuner:
    """The demo's search over the demo model's regularizers.

    Each trial trains with a ``StructuredSparsity`` penalty of its own strength on
    each conv layer (emptied groups held at exactly zero), then ``finetune_epochs``
    more without the penalty, the zeros kept. The tuner is a ``ParetoSearch`` (Optuna's
    multi-objective TPE over validation accuracy and MACs) whose first trial is the
    model as given (no cut, the weakest penalty), so the front always holds a model as
    accurate as the base; or with ``pareto=False``
    keras-tuner's ``BayesianOptimization`` on the objective's score (what the
    benchmark against architecture search compares like with like). ``space``
    replaces the demo's search space.
    """
    import keras_tuner

    import regsearch

    hypermodel = regsearch.RegSearchHyperModel(
        demo_model(),
        space or demo_space(),
        compile=demo_compile(),
        trim_threshold=TRIM_THRESHOLD,
        finetune_epochs=finetune_epochs,
    )
    if pareto:
        return regsearch.ParetoSearch(
            hypermodel,
            objective=demo_objective(),
            max_trials=trials,
            seed=seed,
            start_from_defaults=True,
            directory=str(directory),
            project_name=project_name,
            overwrite=True,
        )
    return keras_tuner.BayesianOptimization(
        hypermodel,
        objective=demo_objective(),
        max_trials=trials,
        num_initial_points=min(4, trials),
        seed=seed,
        directory=str(directory),
        project_name=project_name,
        overwrite=True,
    )


class BaseModel(NamedTuple):
    """The base model trained alone: its test accuracy, MACs and parameters."""

    accuracy: float
    macs: int
    params: int
    model: keras.Model


def train_base(data: tuple[Any, ...], *, epochs: int, seed: int) -> BaseModel:
    """Train the base model alone (no regularizer); its test accuracy and size."""
    import keras

    import regsearch

    x_train, y_train, _, _, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    model = demo_model()
    model.compile(**demo_compile())
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
    accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    return BaseModel(
        float(accuracy),
        regsearch.trimmed_size(model, 0.0).macs_before,
        model.count_params(),
        model,
    )


def _budget(trials: int | None, epochs: int | None, quick: bool) -> tuple[int, int, int]:
    budget = QUICK if quick else FULL
    trials = budget["trials"] if trials is None else trials
    epochs = budget["epochs"] if epochs is None else epochs
    if trials < 1 or epochs < 1:
        raise ValueError(f"--trials and --epochs must be >= 1; received {trials} and {epochs}.")
    return trials, epochs, budget["finetune_epochs"]


def _describe(values: dict[str, Any]) -> str:
    """``conv1 1.2e-03 x0.5 k3, conv2 3.4e-04``: each searched layer's regularizer
    strength, and its width factor and largest kernel size when they are searched."""
    layers: dict[str, list[str]] = {}
    for name, value in values.items():
        layer, _, rest = name.partition("_kernel_")
        if rest.endswith("_strength"):
            layers.setdefault(layer, []).insert(0, f"{value:.1e}")
        elif name.endswith("_width"):
            layers.setdefault(name.removesuffix("_width"), []).append(f"x{value:g}")
        elif name.endswith("_kernel_size"):
            layers.setdefault(name.removesuffix("_kernel_size"), []).append(f"k{value}")
    return ", ".join(f"{layer} {' '.join(parts)}" for layer, parts in layers.items()) or "?"


def _search(tuner: keras_tuner.Tuner, data: tuple[Any, ...], epochs: int, trials: int) -> None:
    from sklearn.exceptions import ConvergenceWarning

    x_train, y_train, x_val, y_val = data[:4]
    progress = _Progress(tuner, trials)
    with warnings.catch_warnings():
        # The Gaussian process of a short search often sits at a length-scale bound.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        tuner.search(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=BATCH_SIZE,
            verbose=0,
            callbacks=[progress.callback()],
        )


def _choose(tuner: keras_tuner.Tuner, data: tuple[Any, ...]) -> dict[str, Any]:
    """The tolerance rule's trial, trimmed, with its test accuracy and trim report."""
    import regsearch

    x_test, y_test = data[4:]
    trial_id = regsearch.select(tuner, TOLERANCE, metric="val_accuracy", size="macs")
    trained = regsearch.best_model(tuner, trimmed=False, trial_id=trial_id)
    threshold = tuner.hypermodel.trim_threshold
    trimmed, report = regsearch.trim(trained, threshold, sample=x_test[:256])
    trimmed.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    accuracy = trimmed.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    return {
        "trial": tuner.oracle.trials[trial_id],
        "model": trimmed,
        "report": report,
        "accuracy": float(accuracy),
    }


def _summary(chosen: dict[str, Any], base: BaseModel) -> str:
    base_accuracy, base_macs = base.accuracy, base.macs
    report = chosen["report"]
    trial = chosen["trial"]
    return (
        f"chosen: trial {trial.trial_id}, the smallest (trimmed MACs) within "
        f"{100 * TOLERANCE:.0f} point of validation accuracy of the best trial\n"
        f"  {trial.hyperparameters.values}\n"
        f"             test accuracy      MACs   params\n"
        f"base model   {base_accuracy:>13.4f} {base_macs:>9,} {base.params:>8,}\n"
        f"chosen model {chosen['accuracy']:>13.4f} {report.macs_after:>9,} "
        f"{report.params_after:>8,}\n"
        f"  {100 * (chosen['accuracy'] - base_accuracy):+.1f} points, "
        f"{base_macs / max(report.macs_after, 1):.1f}x fewer MACs than the base model\n"
    )


def _litert_row(model: keras.Model, data: tuple[Any, ...], folder: Path) -> tuple[str, str]:
    """File size and latency, float32 and int8, and the int8 file's test accuracy; the
    LiteRT runtime that measured them."""
    import numpy as np

    import regsearch

    x_train, _, _, _, x_test, y_test = data
    calibration = x_train[:200]
    float_cost = regsearch.deployment_cost(model)
    int8_cost = regsearch.deployment_cost(model, quantize="int8", representative_data=calibration)
    path = regsearch.export(
        model, folder / "int8.tflite", quantize="int8", representative_data=calibration
    )
    accuracy = float(np.mean(regsearch.deploy.predict(path, x_test).argmax(axis=1) == y_test))
    row = (
        f"{float_cost.file_bytes:>11,} {float_cost.latency_ms * 1e3:>8.1f} "
        f"{int8_cost.file_bytes:>10,} {int8_cost.latency_ms * 1e3:>8.1f} {accuracy:>18.4f}"
    )
    return row, float_cost.runtime


def _litert(chosen: dict[str, Any], base: BaseModel, data: tuple[Any, ...]) -> str:
    """The LiteRT table: what the base and chosen models cost where they run."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as folder:
            (base_row, runtime), (chosen_row, _) = (
                _litert_row(m, data, Path(folder)) for m in (base.model, chosen["model"])
            )
    except (RuntimeError, ImportError) as error:  # another backend, or no LiteRT runtime
        return f"LiteRT: not measured ({error})\n"
    return (
        f"LiteRT ({runtime}; batch 1, 1 thread; latency: fastest sample, microseconds):\n"
        f"             float bytes  latency int8 bytes  latency int8 test accuracy\n"
        f"base model   {base_row}\nchosen model {chosen_row}\n"
    )


def _print_tables(table: Any, front: Any, chosen: dict[str, Any], summary: str) -> None:
    names = ("trial_id", "status", "score", "val_accuracy", "trimmed_macs", "trimmed_params")
    columns = [c for c in names if c in table.columns]
    print("\nResults (best score first):")
    print(table.sort_values("score")[columns].to_string(index=False))
    print(f"\nPareto front ({OBJECTIVES[0]} vs {OBJECTIVES[1]}):")
    print(front[[c for c in columns if c in front.columns]].to_string(index=False))
    print("\nTrim report of the chosen model:")
    print(chosen["report"])
    print("\n" + summary)


def _write(
    out: Path,
    tuner: keras_tuner.Tuner,
    table: pd.DataFrame,
    front: pd.DataFrame,
    chosen: dict[str, Any],
    summary: str,
) -> dict[str, Path]:
    import regsearch

    paths = {
        "results": out / "results.csv",
        "pareto": out / "pareto.png",
        "model": out / "best.keras",
        "report": out / "report.txt",
    }
    table.to_csv(paths["results"], index=False)
    figure = regsearch.plot_pareto(tuner, OBJECTIVES, chosen=chosen["trial"].trial_id)
    figure.savefig(paths["pareto"], dpi=120)
    chosen["model"].save(paths["model"])
    paths["report"].write_text(
        f"regsearch demo\n\n{summary}\nTrim report\n{chosen['report']}\n\n"
        f"Pareto front\n{front.to_string(index=False)}\n"
    )
    print("Wrote:")
    for path in paths.values():
        print(f"  {path}")
    print(
        f"keras-tuner directory: {out / 'search'}; read it again with\n"
        f"  regsearch report {out} --project search --objectives {' '.join(OBJECTIVES)}"
    )
    return paths


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
        trials: Number of trials (default {full_trials}, or {quick_trials} with ``quick``).
        epochs: Epochs per trial (default {full_epochs}, or {quick_epochs} with ``quick``).
        seed: Seed for data splits, weights and the tuner.
        quick: A smoke test that finishes in well under 30 seconds.

    Returns:
        The paths written, by name.
    """
    import regsearch

    trials, epochs, finetune = _budget(trials, epochs, quick)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = _digits(seed)
    base = train_base(data, epochs=epochs + finetune, seed=seed)
    tuner = demo_tuner(out, trials=trials, seed=seed, finetune_epochs=finetune)
    print(
        f"regsearch demo: {trials} trials x ({epochs} + {finetune} fine-tuning) epochs on "
        f"digits ({len(data[0])} train / "
        f"{len(data[2])} validation / {len(data[4])} test images)\n"
        f"objective: {tuner.oracle.objective}\n"
        f"base model: test accuracy {base.accuracy:.4f}, {base.macs:,} MACs\n",
        flush=True,
    )
    _search(tuner, data, epochs, trials)
    table = regsearch.results(tuner)
    front = regsearch.pareto_front(tuner, OBJECTIVES)
    chosen = _choose(tuner, data)
    summary = _summary(chosen, base) + "\n" + _litert(chosen, base, data)
    _print_tables(table, front, chosen, summary)
    return _write(out, tuner, table, front, chosen, summary)


run.__doc__ = (run.__doc__ or "").format(
    full_trials=FULL["trials"],
    quick_trials=QUICK["trials"],
    full_epochs=FULL["epochs"],
    quick_epochs=QUICK["epochs"],
)


def main(args: argparse.Namespace) -> int:
    run(args.out, trials=args.trials, epochs=args.epochs, seed=args.seed, quick=args.quick)
    return 0
