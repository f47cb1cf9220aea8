from __future__ import annotations

import keras
import keras_tuner
import numpy as np
import pytest

from regsearch.search._failures import ReportsFailures, failure_reason, report_failures


class _FailingFit(keras_tuner.HyperModel):
    """Trials whose ``fit`` fails (``fail=True``) or trains one tiny epoch."""

    def __init__(self, fail: bool) -> None:
        super().__init__()
        self.fail = fail

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        hp.Int("units", 1, 4)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    def fit(self, hp, model, *args, **kwargs):
        if self.fail:
            raise ValueError(f"no data for {hp['units']} units")
        return super().fit(hp, model, *args, **kwargs)


class _Search(ReportsFailures, keras_tuner.RandomSearch):
    pass


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 2)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")


def _search(tuner: keras_tuner.Tuner) -> None:
    tuner.search(*_data(), epochs=1, batch_size=8, verbose=0)


def test_failure_reason_is_the_last_line() -> None:
    assert failure_reason("Traceback ...\n  line\nValueError: bad\n\n") == "ValueError: bad"
    assert failure_reason(None) is None
    assert failure_reason("  \n") is None


@pytest.mark.slow
def test_a_tuner_with_the_mixin_ends_with_one_error_quoting_every_reason(tmp_path) -> None:
    tuner = _Search(_FailingFit(fail=True), objective="loss", max_trials=2, directory=tmp_path)
    with pytest.raises(RuntimeError, match=r"Every trial of this search failed \(2 trials\)"):
        _search(tuner)
    assert len(tuner.oracle.trials) == 2


@pytest.mark.slow
def test_consecutive_failures_name_the_limit(tmp_path) -> None:
    tuner = _Search(
        _FailingFit(fail=True),
        objective="loss",
        max_trials=5,
        max_consecutive_failed_trials=2,
        directory=tmp_path,
    )
    with pytest.raises(RuntimeError, match=r"stopped after 2 consecutive failures") as caught:
        _search(tuner)
    assert "ValueError: no data for" in str(caught.value)
    assert len(tuner.oracle.trials) == 2


@pytest.mark.slow
def test_a_search_with_a_completed_trial_ends_quietly(tmp_path) -> None:
    tuner = _Search(_FailingFit(fail=False), objective="loss", max_trials=1, directory=tmp_path)
    _search(tuner)
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED"]


@pytest.mark.slow
def test_report_failures_changes_one_instance_only(tmp_path) -> None:
    def stock(name: str) -> keras_tuner.RandomSearch:
        return keras_tuner.RandomSearch(
            _FailingFit(fail=True), objective="loss", max_trials=1, directory=tmp_path / name
        )

    wrapped, plain = stock("wrapped"), stock("plain")
    assert report_failures(wrapped) is wrapped
    assert isinstance(wrapped, (ReportsFailures, keras_tuner.RandomSearch))
    assert type(wrapped).__name__ == "RandomSearch"
    assert not isinstance(plain, ReportsFailures)
    assert type(report_failures(stock("again"))) is type(report_failures(wrapped))
    with pytest.raises(RuntimeError, match="Every trial of this search failed"):
        _search(wrapped)
    _search(plain)  # keras-tuner's own behaviour: the search ends quietly
    assert [t.status for t in plain.oracle.trials.values()] == ["FAILED"]
