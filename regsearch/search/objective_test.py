import keras_tuner
import pytest

import regsearch


def test_objective_is_a_minimized_keras_tuner_objective_named_score():
    objective = regsearch.Objective("val_accuracy", size_weight=0.5)
    assert isinstance(objective, keras_tuner.Objective)
    assert (objective.name, objective.direction) == ("score", "min")
    assert objective.metric_direction == "max"
    assert regsearch.Objective("val_loss").metric_direction == "min"
    assert regsearch.Objective("val_mean_squared_error").metric_direction == "min"


def test_score_formula():
    objective = regsearch.Objective(
        "val_accuracy", size_weight=0.5, max_active_outputs=2, sparsity_weight=2.0
    )
    logs = {"val_accuracy": 0.9}
    # -0.9 + 0.5 * 0.25 + 2.0 * (3.5 - 2) / 8
    assert objective.score(logs, size_ratio=0.25, active_outputs=3.5, n_outputs=8) == pytest.approx(
        -0.9 + 0.125 + 0.375
    )
    # below the allowed number of active outputs costs nothing
    assert objective.score(logs, size_ratio=0.0, active_outputs=1.0, n_outputs=8) == pytest.approx(
        -0.9
    )


def test_val_loss_is_scored_on_the_data_loss_when_logged():
    objective = regsearch.Objective("val_loss")
    assert objective.score({"val_loss": 1.5, "val_data_loss": 1.0}) == pytest.approx(1.0)
    assert objective.score({"val_loss": 1.5}) == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": "param"}, ValueError, "Did you mean .params."),
        ({"size_weight": -1.0}, ValueError, "`size_weight`"),
        ({"direction": "up"}, ValueError, "`direction`"),
        ({"metric": "score"}, ValueError, "cannot be 'score'"),
        ({"metric": "val_weirdness"}, ValueError, "direction='min'"),
    ],
)
def test_bad_objectives(kwargs, error, match):
    with pytest.raises(error, match=match):
        regsearch.Objective(**kwargs)


def test_objective_config_round_trip():
    objective = regsearch.Objective("val_auc", size_weight=0.3, size="macs", max_active_outputs=2)
    assert regsearch.Objective.from_config(objective.get_config()) == objective
