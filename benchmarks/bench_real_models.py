"""Shrinking a trained ResNet-style model: regsearch against what a user does instead (issue 19).

The model: a stem and three residual stages on digits (8x8x1), each stage one residual
block of two 3x3 convolutions with BatchNormalization (momentum 0.9), a strided 1x1
projection shortcut into stages 2 and 3, widths 16, 32, 64, global average pooling
and a Dense head. The base is trained for ``--epochs`` epochs. Methods, each measured
on the held-out test split (never seen by any search):

- ``architecture``: what a user writes without regsearch: keras-tuner's
  BayesianOptimization over the three stage widths (each in {1/8, 1/4, 1/2, 1} of the
  base's), every trial trained from scratch for ``--epochs`` epochs;
- ``scratch``: regsearch's ``ParetoSearch`` over ``SearchSpace.for_size`` (a
  StructuredSparsity strength per layer, relative to the data loss, a width per
  coupled channel group, kernel sizes {1, 3}), every trial from fresh weights for
  ``--epochs`` epochs (the last ``--epochs // 3`` without the penalties); as
  recommended, its first trial is the model as given and the next two cut every
  group to 1/2 and 1/4;
- ``shrink``: ``regsearch.shrink`` (its default ``refine``, unless ``--refine``)
  from the trained base, every trial a fine-tune of
  a third of the epochs (a quarter of them with the penalties, as ``shrink``'s
  defaults, the rest without), and three times as
  many trials (``--shrink-trials``), so that it trains as many epochs in all as the
  from-scratch searches; ``--rounds`` splits them into rounds;
- ``l1``: L1-norm filter pruning as a pruning user does it (Li et al., ICLR 2017; the
  channels of each coupled group ranked by their norm over the group, as
  ``regsearch.trimming.narrow`` does) at fixed ratios {3/4, 1/2, 1/4, 1/8} of every
  group, each fine-tuned for as many epochs as a ``shrink`` trial, with the same
  learning-rate schedule (``--schedule``).

``--case mobilenet`` shrinks ``keras.applications.MobileNetV2(weights=None,
alpha=1.0)`` (BatchNormalization momentum 0.9) on digits upsampled to 32x32x3, and
compares ``shrink`` and ``l1`` with what MobileNet users do instead (``alpha``):
train ``alpha`` in {0.35, 0.5, 0.75, 1.0} from scratch, ``--epochs`` each. The
target there: ``shrink`` <= 1.0x the ``alpha`` search's MACs at equal accuracy.

For each it prints the smallest MACs among the models whose test accuracy is at most
one point below the base's, the hypervolume of the (test accuracy, MACs) front (as
in ``bench_vs_architecture_search.py``), the wall time and the epochs trained; then
the ratios to the architecture search (and ``shrink`` / ``l1``) per seed and their
medians. Targets (issue 19): ``scratch`` and ``shrink`` median MACs <= 0.5x the
architecture search's; ``shrink`` <= 0.7x ``l1``'s; ``shrink``'s front at least as
large as ``scratch``'s with a third of the epochs per trial.

    python benchmarks/bench_real_models.py [--trials 12] [--epochs 12] [--seeds 3] [--fronts]
    python benchmarks/bench_real_models.py --case mobilenet --seeds 1 --epochs 15
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import keras_tuner
import numpy as np
from bench_vs_architecture_search import (
    SHRINK_REFINE,
    distillation_weight,
    hypervolume,
    macs,
    ratio,
    split_trial,
)
from sklearn.exceptions import ConvergenceWarning
from tasks import digits

import regsearch

L = keras.layers
WIDTHS = (16, 32, 64)
FACTORS = (0.125, 0.25, 0.5, 1.0)
L1_RATIOS = (0.75, 0.5, 0.25, 0.125)
BATCH_SIZE = 32
POINT = 0.01
METHODS = ("architecture", "scratch", "shrink", "l1", "alpha")
ALPHAS = (0.35, 0.5, 0.75, 1.0)
CASES = {
    "resnet": ("architecture", "scratch", "shrink", "l1"),
    "mobilenet": ("alpha", "shrink", "l1"),
}


def resnet(widths: tuple[int, int, int] = WIDTHS) -> keras.Model:
    """Stem + three residual stages (projection shortcuts between stages) on 8x8x1."""
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem")(inputs)
    x = L.ReLU()(L.BatchNormalization(momentum=0.9, name="stem_bn")(x))
    for stage, width in enumerate(widths, start=1):
        strides = 1 if stage == 1 else 2
        y = L.Conv2D(width, 3, strides, padding="same", use_bias=False, name=f"s{stage}_c1")(x)
        y = L.ReLU()(L.BatchNormalization(momentum=0.9, name=f"s{stage}_bn1")(y))
        y = L.Conv2D(width, 3, padding="same", use_bias=False, name=f"s{stage}_c2")(y)
        y = L.BatchNormalization(momentum=0.9, name=f"s{stage}_bn2")(y)
        if stage > 1:
            x = L.Conv2D(width, 1, strides, use_bias=False, name=f"s{stage}_proj")(x)
            x = L.BatchNormalization(momentum=0.9, name=f"s{stage}_proj_bn")(x)
        x = L.ReLU()(L.Add(name=f"s{stage}_add")([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, name="head")(x))


def mobilenet(alpha: float = 1.0) -> keras.Model:
    """MobileNetV2 (no weights) for 32x32x3 inputs, BatchNormalization momentum 0.9."""
    model = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=alpha, weights=None, classes=10,
        classifier_activation=None,
    )  # fmt: skip
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["momentum"] = 0.9  # few steps: see the practical notes
    return keras.Model.from_config(config)


def upsampled(data: tuple) -> tuple:
    """Digits at 32x32x3: each pixel repeated 4x4, the gray level in all three channels."""
    return tuple(
        np.ascontiguousarray(np.repeat(np.repeat(a, 4, axis=1), 4, axis=2).repeat(3, axis=3))
        if a.ndim == 4 else a
        for a in data
    )  # fmt: skip


def compile_arguments() -> dict[str, Any]:
    return {
        "optimizer": keras.optimizers.Adam(3e-3),
        "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "metrics": ["accuracy"],
    }


def accuracy(model: keras.Model, x: Any, y: Any) -> float:
    if not model.compiled:
        model.compile(**compile_arguments())
    return float(model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"])


def trial_points(tuner: keras_tuner.Tuner, load: Callable[[Any], keras.Model], x, y) -> list:
    """(test accuracy, MACs) of every finished trial's model."""
    points = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        try:
            model = load(trial)
        except ValueError:  # a trial whose penalty emptied a whole layer: no model
            continue
        points.append((accuracy(model, x, y), float(macs(model))))
    return points


def architecture(data: tuple, args: argparse.Namespace, seed: int, directory: str) -> dict:
    x_train, y_train, x_val, y_val, x_test, y_test = data

    def build(hp: keras_tuner.HyperParameters) -> keras.Model:
        widths = [
            hp.Choice(f"stage{i}_width", [max(1, round(w * f)) for f in FACTORS], default=w)
            for i, w in enumerate(WIDTHS, start=1)
        ]
        model = resnet(tuple(widths))  # type: ignore[arg-type]
        model.compile(**compile_arguments())
        return model

    tuner = keras_tuner.BayesianOptimization(
        build, objective="val_accuracy", max_trials=args.trials, num_initial_points=4,
        seed=seed, directory=directory, project_name="architecture",
    )  # fmt: skip
    tuner.search(
        x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
        batch_size=BATCH_SIZE, verbose=0,
    )  # fmt: skip
    points = trial_points(tuner, tuner.load_model, x_test, y_test)
    return {"points": points, "epochs": args.trials * args.epochs, "trial_epochs": args.epochs}


def alpha(data: tuple, args: argparse.Namespace, seed: int, directory: str) -> dict:
    x_train, y_train, _, _, x_test, y_test = data
    points = []
    for value in ALPHAS:
        keras.utils.set_random_seed(seed)
        model = mobilenet(value)
        model.compile(**compile_arguments())
        model.fit(x_train, y_train, epochs=args.epochs, batch_size=BATCH_SIZE, verbose=0)
        points.append((accuracy(model, x_test, y_test), float(macs(model))))
    return {"points": points, "epochs": len(ALPHAS) * args.epochs, "trial_epochs": args.epochs}


def scratch(data: tuple, args: argparse.Namespace, seed: int, directory: str) -> dict:
    x_train, y_train, x_val, y_val, x_test, y_test = data
    finetune = max(1, args.epochs // 3)
    space = regsearch.SearchSpace.for_size(
        width=args.widths or FACTORS,
        kernel_size=(1, 3),
        relative_strength=True,
        strength=args.strength,
    )
    model = resnet()
    hypermodel = regsearch.RegSearchHyperModel(
        model, space, compile=compile_arguments(), finetune_epochs=finetune
    )
    # the recommended search (docs/pareto.md): the model as given first, then uniform cuts
    ladder = [space.uniform_width(model, w) for w in (0.5, 0.25) if w in space.width]
    tuner = regsearch.ParetoSearch(
        hypermodel, objective=regsearch.Objective("val_accuracy", size="macs"),
        max_trials=args.trials, seed=seed, directory=directory, project_name="scratch",
        start_from_defaults=True, initial_trials=ladder,
    )  # fmt: skip
    tuner.search(
        x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs - finetune,
        batch_size=BATCH_SIZE, verbose=0,
    )  # fmt: skip

    def load(trial: Any) -> keras.Model:
        return regsearch.best_model(tuner, trial_id=trial.trial_id)

    points = trial_points(tuner, load, x_test, y_test)
    return {"points": points, "epochs": args.trials * args.epochs, "trial_epochs": args.epochs}


def _trial_epochs(args: argparse.Namespace) -> tuple[int, int]:
    """A shrink trial's penalized and fine-tune epochs: a third of ``--epochs`` in all,
    unless ``--shrink-epochs`` gives them."""
    if args.shrink_epochs:
        return args.shrink_epochs[0], args.shrink_epochs[1]
    return split_trial(max(2, args.epochs // 3))


def shrink(data: tuple, args: argparse.Namespace, seed: int, directory: str, base) -> dict:
    x_train, y_train, x_val, y_val, x_test, y_test = data
    epochs, finetune = _trial_epochs(args)
    trials = _shrink_trials(args)
    small, tuner = regsearch.shrink(
        base, x_train, y_train, validation_data=(x_val, y_val), max_trials=trials,
        rounds=args.rounds, epochs=epochs, finetune_epochs=finetune, batch_size=BATCH_SIZE,
        directory=directory, seed=seed, verbose=0, strength=tuple(args.strength),
        learning_rate=args.learning_rate, learning_rate_schedule=args.schedule,
        distillation=args.distillation, refine=args.refine,
        refine_epochs=_refine_epochs(args), kernel_size=args.shrink_kernel_size,
        **({"width": args.widths} if args.widths else {}),
    )  # fmt: skip

    def load(trial: Any) -> keras.Model:
        return regsearch.best_model(tuner, trial_id=trial.trial_id)

    # the last round's trials, and the model shrink returned (chosen in an earlier round
    # when the last found nothing smaller)
    points = trial_points(tuner, load, x_test, y_test)
    points.append((accuracy(small, x_test, y_test), float(macs(small))))
    refined = args.refine * _refine_epochs(args)
    return {
        "points": points,
        "epochs": trials * (epochs + finetune) + refined,
        "trial_epochs": epochs + finetune,
    }


def _refine_epochs(args: argparse.Namespace) -> int:
    """Epochs of each of ``shrink``'s refinements: twice a trial's (its default)."""
    return 2 * sum(_trial_epochs(args))


def _shrink_trials(args: argparse.Namespace) -> int:
    """``shrink``'s trials: by default as many epochs in all as the search it is compared with.

    That is the from-scratch searches on the ResNet, the four ``alpha`` values on MobileNet.
    """
    searched = len(ALPHAS) if args.case == "mobilenet" else args.trials
    budget = searched * args.epochs - args.refine * _refine_epochs(args)  # refinements count
    return args.shrink_trials or budget // sum(_trial_epochs(args))


def l1(data: tuple, args: argparse.Namespace, seed: int, directory: str, base) -> dict:
    x_train, y_train, _, _, x_test, y_test = data
    free = [g.name for g in regsearch.trimming.channel_groups(base) if not g.blocked]
    total = sum(_trial_epochs(args)) * args.rounds  # what shrink's chosen model had
    points = []
    for factor in L1_RATIOS:
        keras.utils.set_random_seed(seed)
        model = regsearch.trimming.narrow(base, width=dict.fromkeys(free, factor))
        arguments = compile_arguments()
        rate = 3e-3 * args.learning_rate  # as shrink fine-tunes
        if args.schedule == "cosine":
            steps = math.ceil(len(x_train) / BATCH_SIZE) * total
            rate = keras.optimizers.schedules.CosineDecay(rate, steps)
        arguments["optimizer"] = keras.optimizers.Adam(rate)
        model.compile(**arguments)
        model.fit(x_train, y_train, epochs=total, batch_size=BATCH_SIZE, verbose=0)
        points.append((accuracy(model, x_test, y_test), float(macs(model))))
    return {"points": points, "epochs": len(L1_RATIOS) * total, "trial_epochs": total}


def front_text(points: list[tuple[float, float]]) -> str:
    """The non-dominated (accuracy, MACs) points, smallest first."""
    front, best = [], -1.0
    for accuracy_, macs_ in sorted(points, key=lambda p: (p[1], -p[0])):
        if accuracy_ > best:
            front.append(f"{accuracy_:.4f}@{macs_:,.0f}")
            best = accuracy_
    return " ".join(front)


def summarize(result: dict, base_accuracy: float, base_macs: int) -> dict[str, float]:
    within = [m for a, m in result["points"] if a >= base_accuracy - POINT - 1e-9]
    return {
        "macs": min(within) if within else math.inf,
        "hypervolume": hypervolume(result["points"], base_macs),
        "wall": result["wall"],
        "epochs": result["epochs"],
        "trial_epochs": result["trial_epochs"],
    }


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    data = digits(seed)
    data = upsampled(data) if args.case == "mobilenet" else data
    x_train, y_train, _, _, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    base = mobilenet() if args.case == "mobilenet" else resnet()
    base.compile(**compile_arguments())
    base.fit(x_train, y_train, epochs=args.epochs, batch_size=BATCH_SIZE, verbose=0)
    base_accuracy, base_macs = accuracy(base, x_test, y_test), macs(base)
    print(f"seed {seed}: base test accuracy {base_accuracy:.4f}, {base_macs:,} MACs", flush=True)
    rows = {}
    for method in args.methods or CASES[args.case]:
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as directory:
            run = globals()[method]
            extra = (base,) if method in ("shrink", "l1") else ()
            result = run(data, args, seed, directory, *extra)
        result["wall"] = time.perf_counter() - start
        rows[method] = summary = summarize(result, base_accuracy, base_macs)
        print(
            f"  {method:<12} smallest MACs within 1 point {summary['macs']:>9,.0f}  "
            f"hypervolume {summary['hypervolume']:.4f}  wall {summary['wall']:6.1f} s  "
            f"epochs {summary['epochs']:.0f} ({summary['trial_epochs']:.0f} per trial)",
            flush=True,
        )
        if args.fronts:
            print("    front (test accuracy, MACs): " + front_text(result["points"]), flush=True)
    for method, other in COMPARED:
        if method in rows and other in rows:
            key = f"{method} / {other}"
            rows[key] = {k: ratio(rows[method][k], rows[other][k]) for k in rows[method]}
            print(f"  {key}: " + "  ".join(f"{k} {v:.3f}" for k, v in rows[key].items()))
    return rows


COMPARED = (
    ("scratch", "architecture"),
    ("shrink", "architecture"),
    ("shrink", "l1"),
    ("shrink", "scratch"),
    ("shrink", "alpha"),
)
BASES = {
    "resnet": f"ResNet-style base (widths {WIDTHS})",
    "mobilenet": "MobileNetV2 (alpha 1.0) on 32x32x3",
}
TARGETS = (
    ("scratch / architecture", "macs", 0.5, "<="),
    ("shrink / architecture", "macs", 0.5, "<="),
    ("shrink / l1", "macs", 0.7, "<="),
    ("shrink / scratch", "hypervolume", 1.0, ">="),
    ("shrink / scratch", "trial_epochs", 1 / 3 + 1e-9, "<="),  # each trial's, not in all
    ("shrink / alpha", "macs", 1.0, "<="),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="resnet")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3, help="this many seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                        help="default: every method of the case")  # fmt: skip
    parser.add_argument(
        "--fronts", action="store_true",
        help="print each method's non-dominated (test accuracy, MACs) points",
    )  # fmt: skip
    parser.add_argument(
        "--strength", nargs=2, type=float, default=[0.03, 3.0],
        help="regsearch's relative strength range (shrink's default: 0.03 3.0)",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="shrink's rounds (each from the model the one before chose)",
    )  # fmt: skip
    parser.add_argument(
        "--shrink-trials", type=int, default=None,
        help="shrink's trials over all rounds (default: the compared search's epochs in all)",
    )  # fmt: skip
    parser.add_argument(
        "--learning-rate", type=float, default=1.0,
        help="shrink's and l1's fine-tune learning rate, a multiple of the base's",
    )  # fmt: skip
    parser.add_argument(
        "--schedule", choices=("cosine", "constant"), default="cosine",
        help="shrink's and l1's learning-rate schedule over each fine-tune",
    )  # fmt: skip
    parser.add_argument(
        "--distillation", type=distillation_weight, default=0.0,
        help="shrink's distillation weight, or 'auto' (its default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--refine", type=int, default=SHRINK_REFINE,
        help=f"shrink's refine (its default: {SHRINK_REFINE}; near-miss trials fine-tuned "
        "longer, twice a trial's epochs; their epochs are taken from its trials')",
    )  # fmt: skip
    parser.add_argument(
        "--shrink-kernel-size", nargs="*", type=int, default=None,
        help="shrink's kernel_size caps (its default: from 3 up to the model's largest)",
    )  # fmt: skip
    parser.add_argument(
        "--shrink-epochs", nargs=2, type=int, default=None, metavar=("PENALIZED", "FINETUNE"),
        help="a shrink trial's epochs (default: a third of --epochs, a quarter of it penalized)",
    )  # fmt: skip
    parser.add_argument(
        "--widths", nargs="+", type=float, default=None,
        help="regsearch's width factors per coupled group (default: shrink's own; scratch: "
        "1, 1/2, 1/4, 1/8)",
    )  # fmt: skip
    args = parser.parse_args()
    print(
        f"digits, {BASES[args.case]}; {args.trials} trials; "
        f"{args.epochs} epochs per from-scratch trial; {args.seeds} seeds"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Skipping variable loading")
        results = [run_seed(s, args) for s in range(args.first_seed, args.first_seed + args.seeds)]
    print("\nmedian over seeds:")
    for key in results[0]:
        medians = {k: statistics.median(r[key][k] for r in results) for k in results[0][key]}
        print(f"  {key:<24} " + "  ".join(f"{k} {v:,.3f}" for k, v in medians.items()))
    for key, column, target, sense in TARGETS:
        if key in results[0]:
            value = statistics.median(r[key][column] for r in results)
            met = value <= target if sense == "<=" else value >= target
            print(f"target {key} {column} {sense} {target:.2f}: {value:.3f} "
                  f"{'met' if met else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
