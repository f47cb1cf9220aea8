"""The main job: `regsearch demo` runs a real search and writes what it promises."""

import csv
import re

import keras
import numpy as np
import pytest

from regsearch import _cli, _demo


@pytest.mark.slow
def test_quick_demo_writes_results_pareto_model_and_report(tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli.main(["demo", "--quick", "--seed", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    paths = {
        "results": out / "results.csv",
        "pareto": out / "pareto.png",
        "model": out / "best.keras",
        "report": out / "report.txt",
    }

    assert "trial  1 of 3" in printed and "trial  3 of 3" in printed
    assert "best so far" in printed
    assert "Pareto front" in printed and "Trim report" in printed
    assert str(paths["model"]) in printed  # says where the files are

    with open(paths["results"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert {"trial_id", "status", "score", "val_accuracy", "trimmed_macs"} <= set(rows[0])

    assert paths["pareto"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = paths["report"].read_text()
    assert "test accuracy" in report and "params:" in report
    # the base model next to the chosen one, on the test split, and how it was chosen
    assert "within 1 point of validation accuracy of the best trial" in report
    base = re.search(r"base model +([\d.]+) +([\d,]+) +([\d,]+)", report)
    chosen = re.search(r"chosen model +([\d.]+) +([\d,]+)", report)
    assert base and chosen
    assert base.group(2) == "445,440"  # the demo model's MACs
    assert base.group(3) == "17,082"  # and parameters (not the chosen trial's before trim)
    assert 0.0 < float(chosen.group(1)) <= 1.0
    assert int(chosen.group(2).replace(",", "")) <= 445_440
    assert "fewer MACs than the base model" in printed
    # what both models cost as LiteRT files, float32 and int8 (TensorFlow backend)
    litert = re.search(r"chosen model +([\d,]+) +[\d.]+ +([\d,]+) +[\d.]+ +([\d.]+)", report)
    assert litert, report
    float_bytes, int8_bytes = (int(litert.group(i).replace(",", "")) for i in (1, 2))
    assert int8_bytes < 0.5 * float_bytes
    assert abs(float(litert.group(3)) - float(chosen.group(1))) <= 0.05

    model = keras.saving.load_model(paths["model"])
    assert all(layer.__class__.__module__.startswith("keras.") for layer in model.layers)
    x = np.zeros((2, 8, 8, 1), "float32")
    assert model.predict(x, verbose=0).shape == (2, 10)

    # the search directory the demo leaves behind reads back with `regsearch report`
    objectives = ["--objectives", "val_accuracy", "trimmed_macs"]
    assert _cli.main(["report", str(out), "--project", "search", *objectives]) == 0
    printed = capsys.readouterr().out
    assert "Pareto front (val_accuracy vs trimmed_macs)" in printed


def test_demo_rejects_a_zero_budget(tmp_path, capsys):
    assert _cli.main(["demo", "--trials", "0", "--out", str(tmp_path)]) == 2
    assert "--trials and --epochs must be >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--trials and --epochs must be >= 1"):
        _demo.run(tmp_path, epochs=0)
