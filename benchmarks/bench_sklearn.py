"""``fit`` wall time: RegSearchClassifier vs keras.wrappers.SKLearnClassifier.

The search is reduced to one fixed configuration (one trial, ``kernel=["none"]``,
no trimming), so both estimators train the same model, built by the same
function, on the same data, for the same epochs, batch size and validation
fraction. What remains is regsearch's overhead: keras-tuner's trial bookkeeping
and best-epoch checkpoint, the score callback (trimmed size at every epoch end)
and the data-loss metric, and reloading the best epoch. Runs alternate; the
median of each is compared. Target: ratio <= 1.10.

    python benchmarks/bench_sklearn.py [--repeats 5] [--samples 20000] [--epochs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
from keras.wrappers import SKLearnClassifier
from sklearn.datasets import make_classification

import regsearch

BATCH_SIZE = 32
VALIDATION_SPLIT = 0.2


def build(X, y):
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(64, activation="relu", name="hidden"),
            keras.layers.Dense(y.shape[1], activation="softmax", name="output"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def regsearch_fit(X, y, epochs: int) -> float:
    estimator = regsearch.RegSearchClassifier(
        build,
        space=regsearch.SearchSpace(kernel=["none"]),
        max_trials=1,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        validation_split=VALIDATION_SPLIT,
        trim=False,
        seed=0,
    )
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def keras_fit(X, y, epochs: int) -> float:
    keras.utils.set_random_seed(0)
    estimator = SKLearnClassifier(
        build,
        fit_kwargs={
            "epochs": epochs,
            "batch_size": BATCH_SIZE,
            "validation_split": VALIDATION_SPLIT,
            "verbose": 0,
        },
    )
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    X, y = make_classification(
        n_samples=args.samples, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    X = X.astype("float32")
    regsearch_fit(X[:500], y[:500], 1)  # warm up: imports, first tracing
    keras_fit(X[:500], y[:500], 1)

    ours, theirs = [], []
    for i in range(args.repeats):
        ours.append(regsearch_fit(X, y, args.epochs))
        theirs.append(keras_fit(X, y, args.epochs))
        print(
            f"run {i + 1}: RegSearchClassifier {ours[-1]:.2f} s, "
            f"SKLearnClassifier {theirs[-1]:.2f} s"
        )
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(
        f"{args.samples} samples, {args.epochs} epochs, batch {BATCH_SIZE}, median of "
        f"{args.repeats}: RegSearchClassifier {statistics.median(ours):.2f} s, "
        f"SKLearnClassifier {statistics.median(theirs):.2f} s, ratio {ratio:.3f} "
        f"(target <= 1.10)"
    )


if __name__ == "__main__":
    main()
