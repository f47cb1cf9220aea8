"""The trimmed model where it runs: LiteRT latency, int8, and a search by measured latency.

Three measurements, side by side in one run (TensorFlow backend, LiteRT interpreter,
batch 1, 1 thread, XNNPack):

(a) ``bench_trim.py``'s Conv1D and Conv2D stacks before and after ``regsearch.trim``:
    LiteRT latency speed-up / MAC reduction (target >= 0.8 for both; in Keras they
    are 0.76 and 0.57). Rounds interleave the two models; the median of the rounds'
    medians is reported.
(b) The demo's chosen model (``regsearch demo``, run here unless ``--demo-dir`` names
    the folder of a finished run) in int8: test accuracy within 1 point of its
    float accuracy, and a file at most 0.3x the float file.
(c) A ``size="latency"`` search and a ``size="macs"`` search on digits (the demo's
    model and space, ParetoSearch, the same seed and budget); from each, the
    smallest trial (by its own size) within 1 point of validation accuracy of its
    best; target: the latency search's model at least as fast (LiteRT, measured
    interleaved here), at a test accuracy within 1 point of the other's.

Run: ``python benchmarks/bench_deploy.py [--parts a b c] [--trials 8 --epochs 6]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from bench_trim import conv1d_stack, conv2d_stack
from tasks import FACTORS, TASKS, digits

import regsearch

TOLERANCE = 0.01


def interleaved_latency(models: list[keras.Model], rounds: int, repeats: int) -> list[float]:
    """Median over ``rounds`` of each model's median LiteRT latency (ms), interleaved."""
    times: list[list[float]] = [[] for _ in models]
    for _ in range(rounds):
        for i, model in enumerate(models):
            times[i].append(regsearch.deployment_cost(model, repeats=repeats).latency_ms)
    return [statistics.median(t) for t in times]


def part_a(rounds: int) -> None:
    print("(a) trimmed stacks in LiteRT (batch 1, 1 thread)")
    rng = np.random.default_rng(0)
    for name, build in (("conv1d", conv1d_stack), ("conv2d", conv2d_stack)):
        model = build(rng)
        trimmed, report = regsearch.trim(model)
        before, after = interleaved_latency([model, trimmed], rounds, repeats=20)
        mac_ratio = report.macs_before / report.macs_after
        ratio = before / after / mac_ratio
        print(
            f"  {name}: MACs x{mac_ratio:.2f} fewer, latency {before:.2f} -> {after:.2f} ms "
            f"(x{before / after:.2f}); speed-up / MAC reduction {ratio:.2f} "
            f"(target >= 0.8: {'met' if ratio >= 0.8 else 'missed'})"
        )


def litert_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(regsearch.deploy.predict(path, x).argmax(axis=1) == y))


def part_b(demo_dir: Path | None, seed: int) -> None:
    print("(b) the demo's chosen model in int8")
    if demo_dir is None:
        demo_dir = Path(tempfile.mkdtemp()) / "demo"
        command = [sys.executable, "-m", "regsearch", "demo", "--out", str(demo_dir)]
        subprocess.run([*command, "--seed", str(seed)], check=True, capture_output=True)
    model = keras.saving.load_model(demo_dir / "best.keras")
    x_train, _, _, _, x_test, y_test = digits(seed)
    folder = Path(tempfile.mkdtemp())
    float_path = regsearch.export(model, folder / "float.tflite")
    int8_path = regsearch.export(
        model, folder / "int8.tflite", quantize="int8", representative_data=x_train[:200]
    )
    keras_accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))
    float_accuracy = litert_accuracy(float_path, x_test, y_test)
    int8_accuracy = litert_accuracy(int8_path, x_test, y_test)
    size_ratio = int8_path.stat().st_size / float_path.stat().st_size
    drop = 100 * (float_accuracy - int8_accuracy)
    print(
        f"  test accuracy: Keras {keras_accuracy:.4f}, LiteRT float {float_accuracy:.4f}, "
        f"int8 {int8_accuracy:.4f} ({-drop:+.2f} points; target within 1: "
        f"{'met' if drop <= 1.0 else 'missed'})\n"
        f"  file: float {float_path.stat().st_size:,} B, int8 {int8_path.stat().st_size:,} B "
        f"({size_ratio:.2f}x; target <= 0.3x: {'met' if size_ratio <= 0.3 else 'missed'})"
    )


def demo_search(size: str, directory: Path, trials: int, epochs: int, seed: int) -> object:
    """The demo's search (its model, space and compile settings) scored by ``size``."""
    task = TASKS["digits"]
    keras.utils.set_random_seed(seed)
    hypermodel = regsearch.RegSearchHyperModel(
        task.model(),
        regsearch.SearchSpace.for_size("conv*", width=FACTORS, kernel_size=task.kernel_sizes),
        compile=task.compile_arguments(),
        finetune_epochs=max(1, epochs // 2),
    )
    objective = regsearch.Objective("val_accuracy", size=size, size_weight=0.01, tradeoff="product")
    tuner = regsearch.ParetoSearch(
        hypermodel,
        objective=objective,
        max_trials=trials,
        seed=seed,
        start_from_defaults=True,
        directory=str(directory),
        project_name=size,
        overwrite=True,
    )
    x_train, y_train, x_val, y_val, _, _ = digits(seed)
    tuner.search(
        x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=64, verbose=0
    )
    return tuner


# Two measurements of one model differ by a few percent: within this, a tie.
LATENCY_NOISE = 0.05


def part_c(trials: int, epochs: int, seed: int, rounds: int) -> None:
    print(f"(c) size='latency' vs size='macs' search, digits, {trials} trials x {epochs} epochs")
    directory = Path(tempfile.mkdtemp())
    chosen = {}
    _, _, _, _, x_test, y_test = digits(seed)
    for size in ("latency", "macs"):
        tuner = demo_search(size, directory, trials, epochs, seed)
        trial_id = regsearch.select(tuner, TOLERANCE, metric="val_accuracy", size=size)
        model = regsearch.best_model(tuner, trial_id=trial_id)
        accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))
        macs = regsearch.trimmed_size(model, 0.0).macs
        chosen[size] = (model, accuracy, macs, trial_id)
    latency = interleaved_latency([chosen["latency"][0], chosen["macs"][0]], rounds, repeats=200)
    for (size, (_, accuracy, macs, trial_id)), ms in zip(chosen.items(), latency):
        print(
            f"  size={size!r:<9}: trial {trial_id}, test accuracy {accuracy:.4f}, "
            f"{macs:,} MACs, LiteRT latency {ms * 1e3:.1f} us"
        )
    faster = latency[0] <= latency[1] * (1 + LATENCY_NOISE)
    equal = chosen["latency"][1] >= chosen["macs"][1] - TOLERANCE
    print(
        f"  latency search at least as fast ({latency[0] / latency[1]:.2f}x the time) at "
        f"equal accuracy: {'met' if faster and equal else 'missed'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    parser.add_argument("--demo-dir", type=Path, default=None, help="a finished demo's folder")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    runtime = regsearch.deployment_cost(
        keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), repeats=1
    ).runtime
    print(f"backend {keras.backend.backend()}, LiteRT runtime {runtime}")
    if "a" in args.parts:
        part_a(args.rounds)
    if "b" in args.parts:
        part_b(args.demo_dir, args.seed)
    if "c" in args.parts:
        part_c(args.trials, args.epochs, args.seed, args.rounds)


if __name__ == "__main__":
    main()
