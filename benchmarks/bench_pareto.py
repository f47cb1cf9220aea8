"""Hypervolume of the (val accuracy, trimmed MACs) front: ParetoSearch vs keras-tuner (issue 20).

The demo's digits task, model and space (``--space demo``, the default): the
demo's Conv2D model and splits, ``SearchSpace.for_size("conv*", width={1, 1/2,
1/4, 1/8}, kernel_size={1, 3, 5})``, SGD(0.1, momentum 0.9), batch 64, trim
threshold 1e-3, ``--epochs`` penalized epochs then 5 fine-tune epochs per trial,
and the demo's objective (validation accuracy against trimmed MACs, ``size_weight=
0.01``, ``tradeoff="product"``); these values restate ``regsearch demo``'s, which
has no public API for them. ``--space old`` is the space measured before
2026-12-04 (``SearchSpace("conv*", kernel=[...], strength=(1e-4, 3e-2))``, Adam,
no fine-tune, ``size_weight=0.3``). Each seed runs, on the same data split, one
after the other (``--tuners``):

- ``pareto``: ``ParetoSearch`` (Optuna's multi-objective sampler on validation
  accuracy and trimmed MACs; with the demo space its first trial is the model as
  given, ``start_from_defaults=True``, as in the demo; ``--distinct-choices`` trains
  each combination of widths and kernel sizes once while an untried one is left),
- ``bayesian``: ``BayesianOptimization`` on the weighted score,
- ``random``: ``RandomSearch`` on the weighted score,
- ``hyperband``: ``ParetoHyperband`` (multi-fidelity: keras-tuner's Hyperband
  brackets up to ``--epochs`` epochs, or ``--hyperband-max-epochs``, ``--factor`` 3,
  promoting by non-dominated sorting; with ``--hyperband-finetune last_round``, its
  default, only the trials trained to those max epochs fine-tune, ``every_round``
  fine-tunes every trial; ``--hyperband-brackets k`` runs only the ``k`` most
  exploratory brackets, ``all`` by default).

Two hypervolumes of each search's front, over every finished trial:

- **issue 20's**: (val accuracy, trimmed MACs) on a linear MACs axis, reference
  point accuracy 0 and 1.1x the untrimmed model's MACs (``regsearch.hypervolume``).
  Its largest possible value is 1.0 x 1.1 x the base MACs (a perfect model of
  zero MACs), so a ratio to another search is bounded by that maximum over the
  other's hypervolume: the bench prints that bound per seed.
- **log-MACs**: ``bench_vs_architecture_search.hypervolume``: accuracy vs
  log10(trimmed MACs / base MACs) above the reference (accuracy 0.90, base MACs),
  which rewards every decade of MACs removed; once on validation accuracy (the
  same points as issue 20's) and once on held-out test accuracy (each finished
  trial's trained model evaluated on the test split).

Targets (issue 20), each applied to both hypervolumes and reported met/missed, per
seed and on the medians over seeds: ParetoSearch's hypervolume >= 1.2x the better
of BayesianOptimization and RandomSearch at 16 trials; ParetoHyperband's
hypervolume >= ParetoSearch's in <= 0.5x its wall time (the whole search); no
waste: no collapsed trial (one whose penalties emptied a layer) trains past the
epoch where it collapsed. Also printed: wall and oracle time per trial against
BayesianOptimization's (target <= 1.05, an older one). Per-seed results print as
each seed ends, so an interrupted run still reports the seeds it finished;
``--first-seed`` runs later seeds in a process of their own.

    nice -n 10 python benchmarks/bench_pareto.py [--trials 16] [--epochs 10] [--seeds 3]
        [--first-seed 0] [--tuners pareto,bayesian,random,hyperband] [--space demo]
        [--factor 3] [--hyperband-finetune last_round] [--hyperband-brackets all]
        [--hyperband-max-epochs EPOCHS]
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
from bench_vs_architecture_search import REFERENCE_ACCURACY, hypervolume
from sklearn.exceptions import ConvergenceWarning
from tasks import FACTORS, TASKS, digits

import regsearch

OBJECTIVES = ("val_accuracy", "trimmed_macs")
TUNERS = ("pareto", "bayesian", "random", "hyperband")
SPACES = ("demo", "old")
FINETUNE_MODES = ("last_round", "every_round")  # ParetoHyperband(finetune=...)
TARGET = 1.2  # issue 20: ParetoSearch's hypervolume / the better other's
TASK = TASKS["digits"]  # the demo's model (two 5x5 Conv2D of 16 filters), splits, SGD
# The demo's settings (``regsearch demo``), restated: the bench uses public names only.
DEMO_TRIM_THRESHOLD = 1e-3
DEMO_FINETUNE_EPOCHS = 5
DEMO_BATCH_SIZE = 64
# The measures: issue 20's (linear MACs), and log-MACs on validation and test accuracy.
MEASURES = ("issue", "log_val", "log_test")
LABELS = {
    "issue": "issue 20 (val acc x linear MACs, ref (0, 1.1x base))",
    "log_val": f"log-MACs (val acc x log10 MACs, ref ({REFERENCE_ACCURACY}, base))",
    "log_test": f"log-MACs (test acc x log10 MACs, ref ({REFERENCE_ACCURACY}, base))",
}


def _objective(space: str) -> regsearch.Objective:
    if space == "old":
        return regsearch.Objective("val_accuracy", size="macs", size_weight=0.3)
    return regsearch.Objective("val_accuracy", size_weight=0.01, size="macs", tradeoff="product")


def _hypermodel(space: str) -> regsearch.RegSearchHyperModel:
    if space == "old":
        return regsearch.RegSearchHyperModel(
            TASK.model(),
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
    return regsearch.RegSearchHyperModel(
        TASK.model(),
        regsearch.SearchSpace.for_size("conv*", width=FACTORS, kernel_size=TASK.kernel_sizes),
        compile=TASK.compile_arguments(),
        trim_threshold=DEMO_TRIM_THRESHOLD,
        finetune_epochs=DEMO_FINETUNE_EPOCHS,
    )


def _tuner(name: str, args: argparse.Namespace, seed: int, directory: str) -> keras_tuner.Tuner:
    common: dict[str, Any] = {
        "objective": _objective(args.space),
        "max_trials": args.trials,
        "seed": seed,
        "directory": directory,
        "project_name": name,
    }
    hypermodel = _hypermodel(args.space)
    if name == "pareto":
        if args.space == "old":
            return regsearch.ParetoSearch(hypermodel, sampler="tpe", **common)
        return regsearch.ParetoSearch(
            hypermodel,
            start_from_defaults=True,
            distinct_choices=args.distinct_choices,
            **common,
        )
    if name == "hyperband":  # its budget is its brackets: max_epochs = --epochs, --factor
        del common["max_trials"]
        return regsearch.ParetoHyperband(
            hypermodel,
            max_epochs=args.hyperband_max_epochs or args.epochs,
            factor=args.factor,
            brackets=args.hyperband_brackets,
            finetune=args.hyperband_finetune,
            **common,
        )
    if name == "bayesian":
        return keras_tuner.BayesianOptimization(
            hypermodel, num_initial_points=min(4, args.trials), **common
        )
    return keras_tuner.RandomSearch(hypermodel, **common)


def _timed_oracle(oracle: keras_tuner.Oracle) -> list[float]:
    """Seconds spent in the oracle's create_trial and end_trial (the tuner's own cost)."""
    spent: list[float] = []
    for method in ("create_trial", "end_trial"):
        original = getattr(oracle, method)

        def timed(*args: Any, _original: Any = original) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args)
            finally:
                spent.append(time.perf_counter() - start)

        setattr(oracle, method, timed)
    return spent


class _EpochsTrained(keras.callbacks.Callback):
    """The epochs each fit trained, in order; keras-tuner's per-trial copies share them."""

    def __init__(self, counts: list[int]) -> None:
        super().__init__()
        self.counts = counts

    def __deepcopy__(self, memo: dict[int, Any]) -> _EpochsTrained:
        return _EpochsTrained(self.counts)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.counts.append(0)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.counts[-1] = epoch + 1


def _collapses(tuner: keras_tuner.Tuner, counts: list[int]) -> tuple[int, int]:
    """How many trials collapsed, and how many of them trained past their collapse."""
    trained = dict(zip(tuner.oracle.end_order, counts))  # one fit per trial, in order
    table = regsearch.results(tuner)
    collapsed = table[table["status"] == "COLLAPSED"]
    past = sum(
        trained.get(trial_id, 0) > epoch
        for trial_id, epoch in zip(collapsed["trial_id"], collapsed["collapsed_epoch"])
    )
    return len(collapsed), int(past)


def _epochs_trained(tuner: keras_tuner.Tuner, args: argparse.Namespace) -> tuple[int, int]:
    """Epochs the search trained (penalized and fine-tune; a Hyperband trial: its round's),
    and how many trials fine-tuned."""
    finetune = DEMO_FINETUNE_EPOCHS if args.space == "demo" else 0
    total = tuned = 0
    for row in regsearch.results(tuner).to_dict("records"):
        start = int(row.get("tuner/initial_epoch") or 0)
        if row["status"] == "COLLAPSED":
            total += int(row["collapsed_epoch"]) - start
        elif row["status"] == "COMPLETED":
            trial = tuner.oracle.trials[row["trial_id"]]
            tunes = not isinstance(tuner, regsearch.ParetoHyperband) or tuner.fine_tunes(trial)
            tuned += bool(finetune and tunes)
            total += int(row.get("tuner/epochs") or args.epochs) - start
            total += finetune if tunes else 0
    return total, tuned


def _test_accuracies(tuner: keras_tuner.Tuner, table: Any, data: tuple) -> dict[str, float]:
    """Each finished, uncollapsed trial's test accuracy (its trained model, as checkpointed)."""
    x_test, y_test = data[4:6]
    accuracies = {}
    for trial_id in table["trial_id"]:
        model = regsearch.best_model(tuner, trimmed=False, trial_id=trial_id)
        logs = model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)
        accuracies[trial_id] = float(logs["accuracy"])
    return accuracies


def _volumes(tuner: keras_tuner.Tuner, data: tuple, base_macs: int) -> dict[str, float]:
    """The three hypervolumes of ``tuner``'s finished trials (see the module docstring)."""
    table = regsearch.results(tuner, include_collapsed=False)
    table = table[table["status"] == "COMPLETED"]
    test = _test_accuracies(tuner, table, data)
    macs = [float(m) for m in table["trimmed_macs"]]
    return {
        "issue": regsearch.hypervolume(tuner, OBJECTIVES, reference=(0.0, 1.1 * base_macs)),
        "log_val": hypervolume(list(zip(table["val_accuracy"].astype(float), macs)), base_macs),
        "log_test": hypervolume([(test[t], m) for t, m in zip(table["trial_id"], macs)], base_macs),
    }


def _run(name: str, args: argparse.Namespace, seed: int, data: tuple, root: str) -> dict:
    x_train, y_train, x_val, y_val = data[:4]
    keras.utils.set_random_seed(seed)
    tuner = _tuner(name, args, seed, root)
    spent = _timed_oracle(tuner.oracle)
    counts: list[int] = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The Gaussian process of a short search often sits at a length-scale bound.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        tuner.search(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=DEMO_BATCH_SIZE,
            verbose=0,
            callbacks=[_EpochsTrained(counts)],
        )
    wall = time.perf_counter() - start
    collapsed, past = _collapses(tuner, counts)
    trials = len(tuner.oracle.trials)
    base_macs = regsearch.trimmed_size(TASK.model(), 0.0).macs_before
    epochs, tuned = _epochs_trained(tuner, args)
    return {
        **_volumes(tuner, data, base_macs),
        "wall": wall,
        "trials": trials,
        "epochs": epochs,
        "fine_tuned": tuned,
        "wall_per_trial": wall / trials,
        "oracle_per_trial": sum(spent) / trials,
        "base_macs": base_macs,
        "collapsed": collapsed,
        "trained_past_collapse": past,
    }


def _maximum(measure: str, base_macs: int) -> float:
    """The largest hypervolume ``measure`` can take: a 100%-accurate model of (at most) 1 MAC."""
    if measure == "issue":
        return 1.0 * 1.1 * base_macs
    return (1.0 - REFERENCE_ACCURACY) * math.log10(base_macs)


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def _versus_others(volumes: dict[str, float], measure: str, base_macs: int) -> str:
    """ParetoSearch / the better of BayesianOptimization and RandomSearch, and its bound."""
    other = max(volumes["bayesian"], volumes["random"])
    if other <= 0:
        return f"pareto {volumes['pareto']:.4g} vs others 0: ratio undefined"
    ratio = volumes["pareto"] / other
    bound = _maximum(measure, base_macs) / other
    return (
        f"pareto {volumes['pareto']:.4g} / better other {other:.4g} = x{ratio:.3f} "
        f"(target >= {TARGET}: {_met(ratio >= TARGET)}; largest attainable x{bound:.3f}"
        f"{', so the target is unattainable' if bound < TARGET else ''})"
    )


def _versus_pareto(volumes: dict[str, float], walls: dict[str, float]) -> str:
    """ParetoHyperband / ParetoSearch: hypervolume and wall time."""
    volume = volumes["hyperband"] / max(volumes["pareto"], 1e-12)
    wall = walls["hyperband"] / walls["pareto"]
    return (
        f"hyperband / pareto: hypervolume x{volume:.3f} (target >= 1), wall x{wall:.3f} "
        f"(target <= 0.5): {_met(volume >= 1.0 and wall <= 0.5)}"
    )


def _compare(runs: dict[str, list[dict]], pick: Any, title: str) -> None:
    """Print the targets on the values ``pick`` takes from each arm's runs."""
    base_macs = next(iter(runs.values()))[0]["base_macs"]
    print(title, flush=True)
    walls = {name: pick([r["wall"] for r in rs]) for name, rs in runs.items()}
    for measure in MEASURES:
        volumes = {name: pick([r[measure] for r in rs]) for name, rs in runs.items()}
        print(f"  {LABELS[measure]}:")
        print("    " + ", ".join(f"{name} {v:.4g}" for name, v in volumes.items()))
        if {"pareto", "bayesian", "random"} <= set(runs):
            print(f"    {_versus_others(volumes, measure, base_macs)}")
        if {"pareto", "hyperband"} <= set(runs):
            print(f"    {_versus_pareto(volumes, walls)}")
    print(
        "  wall: "
        + ", ".join(
            f"{name} {walls[name]:.0f} s ({pick([r['trials'] for r in rs]):.0f} trials, "
            f"{pick([r['epochs'] for r in rs]):.0f} epochs trained)"
            for name, rs in runs.items()
        ),
        flush=True,
    )


def _per_trial_time(runs: dict[str, list[dict]]) -> None:
    for key in ("wall_per_trial", "oracle_per_trial"):
        pareto = statistics.median(r[key] for r in runs["pareto"])
        bayes = statistics.median(r[key] for r in runs["bayesian"])
        print(
            f"{key}: pareto {pareto:.4f} s, bayesian {bayes:.4f} s, ratio {pareto / bayes:.3f} "
            f"(target <= 1.05: {_met(pareto / bayes <= 1.05)})"
        )


def _brackets(text: str) -> int | None:
    """``--hyperband-brackets``: ``all`` (``None``) or a positive integer."""
    if text == "all":
        return None
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'all' or an integer >= 1, got {text!r}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10, help="penalized epochs per trial")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, ...")
    parser.add_argument("--tuners", default=",".join(TUNERS), help="comma-separated arms")
    parser.add_argument("--space", default="demo", choices=SPACES)
    parser.add_argument("--factor", type=int, default=3, help="the hyperband arm's factor")
    parser.add_argument(
        "--distinct-choices",
        action="store_true",
        help="the pareto arm trains each combination of widths and kernel sizes once while "
        "an untried one is left (ParetoSearch's distinct_choices; the demo space only)",
    )
    parser.add_argument(
        "--hyperband-finetune",
        default="last_round",
        choices=FINETUNE_MODES,
        help="which of the hyperband arm's trials fine-tune (ParetoHyperband's finetune)",
    )
    parser.add_argument(
        "--hyperband-max-epochs",
        type=int,
        default=None,
        help="the hyperband arm's max_epochs (default: --epochs)",
    )
    parser.add_argument(
        "--hyperband-brackets",
        type=_brackets,
        default=None,
        help="how many of the hyperband arm's brackets run, from the most exploratory one "
        "(ParetoHyperband's brackets; 'all', the default, runs every bracket)",
    )
    args = parser.parse_args()
    tuners = [name.strip() for name in args.tuners.split(",") if name.strip()]
    unknown = sorted(set(tuners) - set(TUNERS))
    if unknown:
        parser.error(f"--tuners: unknown {unknown}; choose from {list(TUNERS)}")
    finetune = DEMO_FINETUNE_EPOCHS if args.space == "demo" else 0
    print(
        f"space {args.space}: {args.trials} trials x ({args.epochs} + {finetune} fine-tune) "
        f"epochs, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, "
        f"arms {tuners}",
        flush=True,
    )
    if "hyperband" in tuners:
        print(
            f"hyperband: max_epochs {args.hyperband_max_epochs or args.epochs}, "
            f"factor {args.factor}, "
            f"finetune {args.hyperband_finetune!r}, brackets "
            f"{'all' if args.hyperband_brackets is None else args.hyperband_brackets}",
            flush=True,
        )
    runs: dict[str, list[dict]] = {name: [] for name in tuners}
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            data = digits(seed)
            for name in tuners:
                result = _run(name, args, seed, data, os.path.join(root, f"s{seed}"))
                runs[name].append(result)
                print(
                    f"seed {seed} {name:9s} hypervolume issue {result['issue']:.4g} "
                    f"log-val {result['log_val']:.4f} log-test {result['log_test']:.4f} "
                    f"wall {result['wall']:.1f} s ({result['trials']} trials, "
                    f"{result['wall_per_trial']:.2f} s each; {result['epochs']} epochs "
                    f"trained, {result['fine_tuned']} trials fine-tuned) "
                    f"oracle/trial {result['oracle_per_trial'] * 1000:.0f} ms "
                    f"collapsed {result['collapsed']}",
                    flush=True,
                )
            single = {name: [rs[-1]] for name, rs in runs.items()}
            _compare(single, lambda values: values[0], f"seed {seed}:")
    base_macs = next(iter(runs.values()))[0]["base_macs"]
    print(f"\nbase model {base_macs} MACs; medians over {args.seeds} seeds")
    _compare(runs, statistics.median, "median over seeds:")
    if {"pareto", "bayesian"} <= set(runs):
        _per_trial_time(runs)
    collapsed = sum(r["collapsed"] for rs in runs.values() for r in rs)
    past = sum(r["trained_past_collapse"] for rs in runs.values() for r in rs)
    print(
        f"No waste: {collapsed} collapsed trials, {past} trained past their collapse "
        f"(target 0: {_met(past == 0)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
