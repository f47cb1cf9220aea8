"""Write the example notebooks (``examples/NN_*.ipynb``) from the cell sources below.

The committed ``.ipynb`` files are what users open; this script is how they are
edited: change a cell here, run ``python examples/_make_notebooks.py``, commit both.
``tests/test_notebooks.py`` checks that the two agree and that the notebooks are
stored without outputs.

Every notebook reads ``REGSEARCH_EXAMPLE_BUDGET``: ``small`` (2 trials of 2 epochs,
what the test suite runs) or unset (a moderate search, a few minutes on a CPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source.strip("\n"))


def code(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source.strip("\n"))


def setup(
    name: str | None,
    trials: int,
    epochs: int,
    *,
    stdlib: tuple[str, ...] = (),
    imports: tuple[str, ...] = (),
    base: tuple[str, ...] = (
        "import keras",
        "import keras_tuner",
        "import matplotlib.pyplot as plt",
        "import numpy as np",
    ),
) -> nbformat.NotebookNode:
    """The first code cell: imports (sorted as ruff's isort wants), budget switch, output folder.

    ``base`` and ``imports`` are the third-party import lines.
    """
    first = sorted(["import os", *stdlib])
    third = [*base, *imports]
    third = sorted(line for line in third if line.startswith("import ")) + sorted(
        line for line in third if line.startswith("from ")
    )
    out = (
        "# Where keras-tuner writes its trials and the notebook its saved models:\n"
        f'OUT = os.path.join("regsearch-examples", "{name}")\n'
        if name
        else ""
    )
    block = "\n".join(first) + "\n\n" + "\n".join(third) + "\n\nimport regsearch\n"
    return code(
        block
        + f"""
# "small" is what the test suite runs (a smoke test); unset means a real search.
SMALL = os.environ.get("REGSEARCH_EXAMPLE_BUDGET", "") == "small"
MAX_TRIALS, EPOCHS = (2, 2) if SMALL else ({trials}, {epochs})
{out}
keras.utils.set_random_seed(0)
print(
    f"regsearch {{regsearch.__version__}}, keras {{keras.__version__}} "
    f"({{keras.backend.backend()}} backend): {{MAX_TRIALS}} trials x {{EPOCHS}} epochs"
)
"""
    )


# ---------------------------------------------------------------------------
# 1. Quickstart
# ---------------------------------------------------------------------------
QUICKSTART = [
    md(
        """
# Quickstart: model selection on digits

regsearch searches **which regularizers to put on which layers, and how strong**, with
keras-tuner. Every trial is judged by its validation metric *and* by the size of the
model once near-zero kernel edges and dead filters are trimmed away. After the search you
read a results table and a Pareto front, pick a model, and save it as a smaller plain-Keras
model that computes the same.

This notebook runs a real search on scikit-learn's digits (8x8 images, bundled with
scikit-learn: nothing is downloaded). With the default budget it takes a few minutes on a CPU.
"""
    ),
    setup(
        "01_quickstart",
        12,
        20,
        imports=(
            "from sklearn.datasets import load_digits",
            "from sklearn.model_selection import train_test_split",
        ),
    ),
    md("## Data: digits as 8x8x1 images"),
    code(
        """
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]
y = digits.target
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
x_train, x_val, y_train, y_val = train_test_split(
    x_train, y_train, test_size=0.25, random_state=0, stratify=y_train
)
x_train.shape, x_val.shape, x_test.shape
"""
    ),
    md(
        """
## The model and the search space

A small CNN with a 5x5 first kernel. The search space says: on the layers whose name
matches `conv*`, try no regularizer, L2, group lasso (pushes whole filters to zero, so
they can be removed) or the kernel-length regularizer (pushes the outer taps of a kernel
to zero, so the kernel can be shortened), with a strength between 1e-4 and 1e-1.
"""
    ),
    code(
        """
model = keras.Sequential(
    [
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ]
)
space = regsearch.SearchSpace(
    layers="conv*",
    kernel=["none", "l2", "group_lasso", "kernel_length"],
    strength=(1e-4, 1e-1),
)
hypermodel = regsearch.RegSearchHyperModel(
    model,
    space,
    compile={
        "optimizer": keras.optimizers.Adam(0.01),
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    },
    # Kernel weights with |w| <= 1e-2 count as zero: they are trimmed away.
    trim_threshold=1e-2,
)
model.summary()
"""
    ),
    md(
        """
## The objective

`regsearch.Objective` is a keras-tuner objective named `score` (minimized):

    score = -val_accuracy + size_weight * trimmed_params / params

so with `size_weight=0.1` a model half the size may lose up to 5 points of accuracy and
still win. Any keras-tuner tuner works; here `RandomSearch`.
"""
    ),
    code(
        """
objective = regsearch.Objective("val_accuracy", size_weight=0.1)
tuner = keras_tuner.RandomSearch(
    hypermodel,
    objective=objective,
    max_trials=MAX_TRIALS,
    directory=OUT,
    project_name="search",
    overwrite=True,
    seed=0,
)
tuner.search(
    x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=64, verbose=0
)
print(f"{len(tuner.oracle.trials)} trials in {OUT}/search")
"""
    ),
    md(
        """
## The results table

One row per trial: its hyperparameters, the objective's parts at the trial's best epoch
(`val_accuracy`, `trimmed_params`, `size_ratio`, ...) and the `score`. A trial whose
penalty was so strong that a whole layer died (every filter trimmed away) fails: keras-tuner
prints its error and goes on, and the table shows it as `FAILED` with the reason in
`message`.
"""
    ),
    code(
        """
table = regsearch.results(tuner)
columns = ["trial_id", "status", "kernel", "score", "val_accuracy", "trimmed_params"]
columns += [c for c in table.columns if c.endswith("_strength")] + ["message"]
table.sort_values("score")[columns]
"""
    ),
    md(
        """
## The Pareto front: accuracy vs trimmed size

The trials that no other trial beats on both objectives at once. Pick the smallest model
whose validation accuracy is within one point of the best.
"""
    ),
    code(
        """
front = regsearch.pareto_front(tuner, ("val_accuracy", "trimmed_params"))
good_enough = front[front["val_accuracy"] >= front["val_accuracy"].max() - 0.01]
chosen = good_enough.sort_values("trimmed_params").iloc[0]["trial_id"]
print("chosen trial:", chosen)
front[["trial_id", "kernel", "val_accuracy", "trimmed_params"]]
"""
    ),
    code(
        """
fig = regsearch.plot_pareto(tuner, ("val_accuracy", "trimmed_params"), chosen=chosen)
plt.show()
"""
    ),
    md(
        """
## Trim the chosen model and save it

`regsearch.trim` builds a smaller model from stock Keras layers that computes what the
trained model computes (`report.max_abs_error` measures it on the test images).
`regsearch.best_model(tuner)` does the same for the best-scoring trial in one call.
"""
    ),
    code(
        """
trained = regsearch.best_model(tuner, trimmed=False, trial_id=chosen)
small, report = regsearch.trim(trained, hypermodel.trim_threshold, sample=x_test)
print(report)
"""
    ),
    code(
        """
def accuracy(m):
    return float(np.mean(np.argmax(m.predict(x_test, verbose=0), axis=-1) == y_test))


print(f"trained: {trained.count_params():,} params, test accuracy {accuracy(trained):.3f}")
print(f"trimmed: {small.count_params():,} params, test accuracy {accuracy(small):.3f}")
"""
    ),
    code(
        """
path = os.path.join(OUT, "chosen.keras")
small.save(path)
# A trimmed model holds only stock Keras layers: it loads where regsearch is not installed.
reloaded = keras.saving.load_model(path)
np.testing.assert_allclose(reloaded.predict(x_test, verbose=0), small.predict(x_test, verbose=0))
print("saved", path)
"""
    ),
]

# ---------------------------------------------------------------------------
# 2. Minimal kernel length
# ---------------------------------------------------------------------------
KERNEL_LENGTH = [
    md(
        """
# Finding the minimal kernel length

Signals filtered by a known 5-tap filter, plus noise. A `Conv1D` with a 31-tap kernel
fits them, but only the 5 central taps matter. The `kernel_length` regularizer pushes the
outer taps to exactly zero; `regsearch.trim` then rebuilds the layer with the short kernel
(the padding rewritten so that outputs are unchanged), and inference gets faster.

The search decides whether the kernel-length penalty (or L1, or nothing) is worth it, and
how strong, judged by validation MSE plus a small weight on the trimmed size.
"""
    ),
    setup(
        "02_kernel_length",
        10,
        15,
        stdlib=("import time",),
        imports=(),
    ),
    md("## The synthetic filter task"),
    code(
        """
TRUE_TAPS = np.array([0.25, -0.5, 1.0, -0.5, 0.25], dtype="float32")
LENGTH, TAPS = 64, 31


def filter_task(n, seed, noise=0.3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, LENGTH)).astype("float32")
    y = np.stack([np.convolve(row, TRUE_TAPS[::-1], mode="same") for row in x])
    y = y + rng.normal(scale=noise, size=y.shape)
    return x[..., None], y[..., None].astype("float32")


def long_kernel_model():
    inputs = keras.Input((LENGTH, 1))
    outputs = keras.layers.Conv1D(1, TAPS, padding="same", name="fir")(inputs)
    return keras.Model(inputs, outputs, name="long_kernel")


x_train, y_train = filter_task(512, seed=0)
x_val, y_val = filter_task(256, seed=1)
"""
    ),
    md("## Baseline: the long kernel, no regularizer"),
    code(
        """
baseline = long_kernel_model()
baseline.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
baseline.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0)
baseline_mse = baseline.evaluate(x_val, y_val, verbose=0)
print(f"baseline: {TAPS} taps, val MSE {baseline_mse:.4f}")
"""
    ),
    md("## The search"),
    code(
        """
hypermodel = regsearch.RegSearchHyperModel(
    long_kernel_model(),
    regsearch.SearchSpace(kernel=["none", "l1", "kernel_length"], strength=(1e-4, 1e-1)),
    compile={"optimizer": keras.optimizers.Adam(0.01), "loss": "mse"},
    # Adam(0.01) leaves the weights a penalty has emptied jittering around 1e-3.
    trim_threshold=3e-3,
)
tuner = keras_tuner.RandomSearch(
    hypermodel,
    objective=regsearch.Objective("val_loss", size_weight=0.05),
    max_trials=MAX_TRIALS,
    directory=OUT,
    project_name="search",
    overwrite=True,
    seed=0,
)
tuner.search(
    x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=32, verbose=0
)
regsearch.results(tuner).sort_values("score")[
    ["trial_id", "kernel", "score", "val_data_loss", "trimmed_params"]
]
"""
    ),
    md(
        """
## Trim the best model

`val_data_loss` above is the MSE without the regularization penalty, measured after the
weights that count as zero were set to zero: it is the MSE of the trimmed model.
"""
    ),
    code(
        """
trained = regsearch.best_model(tuner, trimmed=False)
small, report = regsearch.trim(trained, hypermodel.trim_threshold, sample=x_val)
print(report)
small.compile(loss="mse")
small_mse = small.evaluate(x_val, y_val, verbose=0)
print(f"val MSE: baseline {baseline_mse:.4f}, trimmed {small_mse:.4f}")
"""
    ),
    md("## Kernels before and after trimming"),
    code(
        """
def kernel_of(m):
    (conv,) = [layer for layer in m.layers if isinstance(layer, keras.layers.Conv1D)]
    return conv.get_weights()[0][:, 0, 0]


# Conv1D computes a cross-correlation: the learned kernel is the filter reversed.
truth = np.zeros(TAPS)
truth[TAPS // 2 - 2 : TAPS // 2 + 3] = TRUE_TAPS[::-1]
trimmed_kernel = kernel_of(small)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
for ax, weights, title in [
    (axes[0], kernel_of(baseline), f"no regularizer ({TAPS} taps)"),
    (axes[1], kernel_of(trained), f"best trial, trained ({TAPS} taps)"),
    (axes[2], trimmed_kernel, f"best trial, trimmed ({len(trimmed_kernel)} taps)"),
]:
    offset = (TAPS - len(weights)) // 2
    positions = np.arange(len(weights)) + offset
    ax.stem(positions, weights)
    ax.plot(np.arange(TAPS), truth, "x", color="tab:red", label="true filter")
    ax.set_title(title)
    ax.set_xlim(-1, TAPS)
    ax.set_xlabel("tap")
axes[0].legend()
fig.tight_layout()
plt.show()
"""
    ),
    md(
        """
## Latency before and after

The two models are timed alternately on the same batch (median of several runs), so
that both see the same machine load. How much of the MAC reduction turns into speed
depends on the machine; on a model this tiny, call overhead takes a share.
"""
    ),
    code(
        """
x_big = np.random.default_rng(2).normal(size=(8192, LENGTH, 1)).astype("float32")
models = {"long kernel": trained, "trimmed": small}
for m in models.values():
    m.predict_on_batch(x_big)  # warm up: build the predict function
times = {name: [] for name in models}
for _ in range(3 if SMALL else 15):
    for name, m in models.items():
        start = time.perf_counter()
        m.predict_on_batch(x_big)
        times[name].append(time.perf_counter() - start)
median = {name: float(np.median(t)) * 1e3 for name, t in times.items()}
for name, ms in median.items():
    print(f"{name:>12}: {ms:7.2f} ms per batch of {len(x_big)}")
print(
    f"speed-up x{median['long kernel'] / median['trimmed']:.2f}, "
    f"MACs x{report.macs_before / report.macs_after:.2f} fewer"
)
"""
    ),
]

# ---------------------------------------------------------------------------
# 3. Output sparsity for multilabel data
# ---------------------------------------------------------------------------
MULTILABEL = [
    md(
        """
# Output sparsity for multilabel data: at most 2 of 8 labels

Each sample carries one or two of eight labels. An unconstrained sigmoid classifier may
predict any number of them. Two ways to make it predict at most 2:

- the hard constraint: `SearchSpace(top_k=[...])` appends a `regsearch.layers.TopK` after
  the output, which keeps the k largest outputs per sample and zeroes the rest;
- the objective: `Objective(max_active_outputs=2)` adds to the score the mean number of
  active outputs above 2 (divided by the number of outputs).

We compare an unconstrained search with a `TopK` search on the same data.
"""
    ),
    setup(
        "03_multilabel_top_k",
        8,
        30,
        imports=(
            "import pandas as pd",
            "from sklearn.datasets import make_multilabel_classification",
            "from sklearn.metrics import f1_score",
            "from sklearn.model_selection import train_test_split",
            "from sklearn.preprocessing import StandardScaler",
        ),
    ),
    md("## Data: 8 labels, one or two per sample"),
    code(
        """
x, y = make_multilabel_classification(
    n_samples=3000,
    n_features=20,
    n_classes=8,
    n_labels=2,
    allow_unlabeled=False,
    random_state=0,
)
keep = y.sum(axis=1) <= 2
x, y = x[keep].astype("float32"), y[keep].astype("float32")
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(x_train)
x_train, x_val, x_test = (
    scaler.transform(part).astype("float32") for part in (x_train, x_val, x_test)
)
print(x_train.shape, "labels per sample:", np.bincount(y.sum(axis=1).astype(int)))
"""
    ),
    code(
        """
model = keras.Sequential(
    [
        keras.Input((x.shape[1],)),
        keras.layers.Dense(64, activation="relu", name="hidden"),
        keras.layers.Dense(8, activation="sigmoid", name="out"),
    ]
)
compile_args = {
    "optimizer": keras.optimizers.Adam(0.005),
    "loss": "binary_crossentropy",
    # Outputs above 0.5 are predicted labels: count them per sample.
    "metrics": [regsearch.metrics.SparsityViolation(2, tol=0.5, name="over_2_labels")],
}


def search(name, space, objective):
    tuner = keras_tuner.RandomSearch(
        regsearch.RegSearchHyperModel(model, space, compile=compile_args),
        objective=objective,
        max_trials=MAX_TRIALS,
        directory=OUT,
        project_name=name,
        overwrite=True,
        seed=0,
    )
    tuner.search(
        x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=64, verbose=0
    )
    return tuner
"""
    ),
    md("## Unconstrained: regularizers only"),
    code(
        """
free_tuner = search(
    "unconstrained",
    regsearch.SearchSpace(kernel=["none", "l1", "l2"], strength=(1e-5, 1e-2)),
    regsearch.Objective("val_loss"),
)
regsearch.results(free_tuner).sort_values("score")[
    ["trial_id", "kernel", "score", "val_data_loss", "val_over_2_labels"]
]
"""
    ),
    md(
        """
## With a `TopK` output constraint

`top_k=[1, 2]` lets the search pick k. The objective also measures the active outputs
(`val_active_outputs`, outputs that are not exactly 0) and penalizes more than 2.
"""
    ),
    code(
        """
top_k_tuner = search(
    "top_k",
    regsearch.SearchSpace(kernel=["none", "l1", "l2"], strength=(1e-5, 1e-2), top_k=[1, 2]),
    regsearch.Objective("val_loss", max_active_outputs=2),
)
regsearch.results(top_k_tuner).sort_values("score")[
    [
        "trial_id",
        "top_k",
        "kernel",
        "score",
        "val_data_loss",
        "val_active_outputs",
        "val_over_2_labels",
    ]
]
"""
    ),
    md("## Compare on the test set"),
    code(
        """
def evaluate(tuner):
    m = regsearch.best_model(tuner)
    predicted = m.predict(x_test, verbose=0) > 0.5
    return predicted, {
        "F1 (samples)": f1_score(y_test, predicted, average="samples", zero_division=0),
        "labels per sample": predicted.sum(axis=1).mean(),
        "samples with > 2 labels": (predicted.sum(axis=1) > 2).mean(),
        "params after trimming": m.count_params(),
    }


free_pred, free_scores = evaluate(free_tuner)
top_k_pred, top_k_scores = evaluate(top_k_tuner)
pd.DataFrame({"unconstrained": free_scores, "TopK": top_k_scores}).round(3)
"""
    ),
    code(
        """
bins = np.arange(10) - 0.5
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(
    [y_test.sum(axis=1), free_pred.sum(axis=1), top_k_pred.sum(axis=1)],
    bins=bins,
    label=["truth", "unconstrained", "TopK"],
)
ax.set_xlabel("predicted labels per sample")
ax.set_ylabel("samples")
ax.set_xticks(range(9))
ax.legend()
fig.tight_layout()
plt.show()
"""
    ),
    md(
        """
The `TopK` model never predicts more than k labels, by construction, whatever the
input: the layer is part of the saved model (`regsearch.layers.TopK`, serializable), so
the guarantee ships with it. The unconstrained model only *tends* to predict few labels
because the training data has few; compare the F1 columns to see what the guarantee costs
on this data. Without a hard constraint, `activity=["output_sparsity"]` in the
`SearchSpace` (the `OutputSparsity` penalty on the outputs) is the soft alternative.
"""
    ),
]

# ---------------------------------------------------------------------------
# 4. scikit-learn
# ---------------------------------------------------------------------------
SKLEARN = [
    md(
        """
# scikit-learn: `RegSearchClassifier` in a Pipeline, GridSearchCV and cross-validation

`regsearch.RegSearchClassifier` is a scikit-learn estimator whose `fit` runs a regularizer
search (keras-tuner under the hood) and keeps the best model, trimmed. It composes with
everything in scikit-learn: `Pipeline`, `GridSearchCV`, `cross_val_score`, `clone`, pickle.
"""
    ),
    setup(
        None,  # the estimators keep their trials in temporary directories
        4,
        30,
        imports=(
            "import pandas as pd",
            "from sklearn.datasets import load_digits",
            "from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split",
            "from sklearn.pipeline import Pipeline",
            "from sklearn.preprocessing import StandardScaler",
        ),
        base=("import keras", "import numpy as np"),
    ),
    code(
        """
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)
CV = 2 if SMALL else 3
"""
    ),
    md(
        """
## A pipeline

With `model=None` the classifier builds a small MLP sized from the data; pass a Keras
model or a function `model(X, y, **model_kwargs)` for your own.
"""
    ),
    code(
        """
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "clf",
            regsearch.RegSearchClassifier(
                max_trials=MAX_TRIALS, epochs=EPOCHS, batch_size=64, seed=0
            ),
        ),
    ]
)
pipe.fit(X_train, y_train)
clf = pipe.named_steps["clf"]
print(f"test accuracy {pipe.score(X_test, y_test):.3f}; best trial: {clf.best_params_}")
clf.results_[["trial_id", "kernel", "score", "val_data_loss", "trimmed_params"]]
"""
    ),
    code(
        """
print(clf.trim_report_)
"""
    ),
    md(
        """
## GridSearchCV over the search space itself

The search space and the objective are ordinary estimator parameters, so scikit-learn
can choose between them by cross-validation.
"""
    ),
    code(
        """
grid = GridSearchCV(
    pipe,
    {
        "clf__space": [
            # light weight decay ...
            regsearch.SearchSpace(kernel=["none", "l2"], strength=(1e-6, 1e-4)),
            # ... or sparsity, strong enough to remove weights and whole units
            regsearch.SearchSpace(kernel=["l1", "group_lasso"], strength=(1e-4, 1e-2)),
        ],
    },
    cv=CV,
)
grid.fit(X_train, y_train)
cv_table = pd.DataFrame(grid.cv_results_)
cv_table["space"] = [
    f"{p['clf__space'].kernel} {p['clf__space'].strength}" for p in grid.cv_results_["params"]
]
print(f"best space: {grid.best_params_['clf__space']}")
print(f"test accuracy of the refitted best pipeline: {grid.score(X_test, y_test):.3f}")
cv_table[["space", "mean_test_score", "std_test_score", "mean_fit_time"]]
"""
    ),
    md("## Cross-validation"),
    code(
        """
scores = cross_val_score(pipe, X, y, cv=CV)
print(f"{CV}-fold accuracy: {scores.mean():.3f} +/- {scores.std():.3f}")
"""
    ),
    md(
        """
## Pickle

A fitted estimator pickles with its Keras model (stored as `.keras` bytes).
"""
    ),
    code(
        """
import pickle

restored = pickle.loads(pickle.dumps(pipe))
np.testing.assert_array_equal(restored.predict(X_test), pipe.predict(X_test))
print("pickled and restored: identical predictions")
"""
    ),
]

# ---------------------------------------------------------------------------
# 5. Cross-layer orthogonality with frozen filters
# ---------------------------------------------------------------------------
CROSS_LAYER = [
    md(
        """
# Cross-layer orthogonality with some filters frozen: the ten 1x1 filters case

A model ends with ten 1x1 filters over a feature map. Three of them are known good (say,
validated by hand) and must not change; the other seven should be retrained and kept
**different** from each other and from the three: orthogonal.

Two things are needed, and regsearch gives both without rewriting the model:

- `regsearch.apply(model, freeze={...})` keeps chosen filters exactly as they are (a
  `regsearch.constraints.FreezeFilters` constraint, whatever the optimizer and penalties);
- `regsearch.CrossLayer(layers, "orthogonal")` puts *one* orthogonality penalty on the
  kernels of several layers concatenated. Here the ten filters live in ten
  `Conv2D(1, 1)` layers (the usual way to freeze some of them in plain Keras), and a
  per-layer regularizer would see one filter at a time, never the ten together.

Then a keras-tuner search picks the orthogonality strength.
"""
    ),
    setup(
        "05_cross_layer",
        6,
        15,
        imports=(
            "from sklearn.datasets import load_digits",
            "from sklearn.model_selection import train_test_split",
        ),
    ),
    code(
        """
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]
x_train, x_val, y_train, y_val = train_test_split(
    x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)
N_FILTERS, FROZEN = 10, [0, 1, 2]

inputs = keras.Input((8, 8, 1))
features = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="stem")(inputs)
heads = [keras.layers.Conv2D(1, 1, name=f"filter_{i}")(features) for i in range(N_FILTERS)]
h = keras.layers.Concatenate(name="filters")(heads)
h = keras.layers.GlobalAveragePooling2D()(h)
outputs = keras.layers.Dense(10, activation="softmax", name="out")(h)
model = keras.Model(inputs, outputs)
COMPILE = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
model.compile(optimizer=keras.optimizers.Adam(0.01), **COMPILE)
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=64, verbose=0)
print(f"pretrained: val accuracy {model.evaluate(x_val, y_val, verbose=0)[1]:.3f}")
"""
    ),
    md(
        """
## How similar are the ten filters?

Each filter is a 1x1x32 kernel. `regsearch.regularizers.Orthogonal(1.0)` returns the mean
|cosine similarity| over all pairs of filters: 0 when they are orthogonal.
"""
    ),
    code(
        """
def filters_of(m):
    kernels = [m.get_layer(f"filter_{i}").get_weights()[0] for i in range(N_FILTERS)]
    return np.concatenate(kernels, axis=-1)  # (1, 1, 32, 10): ten 1x1x32 filters


def mean_abs_cosine(m):
    return float(regsearch.regularizers.Orthogonal(1.0)(filters_of(m)))


def plot_cosines(ax, m, title):
    w = filters_of(m).reshape(-1, N_FILTERS)
    w = w / np.linalg.norm(w, axis=0)
    image = ax.imshow(np.abs(w.T @ w), vmin=0, vmax=1, cmap="viridis")
    ax.set_title(f"{title}\\nmean |cos| {mean_abs_cosine(m):.3f}")
    ax.set_xticks(range(N_FILTERS))
    ax.set_yticks(range(N_FILTERS))
    return image


print(f"mean |cos| between the ten filters: {mean_abs_cosine(model):.3f}")
"""
    ),
    md(
        """
## Freeze three filters, penalize all ten together

`freeze` maps layer globs to filter indices; each `filter_i` layer has one filter
(index 0). `CrossLayer("filter_*", ...)` concatenates the ten kernels along the filter
axis and adds one penalty to `model.losses`. `apply` returns a new model (the pretrained
`model` is not changed) with the trained weights kept.
"""
    ),
    code(
        """
frozen_layers = {f"filter_{i}": [0] for i in FROZEN}
orthogonal = regsearch.apply(
    model,
    cross_layer=[regsearch.CrossLayer("filter_*", regsearch.regularizers.Orthogonal(0.5))],
    freeze=frozen_layers,
)
orthogonal.compile(optimizer=keras.optimizers.Adam(0.01), **COMPILE)
orthogonal(x_train[:1])  # the penalty is added on each forward pass
print("penalties in model.losses:", len(orthogonal.losses))
orthogonal.fit(x_train, y_train, epochs=EPOCHS, batch_size=64, verbose=0)

before, after = filters_of(model), filters_of(orthogonal)
assert np.array_equal(before[..., FROZEN], after[..., FROZEN]), "frozen filters moved"
print("frozen filters unchanged:", FROZEN)
print(f"val accuracy {orthogonal.evaluate(x_val, y_val, verbose=0)[1]:.3f}")
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
plot_cosines(axes[0], model, "pretrained")
image = plot_cosines(axes[1], orthogonal, "retrained, 3 frozen + orthogonality")
fig.colorbar(image, ax=axes, shrink=0.8, label="|cosine similarity|")
plt.show()
"""
    ),
    md(
        """
## Search the orthogonality strength

A `build(hp)` function can use `apply` too. `RegSearchHyperModel` wraps it: its own
`SearchSpace` adds a kernel-regularizer choice for the `stem` layer on top of the
hyperparameters the build declares, and the trimmed size enters the score.
"""
    ),
    code(
        """
def build(hp):
    strength = hp.Float("orthogonal_strength", 1e-3, 1.0, sampling="log")
    m = regsearch.apply(
        model,
        cross_layer=[regsearch.CrossLayer("filter_*", regsearch.regularizers.Orthogonal(strength))],
        freeze=frozen_layers,
    )
    m.compile(optimizer=keras.optimizers.Adam(0.01), **COMPILE)
    return m


tuner = keras_tuner.RandomSearch(
    regsearch.RegSearchHyperModel(
        build, regsearch.SearchSpace("stem", kernel=["none", "l2", "group_lasso"])
    ),
    objective=regsearch.Objective("val_accuracy", size_weight=0.05),
    max_trials=MAX_TRIALS,
    directory=OUT,
    project_name="search",
    overwrite=True,
    seed=0,
)
tuner.search(
    x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=64, verbose=0
)
regsearch.results(tuner).sort_values("score")[
    ["trial_id", "orthogonal_strength", "kernel", "score", "val_accuracy", "trimmed_params"]
]
"""
    ),
    code(
        """
best = regsearch.best_model(tuner, trimmed=False)
assert np.array_equal(filters_of(best)[..., FROZEN], before[..., FROZEN])
print(
    f"best trial: mean |cos| {mean_abs_cosine(best):.3f} "
    f"(pretrained {mean_abs_cosine(model):.3f}), frozen filters unchanged"
)

# The saved model keeps the freeze and the cross-layer penalty (no custom_objects needed).
path = os.path.join(OUT, "best.keras")
best.save(path)
reloaded = keras.saving.load_model(path)
np.testing.assert_allclose(
    reloaded.predict(x_val, verbose=0), best.predict(x_val, verbose=0), rtol=1e-5, atol=1e-6
)
cross = [layer.name for layer in reloaded.layers if isinstance(layer, regsearch.CrossLayer)]
print("saved", path, "with the cross-layer penalty", cross)
"""
    ),
]

# ---------------------------------------------------------------------------
# 6. Your own build(hp) and TensorBoard
# ---------------------------------------------------------------------------
CUSTOM_BUILD = [
    md(
        """
# Searching your own `build(hp)`, and reading the trials in TensorBoard

If you already write keras-tuner `build(hp)` functions, `regsearch.hp_regularizer` is the
one line to add: it declares the choice of regularizer and a log-uniform strength that
exists only while that regularizer is chosen (so Bayesian optimization never tunes the
strength of an unused one), and returns the trial's regularizer.

Wrapping the build in `RegSearchHyperModel` adds the score (validation metric + trimmed
size) to every epoch's logs, so keras-tuner's TensorBoard integration shows it next to
the loss, for every trial, with the hyperparameters in the HParams tab.
"""
    ),
    setup(
        "06_custom_build",
        8,
        15,
        stdlib=("import glob",),
        base=("import keras", "import keras_tuner", "import matplotlib.pyplot as plt"),
        imports=(
            "from sklearn.datasets import load_digits",
            "from sklearn.model_selection import train_test_split",
            "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator",
            "from tensorboard.util.tensor_util import make_ndarray",
        ),
    ),
    code(
        """
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]
x_train, x_val, y_train, y_val = train_test_split(
    x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)
"""
    ),
    md("## A hand-written `build(hp)`"),
    code(
        """
def build(hp):
    conv_reg = regsearch.hp_regularizer(
        hp,
        "conv_reg",
        choices=["none", "l2", "kernel_length", "group_lasso"],
        strength=(1e-4, 1e-2),
    )
    dense_reg = regsearch.hp_regularizer(
        hp, "dense_reg", choices=["none", "l1", "l2"], strength=(1e-6, 1e-3)
    )
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                hp.Int("filters", 8, 32, step=8),
                5,
                padding="same",
                activation="relu",
                kernel_regularizer=conv_reg,
                name="conv",
            ),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", kernel_regularizer=dense_reg, name="dense"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


hp = keras_tuner.HyperParameters()
build(hp).summary()
hp.values
"""
    ),
    md(
        """
## Wrap it and search

The `SearchSpace` given to `RegSearchHyperModel` composes with the build's own
hyperparameters. Here it only adds a dropout rate after the `dense` layer
(`kernel=["none"]`: the build already chooses the kernel regularizers). The compile
settings of the built model (including the tuned learning rate) are kept.

Any keras-tuner tuner works: this one is `BayesianOptimization`. The TensorBoard callback
is passed to `tuner.search` as usual; keras-tuner gives every trial its own log folder.
"""
    ),
    code(
        """
hypermodel = regsearch.RegSearchHyperModel(
    build,
    regsearch.SearchSpace("dense", kernel=["none"], dropout=(0.0, 0.5)),
    trim_threshold=1e-2,
)
tuner = keras_tuner.BayesianOptimization(
    hypermodel,
    objective=regsearch.Objective("val_accuracy", size_weight=0.1),
    max_trials=MAX_TRIALS,
    directory=OUT,
    project_name="search",
    overwrite=True,
    seed=0,
)
LOG_DIR = os.path.join(OUT, "logs")
tuner.search(
    x_train,
    y_train,
    validation_data=(x_val, y_val),
    epochs=EPOCHS,
    batch_size=64,
    verbose=0,
    callbacks=[keras.callbacks.TensorBoard(LOG_DIR)],
)
regsearch.results(tuner).sort_values("score")[
    [
        "trial_id",
        "conv_reg",
        "dense_reg",
        "filters",
        "learning_rate",
        "dropout",
        "score",
        "val_accuracy",
        "trimmed_params",
    ]
]
"""
    ),
    md(
        """
## Reading the trials in TensorBoard

Start TensorBoard on the log folder from a terminal (it is not run here):

```
tensorboard --logdir regsearch-examples/06_custom_build/logs
```

and open http://localhost:6006. There is one run per trial and execution
(`<trial_id>/execution0/train` and `.../validation`):

- **Scalars**: `epoch_score` (the regsearch objective, lower is better),
  `epoch_trimmed_params`, `epoch_size_ratio` and `epoch_accuracy` / `epoch_loss` for
  training and validation, per epoch, for every trial;
- **HParams**: one row per trial with its hyperparameters (`conv_reg`,
  `conv_reg_l2_strength`, `filters`, ...) next to its metrics; sort by `score`.

The same event files can be read from Python, for example to plot the score of every trial:
"""
    ),
    code(
        """
def scalars(run_dir, tag):
    events = EventAccumulator(run_dir, size_guidance={"tensors": 0})
    events.Reload()
    if tag not in events.Tags()["tensors"]:
        return [], []
    points = events.Tensors(tag)
    return [p.step for p in points], [float(make_ndarray(p.tensor_proto)) for p in points]


runs = sorted(glob.glob(os.path.join(LOG_DIR, "*", "execution0")))
print("runs:", [os.path.relpath(r, LOG_DIR) for r in runs])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for run in runs:
    trial_id = os.path.relpath(run, LOG_DIR).split(os.sep)[0]
    steps, score = scalars(os.path.join(run, "train"), "epoch_score")
    axes[0].plot(steps, score, marker="o", label=f"trial {trial_id}")
    steps, size = scalars(os.path.join(run, "train"), "epoch_trimmed_params")
    axes[1].plot(steps, size, marker="o", label=f"trial {trial_id}")
axes[0].set(title="score (lower is better)", xlabel="epoch")
axes[1].set(title="trimmed parameters", xlabel="epoch")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()
"""
    ),
    md("## The best model, trimmed"),
    code(
        """
best = regsearch.best_model(tuner)
print(
    f"{best.count_params():,} parameters after trimming, "
    f"val accuracy {best.evaluate(x_val, y_val, verbose=0, return_dict=True)['accuracy']:.3f}"
)
print(tuner.oracle.get_best_trials(1)[0].hyperparameters.values)
"""
    ),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_minimal_kernel_length.ipynb": KERNEL_LENGTH,
    "03_multilabel_output_sparsity.ipynb": MULTILABEL,
    "04_sklearn_pipeline_gridsearch.ipynb": SKLEARN,
    "05_cross_layer_orthogonality_frozen_filters.ipynb": CROSS_LAYER,
    "06_custom_build_and_tensorboard.ipynb": CUSTOM_BUILD,
}


def notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
    }
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives identical files
    return nb


def render(cells: list[nbformat.NotebookNode]) -> str:
    """The notebook as the exact text written to disk."""
    nb = notebook(cells)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        (HERE / name).write_text(render(cells), encoding="utf-8")
        print("wrote", HERE / name, file=sys.stderr)


if __name__ == "__main__":
    main()
