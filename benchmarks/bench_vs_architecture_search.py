"""regsearch against a plain keras-tuner architecture search, on digits (issue 11).

The base model is the demo's (``regsearch._demo.demo_model``: Conv2D 16x5x5 ->
Conv2D 16x5x5 -> Flatten -> Dense 10) on the demo's digits splits. Two searches
run with the same tuner (keras-tuner's BayesianOptimization), the same number of
trials and epochs, the same data and seed:

- **architecture search**: what a user writes without regsearch: the same layers
  with ``filters`` in {2, 4, 8, 16} and ``kernel_size`` in {1, 3, 5} per conv,
  objective ``val_accuracy``, each trial's model as trained;
- **regsearch**, in three spaces over the base model's ``conv1`` and ``conv2``
  (``regsearch._demo.demo_tuner``), each trial's model trimmed by
  ``regsearch.best_model``; its trials train ``--finetune-epochs`` more
  (fine-tuning), which its wall time includes:

  - ``regularizers``: ``SearchSpace.for_size("conv*")``, a StructuredSparsity
    strength per layer, nothing resized;
  - ``widths``: ``for_size("conv*", width=...)``, the strengths and widths;
  - ``resize``: no regularizer, a searched width factor {1, 1/2, 1/4, 1/8} and
    largest kernel size {1, 3, 5} per layer (``SearchSpace(width=...,
    kernel_size=...)``);
  - ``both``: the two together, the demo's space (``SearchSpace.for_size("conv*",
    width=..., kernel_size=...)``).

For each method it prints, measured on the held-out test split (never seen by
either search): the smallest MACs among the trials whose test accuracy is at
most one point below the base model's (the base trained alone for as many
epochs as a regsearch trial), the hypervolume of the (test accuracy, MACs) front, and the search's
wall time; then the ratios regsearch / architecture search per seed and their
medians. Targets: median MACs ratio <= 1.0 at a median wall-time ratio <= 1.5.

The hypervolume is the area dominated by the front in the plane (test accuracy,
log10(MACs / base MACs)), bounded by the reference point (accuracy 0.90, the
base's MACs): a model below 90% or larger than the base adds nothing; one at
100% with a tenth of the MACs alone scores 0.1 x 1 decade = 0.1.

    python benchmarks/bench_vs_architecture_search.py [--trials 16] [--epochs 20] [--seeds 3]

Methods alternate within each seed, so a change in machine load hits both.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import warnings
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import keras_tuner
from sklearn.exceptions import ConvergenceWarning

import regsearch
from regsearch import _demo

REFERENCE_ACCURACY = 0.90  # the hypervolume's reference point: (0.90, base MACs)
POINT = 0.01  # "within one point of the base's test accuracy"
SPACES = {
    "regularizers": lambda: regsearch.SearchSpace.for_size("conv*"),
    "widths": lambda: regsearch.SearchSpace.for_size("conv*", width=_demo.WIDTHS),
    "resize": lambda: regsearch.SearchSpace(
        "conv*",
        kernel=["none"],
        width=_demo.WIDTHS,  # 16, 8, 4, 2 filters: the architecture search's
        kernel_size=_demo.KERNEL_SIZES,
        per_layer=True,
    ),
    "both": _demo.demo_space,  # the demo's space: the two together
}
METHODS = ("architecture", *SPACES)


def macs(model: keras.Model) -> int:
    """The model's multiply-accumulates per sample (nothing trimmed)."""
    return regsearch.trimmed_size(model, 0.0).macs_before


def hypervolume(points: list[tuple[float, float]], base_macs: float) -> float:
    """Area dominated by ``(accuracy, MACs)`` points, maximizing accuracy, minimizing
    log10(MACs / base_macs), above the reference point (REFERENCE_ACCURACY, 0)."""
    scaled = sorted(
        (math.log10(max(m, 1) / base_macs), a)
        for a, m in points
        if a > REFERENCE_ACCURACY and m < base_macs
    )
    area, best = 0.0, REFERENCE_ACCURACY
    for (size, accuracy), (next_size, _) in zip(scaled, [*scaled[1:], (0.0, 0.0)]):
        best = max(best, accuracy)  # the best accuracy reachable at this size or smaller
        area += (best - REFERENCE_ACCURACY) * (next_size - size)
    return area


def architecture_tuner(directory: str, trials: int, seed: int) -> keras_tuner.Tuner:
    def build(hp: keras_tuner.HyperParameters) -> keras.Model:
        inputs = keras.Input((8, 8, 1))
        x = inputs
        for name in ("conv1", "conv2"):
            filters = hp.Choice(f"{name}_filters", [2, 4, 8, 16])
            size = hp.Choice(f"{name}_kernel", [1, 3, 5])
            x = keras.layers.Conv2D(filters, size, padding="same", activation="relu", name=name)(x)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
        model = keras.Model(inputs, outputs)
        model.compile(**_demo.demo_compile())
        return model

    return keras_tuner.BayesianOptimization(
        build,
        objective="val_accuracy",
        max_trials=trials,
        num_initial_points=min(4, trials),
        seed=seed,
        directory=directory,
        project_name="architecture",
    )


def test_points(tuner: keras_tuner.Tuner, load: Any, x_test, y_test) -> list[tuple[float, float]]:
    """(test accuracy, MACs) of every finished trial's model."""
    points = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        model = load(trial)
        accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
        points.append((float(accuracy), float(macs(model))))
    return points


def run_method(method: str, seed: int, args: argparse.Namespace, data: tuple) -> dict[str, Any]:
    x_train, y_train, x_val, y_val, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        if method == "architecture":
            tuner = architecture_tuner(directory, args.trials, seed)

            def load(trial):
                return tuner.load_model(trial)
        else:
            tuner = _demo.demo_tuner(
                directory,
                trials=args.trials,
                seed=seed,
                finetune_epochs=args.finetune_epochs,
                pareto=False,  # the same tuner as the architecture search
                space=SPACES[method](),
            )

            def load(trial):
                return regsearch.best_model(tuner, trial_id=trial.trial_id)

        start = time.perf_counter()
        tuner.search(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=_demo.BATCH_SIZE,
            verbose=0,
        )
        wall = time.perf_counter() - start
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading")
            points = test_points(tuner, load, x_test, y_test)
    return {"points": points, "wall": wall}


def summarize(result: dict[str, Any], base_accuracy: float, base_macs: int) -> dict[str, float]:
    within = [m for a, m in result["points"] if a >= base_accuracy - POINT - 1e-9]
    return {
        "macs": min(within) if within else math.inf,
        "hypervolume": hypervolume(result["points"], base_macs),
        "wall": result["wall"],
        "trials": len(result["points"]),
    }


def ratio(a: float, b: float) -> float:
    if math.isinf(a) or math.isinf(b) or b == 0:
        return math.nan if a == b else (math.inf if b == 0 or math.isinf(a) else 0.0)
    return a / b


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    data = _demo._digits(seed)
    base_accuracy, base_macs, _ = _demo.train_base(
        data, epochs=args.epochs + args.finetune_epochs, seed=seed
    )
    print(f"seed {seed}: base model test accuracy {base_accuracy:.4f}, {base_macs:,} MACs")
    rows = {}
    for method in args.methods:
        summary = summarize(run_method(method, seed, args, data), base_accuracy, base_macs)
        rows[method] = summary
        print(
            f"  {method:<12} smallest MACs within 1 point {summary['macs']:>9,.0f}  "
            f"hypervolume {summary['hypervolume']:.4f}  wall {summary['wall']:6.1f} s  "
            f"({summary['trials']:.0f} finished trials)",
            flush=True,
        )
    if "architecture" not in rows:
        return rows
    for method in [m for m in SPACES if m in rows]:
        rows[f"{method} ratio"] = {
            key: ratio(rows[method][key], rows["architecture"][key])
            for key in ("macs", "hypervolume", "wall")
        }
        print(
            f"  {method} / architecture: "
            "MACs {macs:.3f}  hypervolume {hypervolume:.3f}  "
            "wall {wall:.3f}".format(**rows[f"{method} ratio"]),
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=_demo.FULL["finetune_epochs"],
        help="regsearch's fine-tuning epochs after --epochs (counted in its wall time)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="run only these (ratios need both)",
    )
    args = parser.parse_args()
    print(
        f"digits, demo base model; BayesianOptimization, {args.trials} trials x "
        f"{args.epochs} epochs (regsearch: + {args.finetune_epochs} fine-tuning; the base: "
        f"{args.epochs + args.finetune_epochs}); {args.seeds} seeds; hypervolume reference "
        f"(accuracy {REFERENCE_ACCURACY}, base MACs) in (accuracy, log10 MACs)"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        results = [run_seed(seed, args) for seed in range(args.seeds)]
    print("\nmedian over seeds:")
    for method in [m for m in results[0] if not m.endswith("ratio")]:
        medians = {
            key: statistics.median(r[method][key] for r in results)
            for key in ("macs", "hypervolume", "wall")
        }
        print(
            f"  {method:<12} MACs {medians['macs']:,.3f}  hypervolume "
            f"{medians['hypervolume']:.4f}  wall {medians['wall']:.3f}"
        )
    for key in [k for k in results[0] if k.endswith("ratio")]:
        macs_ratio = statistics.median(r[key]["macs"] for r in results)
        wall_ratio = statistics.median(r[key]["wall"] for r in results)
        print(
            f"{key.removesuffix(' ratio')}: target median MACs ratio <= 1.0 ({macs_ratio:.3f}: "
            f"{'met' if macs_ratio <= 1.0 else 'NOT met'}), median wall ratio <= 1.5 "
            f"({wall_ratio:.3f}: {'met' if wall_ratio <= 1.5 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
