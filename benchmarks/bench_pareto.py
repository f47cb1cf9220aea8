"""Hypervolume of the (val accuracy, trimmed MACs) front: ParetoSearch vs keras-tuner.

The demo's digits CNN and search space; each seed runs three searches of the same
budget on the same data split:

- ``ParetoSearch`` (Optuna's multi-objective TPE on validation accuracy and trimmed MACs),
- ``BayesianOptimization`` on the weighted score (``Objective(size_weight=0.3)``),
- ``RandomSearch``;
- ``ParetoHyperband`` (multi-fidelity: keras-tuner's Hyperband brackets up to
  ``--epochs`` epochs, factor 3, promoting by non-dominated sorting; issue 20).

The hypervolume of each search's front uses one fixed reference point: accuracy 0
and 1.1x the untrimmed model's MACs (so that an untrimmed trial still counts).
Targets: ParetoSearch's median hypervolume >= 1.1x the better of the other two
medians; per-trial time (wall and oracle) <= 1.05x BayesianOptimization's; no
waste (issue 20): no collapsed trial (one whose penalties emptied a layer) trains
past the epoch where it collapsed; multi-fidelity (issue 20): ParetoHyperband's
hypervolume >= ParetoSearch's in <= 0.5x its wall time (the whole search).

    nice -n 5 python benchmarks/bench_pareto.py [--trials 16] [--epochs 10] [--seeds 3]
        [--tuners pareto,bayesian,random,hyperband]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import keras_tuner
from tasks import TASKS, digits

import regsearch

OBJECTIVES = ("val_accuracy", "trimmed_macs")
TUNERS = ("pareto", "bayesian", "random", "hyperband")


def _hypermodel() -> regsearch.RegSearchHyperModel:
    return regsearch.RegSearchHyperModel(
        TASKS["digits"].model(),
        regsearch.SearchSpace(
            "conv*", kernel=["none", "l1", "kernel_length", "group_lasso"], strength=(1e-4, 3e-2)
        ),
        compile={
            "optimizer": keras.optimizers.Adam(0.01),
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        trim_threshold=5e-3,
    )


def _tuner(name: str, trials: int, epochs: int, seed: int, directory: str) -> keras_tuner.Tuner:
    objective = regsearch.Objective("val_accuracy", size="macs", size_weight=0.3)
    common: dict[str, Any] = {
        "objective": objective,
        "max_trials": trials,
        "seed": seed,
        "directory": directory,
        "project_name": name,
    }
    if name == "pareto":
        return regsearch.ParetoSearch(_hypermodel(), sampler="tpe", **common)
    if name == "hyperband":  # its budget is its brackets: max_epochs = --epochs, factor 3
        del common["max_trials"]
        return regsearch.ParetoHyperband(_hypermodel(), max_epochs=epochs, factor=3, **common)
    if name == "bayesian":
        return keras_tuner.BayesianOptimization(
            _hypermodel(), num_initial_points=min(4, trials), **common
        )
    return keras_tuner.RandomSearch(_hypermodel(), **common)


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


def _run(name: str, args: argparse.Namespace, seed: int, data: tuple, root: str) -> dict:
    x_train, y_train, x_val, y_val = data
    keras.utils.set_random_seed(seed)
    tuner = _tuner(name, args.trials, args.epochs, seed, root)
    spent = _timed_oracle(tuner.oracle)
    counts: list[int] = []
    start = time.perf_counter()
    tuner.search(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        verbose=0,
        callbacks=[_EpochsTrained(counts)],
    )
    wall = time.perf_counter() - start
    collapsed, past = _collapses(tuner, counts)
    trials = len(tuner.oracle.trials)
    macs = regsearch.trimmed_size(TASKS["digits"].model(), 0.0).macs_before
    return {
        "hypervolume": regsearch.hypervolume(tuner, OBJECTIVES, reference=(0.0, 1.1 * macs)),
        "wall": wall,
        "trials": trials,
        "wall_per_trial": wall / trials,
        "oracle_per_trial": sum(spent) / trials,
        "reference_macs": macs,
        "collapsed": collapsed,
        "trained_past_collapse": past,
    }


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.4g} (range {min(values):.4g} .. {max(values):.4g})"


def _compare_with_keras_tuner(runs: dict[str, list[dict]], medians: dict[str, float]) -> None:
    ratio = medians["pareto"] / max(medians["bayesian"], medians["random"], 1e-12)
    print(f"ParetoSearch / best other (median hypervolume): {ratio:.3f} (target >= 1.1)")
    for key in ("wall_per_trial", "oracle_per_trial"):
        pareto = statistics.median(r[key] for r in runs["pareto"])
        bayes = statistics.median(r[key] for r in runs["bayesian"])
        print(
            f"{key}: pareto {pareto:.4f} s, bayesian {bayes:.4f} s, ratio {pareto / bayes:.3f} "
            f"(target <= 1.05)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tuners", default=",".join(TUNERS), help="comma-separated arms")
    args = parser.parse_args()
    tuners = [name.strip() for name in args.tuners.split(",") if name.strip()]
    unknown = sorted(set(tuners) - set(TUNERS))
    if unknown:
        parser.error(f"--tuners: unknown {unknown}; choose from {list(TUNERS)}")
    runs: dict[str, list[dict]] = {name: [] for name in tuners}
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.seeds):
            data = digits(seed)[:4]
            for name in tuners:
                result = _run(name, args, seed, data, os.path.join(root, f"s{seed}"))
                runs[name].append(result)
                print(
                    f"seed {seed} {name:9s} hypervolume {result['hypervolume']:.1f} "
                    f"wall {result['wall']:.1f} s ({result['trials']} trials, "
                    f"{result['wall_per_trial']:.2f} s each) "
                    f"oracle/trial {result['oracle_per_trial'] * 1000:.0f} ms "
                    f"collapsed {result['collapsed']}",
                    flush=True,
                )
    first = next(iter(runs.values()))[0]
    print(
        f"\n{args.trials} trials x {args.epochs} epochs, {args.seeds} seeds; reference point "
        f"(accuracy 0, 1.1 x {first['reference_macs']} MACs)"
    )
    medians = {}
    for name in tuners:
        volumes = [r["hypervolume"] for r in runs[name]]
        medians[name] = statistics.median(volumes)
        print(f"{name:9s} hypervolume {_summary(volumes)}")
    if "hyperband" in runs and "pareto" in runs:
        volume = medians["hyperband"] / max(medians["pareto"], 1e-12)
        wall = statistics.median(r["wall"] for r in runs["hyperband"]) / statistics.median(
            r["wall"] for r in runs["pareto"]
        )
        met = "met" if volume >= 1.0 and wall <= 0.5 else "missed"
        print(
            f"ParetoHyperband / ParetoSearch: hypervolume {volume:.3f} (target >= 1), "
            f"wall {wall:.3f} (target <= 0.5): {met}"
        )
    if {"pareto", "bayesian", "random"} <= set(runs):
        _compare_with_keras_tuner(runs, medians)
    collapsed = sum(r["collapsed"] for rs in runs.values() for r in rs)
    past = sum(r["trained_past_collapse"] for rs in runs.values() for r in rs)
    print(
        f"No waste: {collapsed} collapsed trials, {past} trained past their collapse "
        f"(target 0: {'met' if past == 0 else 'missed'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
