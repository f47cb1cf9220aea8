"""The trimmed model where it runs: LiteRT latency, int8, and a search by measured latency.

Three measurements, side by side in one run (TensorFlow backend, LiteRT interpreter,
batch 1, 1 thread, XNNPack):

(a) ``bench_trim.py``'s Conv1D and Conv2D stacks before and after ``regsearch.trim``:
    LiteRT latency speed-up / MAC reduction (target >= 0.8 for both; in Keras they
    are 0.76 and 0.57). Rounds interleave the models; the median of the rounds'
    latencies (each ``deployment_cost``'s fastest sample) is reported. Also the
    trimmed models with ``trim(..., round_to=4)`` and ``round_to=8``, and a Conv2D
    stack whose trim keeps 27 of 48 filters (a count XNNPack's 4- and 8-channel
    tiles do not divide).
(b) The demo's chosen model (``regsearch demo``, run here unless ``--demo-dir`` names
    the folder of a finished run) in int8: test accuracy within 1 point of its
    float accuracy, and a file at most 0.3x the float file; the same ratio for the
    smallest files ``export`` writes (batch 1, ``io_dtype="int8"``,
    ``strip_strings=True``, the float file stripped too), what the int8 file holds
    besides weights, and the ratios of the base model and a mid-size one (the base
    narrowed to half its widths).
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
    """Median over ``rounds`` of each model's LiteRT latency (ms, ``deployment_cost``'s
    fastest sample), the models measured in turn in every round."""
    times: list[list[float]] = [[] for _ in models]
    for _ in range(rounds):
        for i, model in enumerate(models):
            times[i].append(regsearch.deployment_cost(model, repeats=repeats).latency_ms)
    return [statistics.median(t) for t in times]


def odd_conv2d_stack(rng: np.random.Generator) -> keras.Model:
    """``conv2d_stack`` with 5 more dead filters per layer: trim keeps 27 of 48."""
    model = conv2d_stack(rng)
    for layer in model.layers[:3]:
        kernel, bias = layer.get_weights()
        live = np.flatnonzero(np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0) > 0)
        dead = live[:5]
        kernel[..., dead] = 0.0
        bias[dead] = -1.0  # relu(-1) = 0: removable
        layer.set_weights([kernel, bias])
    return model


def filter_counts(model: keras.Model) -> list[int]:
    return [layer.filters for layer in model.layers if hasattr(layer, "filters")]


def part_a(rounds: int) -> None:
    print("(a) trimmed stacks in LiteRT (batch 1, 1 thread)")
    rng = np.random.default_rng(0)
    stacks = (("conv1d", conv1d_stack), ("conv2d", conv2d_stack), ("conv2d-27", odd_conv2d_stack))
    for name, build in stacks:
        model = build(rng)
        trimmed, report = regsearch.trim(model)
        rounded = [regsearch.trim(model, round_to=n)[0] for n in (4, 8)]
        before, after, *after_rounded = interleaved_latency(
            [model, trimmed, *rounded], rounds, repeats=20
        )
        mac_ratio = report.macs_before / report.macs_after
        ratio = before / after / mac_ratio
        print(
            f"  {name}: MACs x{mac_ratio:.2f} fewer, latency {before:.3f} -> {after:.3f} ms "
            f"(x{before / after:.2f}); speed-up / MAC reduction {ratio:.2f} "
            f"(target >= 0.8: {'met' if ratio >= 0.8 else 'missed'})"
        )
        for n, small, ms in zip((4, 8), rounded, after_rounded):
            macs = regsearch.trimmed_size(small, 0.0).macs_before  # as it is, dead kept
            print(
                f"    round_to={n}: filters {filter_counts(trimmed)} -> {filter_counts(small)}, "
                f"{macs / report.macs_after:.2f}x the MACs, latency {ms:.3f} ms "
                f"({ms / after:.2f}x the unrounded trimmed model's; speed-up / MAC "
                f"reduction {before / ms / (report.macs_before / macs):.2f})"
            )


def litert_accuracy(path: Path, x: np.ndarray, y: np.ndarray, batch_size: int = 32) -> float:
    outputs = regsearch.deploy.predict(path, x, batch_size=batch_size)
    return float(np.mean(outputs.argmax(axis=1) == y))


def file_parts(content: bytes) -> dict[str, int]:
    """Bytes of a LiteRT file: weight buffers, names and signatures, and the rest."""
    from ai_edge_litert.tools import flatbuffer_utils  # LiteRT's flatbuffer reader

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    data = sum(len(b.data) for b in model.buffers if b.data is not None)
    metadata = {m.buffer for m in model.metadata or []}
    meta = sum(len(model.buffers[i].data) for i in metadata)
    names = sum(len(t.name or b"") for g in model.subgraphs for t in g.tensors)
    return {
        "file": len(content),
        "weights": data - meta,
        "metadata": meta,
        "names": names,
        "rest": len(content) - data - names,
        "tensors": sum(len(g.tensors) for g in model.subgraphs),
        "operators": sum(len(g.operators) for g in model.subgraphs),
    }


def export_pair(
    model: keras.Model, folder: Path, tag: str, calibration: np.ndarray, smallest: bool
) -> tuple[Path, Path]:
    """The float and int8 files of ``model``: as exported by default, or the smallest ones."""
    options = {"batch_size": 1, "strip_strings": True} if smallest else {}
    float_path = regsearch.export(model, folder / f"{tag}_float.tflite", **options)
    int8_path = regsearch.export(
        model,
        folder / f"{tag}_int8.tflite",
        quantize="int8",
        representative_data=calibration,
        **({**options, "io_dtype": "int8"} if smallest else {}),
    )
    return float_path, int8_path


def part_b(demo_dir: Path | None, seed: int) -> None:
    print("(b) the demo's chosen model in int8")
    if demo_dir is None:
        demo_dir = Path(tempfile.mkdtemp()) / "demo"
        command = [sys.executable, "-m", "regsearch", "demo", "--out", str(demo_dir)]
        subprocess.run([*command, "--seed", str(seed)], check=True, capture_output=True)
    model = keras.saving.load_model(demo_dir / "best.keras")
    x_train, _, _, _, x_test, y_test = digits(seed)
    calibration = x_train[:200]
    folder = Path(tempfile.mkdtemp())
    float_path, int8_path = export_pair(model, folder, "chosen", calibration, smallest=False)
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
    small_float, small_int8 = export_pair(model, folder, "small", calibration, smallest=True)
    small_ratio = small_int8.stat().st_size / small_float.stat().st_size
    print(
        f"  smallest files (batch 1, int8 inputs/outputs, strings stripped): float "
        f"{small_float.stat().st_size:,} B, int8 {small_int8.stat().st_size:,} B "
        f"({small_ratio:.2f}x; target <= 0.3x: {'met' if small_ratio <= 0.3 else 'missed'}); "
        f"int8 test accuracy {litert_accuracy(small_int8, x_test, y_test, batch_size=1):.4f}"
    )
    for label, path in (("float", float_path), ("int8", int8_path), ("smallest int8", small_int8)):
        parts = file_parts(path.read_bytes())
        print(
            f"    {label} file: {parts['file']:,} B = weights and constants "
            f"{parts['weights']:,} + metadata {parts['metadata']:,} + tensor names "
            f"{parts['names']:,} + operators, tensors, quantization, signatures and "
            f"alignment {parts['rest']:,} ({parts['tensors']} tensors, "
            f"{parts['operators']} operators)"
        )
    task = TASKS["digits"]
    keras.utils.set_random_seed(seed)
    base = task.model()
    mid = regsearch.trimming.narrow(base, width=dict.fromkeys(["conv1", "conv2"], 0.5))
    for label, other in (("base", base), ("mid-size (half widths)", mid)):
        ratios = []
        for smallest in (False, True):
            pair = export_pair(other, folder, "other", calibration, smallest=smallest)
            ratios.append(pair[1].stat().st_size / pair[0].stat().st_size)
        print(
            f"  {label} model ({other.count_params():,} weights): int8 / float "
            f"{ratios[0]:.3f}x by default, {ratios[1]:.3f}x smallest"
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
    models = {}
    _, _, _, _, x_test, y_test = digits(seed)
    for size in ("latency", "macs"):
        tuner = demo_search(size, directory, trials, epochs, seed)
        trial_id = regsearch.select(tuner, TOLERANCE, metric="val_accuracy", size=size)
        model = regsearch.best_model(tuner, trial_id=trial_id)
        accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))
        macs = regsearch.trimmed_size(model, 0.0).macs
        chosen[size] = (model, accuracy, macs, trial_id)
        models[size] = model
        for n in (4, 8):  # the same trial, its channel counts rounded
            models[f"{size}, round_to={n}"] = regsearch.best_model(
                tuner, trial_id=trial_id, round_to=n
            )
    measured = dict(zip(models, interleaved_latency(list(models.values()), rounds, repeats=200)))
    latency = [measured["latency"], measured["macs"]]
    for (size, (_, accuracy, macs, trial_id)), ms in zip(chosen.items(), latency):
        print(
            f"  size={size!r:<9}: trial {trial_id}, test accuracy {accuracy:.4f}, "
            f"{macs:,} MACs, LiteRT latency {ms * 1e3:.2f} us"
        )
    faster = latency[0] <= latency[1] * (1 + LATENCY_NOISE)
    equal = chosen["latency"][1] >= chosen["macs"][1] - TOLERANCE
    print(
        f"  latency search at least as fast ({latency[0] / latency[1]:.2f}x the time) at "
        f"equal accuracy: {'met' if faster and equal else 'missed'}"
    )
    for name, model in models.items():
        if "round_to" in name:
            size = name.split(",")[0]
            print(
                f"    {name}: filters {filter_counts(chosen[size][0])} -> "
                f"{filter_counts(model)}, {measured[name] * 1e3:.2f} us "
                f"({measured[name] / measured[size]:.2f}x)"
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
