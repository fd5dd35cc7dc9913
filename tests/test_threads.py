"""`fit` runs with one BLAS thread unless the user chose a number (tapegrad.threads)."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.threads import USER_SETTINGS, fit_blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed")


def blas_threads():
    counts = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if not counts:
        pytest.skip("NumPy's BLAS is not visible to threadpoolctl")
    return counts[0]


class Seen(tg.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.threads = blas_threads()


def fit_and_see():
    tg.random.seed(0)
    model = tg.nn.Sequential([tg.nn.Dense(3)])
    model.compile("sgd", loss="mse")
    seen = Seen()
    model.fit(np.ones((8, 2), np.float32), np.ones((8, 3), np.float32), epochs=1, verbose=0,
              callbacks=[seen])
    return seen.threads


@pytest.fixture
def no_user_setting(monkeypatch):
    for name in (*USER_SETTINGS, "TAPEGRAD_BLAS_THREADS"):
        monkeypatch.delenv(name, raising=False)


def test_fit_uses_one_blas_thread_and_restores_the_count(no_user_setting):
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert fit_and_see() == 1
        assert blas_threads() == before


def test_the_users_choice_wins(no_user_setting, monkeypatch):
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", str(before))
        assert fit_blas_threads() is None and fit_and_see() == before
        monkeypatch.delenv("OPENBLAS_NUM_THREADS")
        monkeypatch.setenv("TAPEGRAD_BLAS_THREADS", "none")
        assert fit_and_see() == before
        monkeypatch.setenv("TAPEGRAD_BLAS_THREADS", "2")
        assert fit_blas_threads() == 2


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_bad_setting_is_a_clear_error(no_user_setting, monkeypatch, bad):
    monkeypatch.setenv("TAPEGRAD_BLAS_THREADS", bad)
    with pytest.raises(ValueError, match="TAPEGRAD_BLAS_THREADS must be a positive integer"):
        fit_blas_threads()
