"""regsearch against a plain keras-tuner architecture search, on several tasks (issues 11, 18).

The tasks (``--task``; see ``tasks.py``): ``digits``, the demo's model and splits
(Conv2D 16x5x5 -> Conv2D 16x5x5 -> Flatten -> Dense 10); ``signals``, four 1-D
waveform classes in red noise (three Conv1D of 9 taps); ``shifted``, a held-out
task never used to choose a default (digits at random places of a noisy 16x16
canvas). Two searches run with the same tuner (keras-tuner's
BayesianOptimization), the same number of trials and epochs, the same data and seed:

- **architecture search**: what a user writes without regsearch: the same layers
  with ``filters`` in {1/8, 1/4, 1/2, 1} of the base's and ``kernel_size`` in {1,
  3, the base's} per conv, objective ``val_accuracy``, each trial's model as trained;
- **regsearch**, in several spaces over the base model's convolutions (objective:
  the demo's, validation accuracy against trimmed MACs), each trial's model
  trimmed by ``regsearch.best_model``; its trials train ``--finetune-epochs``
  more (fine-tuning), which its wall time includes:

  - ``regularizers``: ``SearchSpace.for_size("conv*")``, a StructuredSparsity
    strength per layer, nothing resized;
  - ``widths``: ``for_size("conv*", width=...)``, the strengths and widths;
  - ``resize``: no regularizer, a searched width factor {1, 1/2, 1/4, 1/8} and
    largest kernel size per layer (``SearchSpace(width=..., kernel_size=...)``);
  - ``both``: the two together, the recommended space
    (``SearchSpace.for_size("conv*", width=..., kernel_size=...)``).

  ``--strength``, ``--relative-strength`` and ``--kernel`` set ``for_size``'s
  ``strength``, ``relative_strength`` and ``kernel`` (default: ``for_size``'s own);
  ``--tuner pareto`` runs regsearch's spaces as recommended, with ``ParetoSearch``
  whose first trial is the model as given (``start_from_defaults=True``) and, in a
  space with widths, the next two every layer at 1/2 and 1/4 of its width
  (``initial_trials``, ``SearchSpace.uniform_width``).

- **shrink**: ``regsearch.shrink`` from the trained base model (the recommended call for
  "a smaller model as accurate as mine"): 3x the search's trials, each a third as long
  (penalized + fine-tune epochs), so as many epochs in all; the base it starts from is
  the one the "within 1 point" figures are measured against. Besides the figures of
  every method it prints the test accuracy and MACs of the model ``shrink`` returns
  (chosen on validation).

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

    python benchmarks/bench_vs_architecture_search.py [--task signals] [--trials 16] [--epochs 20]

Methods alternate within each seed, so a change in machine load hits both.
"""

from __future__ import annotations

import argparse
import inspect
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
from tasks import FACTORS, TASKS, Task

import regsearch

REFERENCE_ACCURACY = 0.90  # the hypervolume's reference point: (0.90, base MACs)
POINT = 0.01  # "within one point of the base's test accuracy"
TRIM_THRESHOLD = 1e-3


# The demo's objective: validation accuracy against trimmed MACs.
def objective() -> regsearch.Objective:
    return regsearch.Objective("val_accuracy", size_weight=0.01, size="macs", tradeoff="product")


SPACES = ("regularizers", "widths", "resize", "both")
MACS_TARGETS = {"regularizers": 1.0, "both": 0.5, "shrink": 0.5}  # issue 18; the others: 1.0
METHODS = ("architecture", *SPACES, "shrink")
SHRINK_REFINE = inspect.signature(regsearch.shrink).parameters["refine"].default
RECOMMENDED = ("both", "shrink")  # whose best trial must be within 1 point of the base


def space(method: str, task: Task, args: argparse.Namespace) -> regsearch.SearchSpace:
    """regsearch's search space for ``method`` on ``task``."""
    if method == "resize":
        return regsearch.SearchSpace(
            "conv*", kernel=["none"], width=FACTORS, kernel_size=task.kernel_sizes, per_layer=True
        )
    options: dict[str, Any] = {}
    if args.strength is not None:
        options["strength"] = tuple(args.strength)
    if args.relative_strength is not None:
        options["relative_strength"] = {"on": True, "off": False}.get(
            args.relative_strength, args.relative_strength
        )
    if args.kernel is not None:
        options["kernel"] = tuple(args.kernel)
    if method in ("widths", "both"):
        options["width"] = FACTORS
    if method == "both":
        options["kernel_size"] = task.kernel_sizes
    return regsearch.SearchSpace.for_size("conv*", **options)


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


def architecture_tuner(task: Task, directory: str, trials: int, seed: int) -> keras_tuner.Tuner:
    return keras_tuner.BayesianOptimization(
        task.architecture_model,
        objective="val_accuracy",
        max_trials=trials,
        num_initial_points=min(4, trials),
        seed=seed,
        directory=directory,
        project_name="architecture",
    )


def regsearch_tuner(
    task: Task, method: str, directory: str, args: argparse.Namespace, seed: int
) -> keras_tuner.Tuner:
    """The same tuner as the architecture search, over a regsearch space and objective."""
    hypermodel = regsearch.RegSearchHyperModel(
        task.model(),
        space(method, task, args),
        compile=task.compile_arguments(),
        trim_threshold=TRIM_THRESHOLD,
        finetune_epochs=args.finetune_epochs,
    )
    if args.tuner == "pareto":  # the recommended search: the defaults, then uniform cuts
        cuts = [w for w in (0.5, 0.25) if w in (hypermodel.space.width or ())]
        return regsearch.ParetoSearch(
            hypermodel,
            objective=objective(),
            max_trials=args.trials,
            seed=seed,
            start_from_defaults=True,
            initial_trials=[hypermodel.space.uniform_width(hypermodel.model, w) for w in cuts],
            directory=directory,
            project_name=method,
        )
    return keras_tuner.BayesianOptimization(
        hypermodel,
        objective=objective(),
        max_trials=args.trials,
        num_initial_points=min(4, args.trials),
        seed=seed,
        directory=directory,
        project_name=method,
    )


def test_points(tuner: keras_tuner.Tuner, load: Any, x_test, y_test) -> list[tuple[float, float]]:
    """(test accuracy, MACs) of every finished trial's model."""
    points = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        try:
            model = load(trial)
        except ValueError:  # a trial whose penalty emptied a whole layer: no model
            continue
        accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
        points.append((float(accuracy), float(macs(model))))
    return points


def split_trial(total: int) -> tuple[int, int]:
    """A ``shrink`` trial of ``total`` epochs: its penalized and fine-tune epochs, a quarter
    penalized (at least one), as ``shrink``'s defaults (1 + 5)."""
    penalized = max(1, total // 4)
    return penalized, max(1, total - penalized)


def shrink_epochs(args: argparse.Namespace) -> tuple[int, int]:
    """A ``shrink`` trial's penalized and fine-tune epochs: a third of a search trial's."""
    return split_trial(max(2, (args.epochs + args.finetune_epochs) // 3))


def run_shrink(
    base: keras.Model, seed: int, args: argparse.Namespace, task: Task, data: tuple, refine: int
) -> dict[str, Any]:
    """``regsearch.shrink`` from the trained base: 3x the trials of a search, each a third
    as long, so as many epochs in all."""
    x_train, y_train, x_val, y_val, x_test, y_test = data
    epochs, finetune = shrink_epochs(args)
    refine_epochs = args.refine_epochs or 2 * (epochs + finetune)
    # the refinements' epochs come out of the trials', so the total stays the same
    trials = 3 * args.trials - math.ceil(refine * refine_epochs / (epochs + finetune))
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        small, tuner = regsearch.shrink(
            base, x_train, y_train, validation_data=(x_val, y_val), max_trials=trials,
            epochs=epochs, finetune_epochs=finetune, refine=refine,
            refine_epochs=refine_epochs, batch_size=task.batch_size,
            directory=directory, seed=seed, verbose=0, learning_rate_schedule=args.schedule,
            distillation=args.distillation, kernel_size=args.shrink_kernel_size,
        )  # fmt: skip
        wall = time.perf_counter() - start
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading")
            points = test_points(
                tuner, lambda trial: regsearch.best_model(tuner, trial_id=trial.trial_id),
                x_test, y_test,
            )  # fmt: skip
    accuracy = small.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    chosen = (float(accuracy), float(macs(small)))
    return {"points": [*points, chosen], "wall": wall, "chosen": chosen}


def arms(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """``(name, run(base, seed, args, task, data))`` per method; ``shrink`` once per
    ``--refine`` value (``shrink`` for its default ``refine``, ``shrink-refine4`` for
    ``refine=4``)."""
    runs: list[tuple[str, Any]] = []
    for method in args.methods:
        if method != "shrink":
            runs.append((method, lambda b, s, a, t, d, m=method: run_method(m, s, a, t, d)))
            continue
        for refine in args.refine:
            name = "shrink" if refine == SHRINK_REFINE else f"shrink-refine{refine}"
            runs.append((name, lambda b, s, a, t, d, r=refine: run_shrink(b, s, a, t, d, r)))
    return runs


def run_method(
    method: str, seed: int, args: argparse.Namespace, task: Task, data: tuple
) -> dict[str, Any]:
    x_train, y_train, x_val, y_val, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        if method == "architecture":
            tuner = architecture_tuner(task, directory, args.trials, seed)

            def load(trial):
                return tuner.load_model(trial)
        else:
            tuner = regsearch_tuner(task, method, directory, args, seed)

            def load(trial):
                return regsearch.best_model(tuner, trial_id=trial.trial_id)

        start = time.perf_counter()
        tuner.search(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=task.batch_size,
            verbose=0,
        )
        wall = time.perf_counter() - start
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading")
            points = test_points(tuner, load, x_test, y_test)
    return {"points": points, "wall": wall}


def summarize(result: dict[str, Any], base_accuracy: float, base_macs: int) -> dict[str, float]:
    within = [m for a, m in result["points"] if a >= base_accuracy - POINT - 1e-9]
    best = max((a for a, _ in result["points"]), default=math.nan)
    return {
        "macs": min(within) if within else math.inf,
        "hypervolume": hypervolume(result["points"], base_macs),
        "wall": result["wall"],
        "trials": len(result["points"]),
        "best": best,
        # what shrink returns (chosen on validation): its test accuracy and MACs
        "chosen": result["chosen"][0] if "chosen" in result else math.nan,
        "chosen_macs": result["chosen"][1] if "chosen" in result else math.nan,
    }


def ratio(a: float, b: float) -> float:
    if math.isinf(a) or math.isinf(b) or b == 0:
        return math.nan if a == b else (math.inf if b == 0 or math.isinf(a) else 0.0)
    return a / b


def train_base(task: Task, data: tuple, epochs: int, seed: int) -> keras.Model:
    """The base model trained alone (no regularizer)."""
    x_train, y_train = data[:2]
    keras.utils.set_random_seed(seed)
    model = task.model()
    model.compile(**task.compile_arguments())
    model.fit(x_train, y_train, epochs=epochs, batch_size=task.batch_size, verbose=0)
    return model


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    task = TASKS[args.task]
    data = task.data(seed)
    base = train_base(task, data, args.epochs + args.finetune_epochs, seed)
    base_accuracy = float(base.evaluate(*data[4:], verbose=0, return_dict=True)["accuracy"])
    base_macs = macs(base)
    print(f"seed {seed}: base model test accuracy {base_accuracy:.4f}, {base_macs:,} MACs")
    rows = {"base": {"accuracy": base_accuracy, "macs": float(base_macs)}}
    for method, run in arms(args):
        result = run(base, seed, args, task, data)
        summary = summarize(result, base_accuracy, base_macs)
        rows[method] = summary
        print(
            f"  {method:<12} smallest MACs within 1 point {summary['macs']:>9,.0f}  "
            f"hypervolume {summary['hypervolume']:.4f}  wall {summary['wall']:6.1f} s  "
            f"({summary['trials']:.0f} trials with a model; best test accuracy "
            f"{summary['best']:.4f})"
            + (
                f"; returned: test accuracy {summary['chosen']:.4f}, "
                f"{summary['chosen_macs']:,.0f} MACs"
                if method.startswith("shrink")
                else ""
            ),
            flush=True,
        )
    if "architecture" not in rows:
        return rows
    for method in [m for m in rows if m not in ("base", "architecture")]:
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


def distillation_weight(value: str) -> float | str:
    """``--distillation``: a weight, or ``"auto"``."""
    return value if value == "auto" else float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="digits")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3, help="this many seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--schedule", choices=("cosine", "constant"), default="cosine",
        help="shrink's learning-rate schedule over each trial (its default: cosine)",
    )  # fmt: skip
    parser.add_argument(
        "--distillation", type=distillation_weight, default=0.0,
        help="shrink's distillation weight, or 'auto' (its default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--refine", type=int, nargs="+", default=[SHRINK_REFINE],
        help=f"shrink's refine (its default: {SHRINK_REFINE}; near-miss trials fine-tuned "
        "longer; their epochs are taken from its trials'); several values run shrink once "
        "each, on the same base",
    )  # fmt: skip
    parser.add_argument(
        "--refine-epochs", type=int, default=None, help="shrink's refine_epochs (its default)"
    )
    parser.add_argument(
        "--shrink-kernel-size",
        nargs="*",
        type=int,
        default=None,
        help="shrink's kernel_size caps (its default: from 3 up to the model's largest)",
    )
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=5,
        help="regsearch's fine-tuning epochs after --epochs (counted in its wall time)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="run only these (ratios need both)",
    )
    parser.add_argument("--strength", nargs=2, type=float, default=None, metavar=("MIN", "MAX"))
    parser.add_argument("--relative-strength", choices=("on", "off", "gradient"), default=None)
    parser.add_argument(
        "--tuner", choices=("bayesian", "pareto"), default="bayesian",
        help="regsearch's tuner: BayesianOptimization as the architecture search (default), "
        "or the recommended ParetoSearch(start_from_defaults=True)",
    )  # fmt: skip
    parser.add_argument("--kernel", nargs="+", default=None, help="for_size's kernel penalties")
    args = parser.parse_args()
    print(
        f"{args.task}, base model convs {TASKS[args.task].convs}; space options: strength "
        f"{args.strength or 'default'}, relative {args.relative_strength or 'default'}, "
        f"kernel {args.kernel or 'default'}"
    )
    print(
        f"BayesianOptimization, {args.trials} trials x "
        f"{args.epochs} epochs (regsearch: + {args.finetune_epochs} fine-tuning; the base: "
        f"{args.epochs + args.finetune_epochs}); {args.seeds} seeds; hypervolume reference "
        f"(accuracy {REFERENCE_ACCURACY}, base MACs) in (accuracy, log10 MACs)"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        results = [run_seed(seed, args) for seed in seeds]
    print("\nmedian over seeds:")
    for method in [m for m in results[0] if m != "base" and not m.endswith("ratio")]:
        medians = {
            key: statistics.median(r[method][key] for r in results)
            for key in ("macs", "hypervolume", "wall")
        }
        print(
            f"  {method:<12} MACs {medians['macs']:,.3f}  hypervolume "
            f"{medians['hypervolume']:.4f}  wall {medians['wall']:.3f}"
        )
    for key in [k for k in results[0] if k.endswith("ratio")]:
        method = key.removesuffix(" ratio")
        macs_ratio = statistics.median(r[key]["macs"] for r in results)
        wall_ratio = statistics.median(r[key]["wall"] for r in results)
        target = MACS_TARGETS.get(method.split("-")[0], 1.0)
        print(
            f"{method}: target median MACs ratio <= {target} ({macs_ratio:.3f}: "
            f"{'met' if macs_ratio <= target else 'NOT met'}), median wall ratio <= 1.5 "
            f"({wall_ratio:.3f}: {'met' if wall_ratio <= 1.5 else 'NOT met'})"
        )
    for method in [m for m in RECOMMENDED if m in results[0]]:
        gaps = [r["base"]["accuracy"] - r[method]["best"] for r in results]
        print(
            f"{method}: target best trial within 1 point of the base in every seed (gaps "
            + ", ".join(f"{100 * g:.1f}" for g in gaps)
            + f" points: {'met' if max(gaps) <= POINT + 1e-9 else 'NOT met'})"
        )
    if "shrink" in results[0]:
        gaps = [r["base"]["accuracy"] - r["shrink"]["chosen"] for r in results]
        print(
            "shrink: the model it returns, test accuracy below the base's by "
            + ", ".join(f"{100 * g:.1f}" for g in gaps)
            + " points"
        )


if __name__ == "__main__":
    main()
