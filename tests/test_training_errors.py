"""Bad training and data input (issue 11, issue 10 §3): each a TypeError/ValueError naming the
function and the argument, raised before anything changes."""

import numpy as np
import pytest

import tapegrad as tg


@pytest.fixture
def model():
    tg.random.seed(0)
    m = tg.nn.Sequential([tg.nn.Dense(2), tg.nn.Dense(1)])
    m.compile("sgd", loss="mse")
    m(np.zeros((1, 3), np.float32))
    return m


X = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
Y = X[:, :1].copy()


@pytest.mark.parametrize("call, exc, match", [
    (lambda m: m.fit(X, Y, batch_size="a"), TypeError, "fit: batch_size must be an int, got "
                                                       "str 'a'"),
    (lambda m: m.fit(X, Y, batch_size=2.0), TypeError, "fit: batch_size must be an int"),
    (lambda m: m.fit(X, Y, epochs="2"), TypeError, "fit: epochs must be an int"),
    (lambda m: m.fit(X, Y, verbose=3), ValueError, "fit: verbose must be 'auto', 0, 1 or 2"),
    (lambda m: m.fit(X, Y, validation_split="0.2"), TypeError, "fit: validation_split must be"),
    (lambda m: m.fit(X, Y, shuffle="yes"), TypeError, "fit: shuffle must be True or False"),
    (lambda m: m.fit(X, Y, steps_per_epoch=0), ValueError, "fit: steps_per_epoch must be >= 1"),
    (lambda m: m.fit(X, Y, validation_freq=0), ValueError, "fit: validation_freq must be >= 1"),
    (lambda m: m.fit(X, Y, initial_epoch=-1), ValueError, "fit: initial_epoch must be >= 0"),
    (lambda m: m.fit(tg.tensor(1.0), Y), ValueError, "fit: x must have a sample axis"),
    (lambda m: m.fit(X[:0], Y[:0]), ValueError, "fit: x is empty"),
    (lambda m: m.fit(None, Y), ValueError, "fit: x is None"),
    (lambda m: m.fit(X.astype(complex), Y), ValueError, "fit: x must be numeric"),
    (lambda m: m.fit(X, Y, class_weight=[1, 2]), TypeError, "fit: class_weight must be a dict"),
    (lambda m: m.evaluate(X, Y, batch_size=0), ValueError, "evaluate: batch_size must be >= 1"),
    (lambda m: m.evaluate(X, None), ValueError, "evaluate: y \\(the targets\\) is required"),
    (lambda m: m.evaluate(X[:0], Y[:0]), ValueError, "evaluate: x is empty"),
    (lambda m: m.evaluate(tg.tensor(2.0), Y), ValueError, "evaluate: x must have a sample axis"),
    (lambda m: m.evaluate(X, Y, return_dict="yes"), TypeError, "evaluate: return_dict must be"),
    (lambda m: m.predict(X, batch_size=-1), ValueError, "predict: batch_size must be >= 1, "
                                                        "got -1"),
    (lambda m: m.predict(X[:0]), ValueError, "predict: x is empty"),
    (lambda m: m.predict(tg.tensor(0.0)), ValueError, "predict: x must have a sample axis"),
    (lambda m: m.predict(X, steps="1"), TypeError, "predict: steps must be an int"),
])
def test_bad_training_arguments(model, call, exc, match):
    before = model.get_weights()
    with pytest.raises(exc, match=match):
        call(model)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


@pytest.mark.parametrize("call, exc, match", [
    (lambda: tg.data.train_test_split(tg.tensor(1.0)), ValueError,
     "train_test_split: X must have a sample axis"),
    (lambda: tg.data.KFold(2).split(tg.tensor(1.0)).__next__(), ValueError,
     "KFold.split: X must have a sample axis"),
    (lambda: tg.data.batches(tg.tensor(1.0)), ValueError, "batches: X must have a sample axis"),
    (lambda: tg.data.Standardizer().fit(tg.tensor(1.0)), ValueError,
     "Standardizer.fit: X must have a sample axis"),
    (lambda: tg.data.batches(X, seed="a"), TypeError, "batches: seed must be None, an int"),
    (lambda: tg.data.batches(X, batch_size=0), ValueError, "batches: batch_size must be >= 1"),
    (lambda: tg.data.train_test_split(X, random_state=-1), ValueError,
     r"train_test_split: random_state must be in \[0, 2\*\*32\)"),
    (lambda: tg.data.KFold(2, shuffle=True, random_state=-1), ValueError,
     "KFold: random_state must be in"),
    (lambda: tg.data.KFold(2.5), TypeError, "KFold: n_splits must be an int"),
    (lambda: tg.data.one_hot([1], 2.5), TypeError, "one_hot: num_classes must be an int"),
    (lambda: tg.data.one_hot([10**12]), ValueError, "one_hot: 1 labels with 1000000000001 "
                                                    "classes"),
    (lambda: tg.data.one_hot([1], dtype="nope"), TypeError, "one_hot: dtype 'nope'"),
    (lambda: tg.data.pad_sequences([[1, 2]], value=np.nan), ValueError,
     "pad_sequences: value nan cannot be stored in dtype int32"),
    (lambda: tg.data.pad_sequences([[1, 2]], value=0.5), ValueError,
     "pad_sequences: value 0.5 cannot be stored"),
    (lambda: tg.data.pad_sequences([[1, 2]], value="x"), TypeError,
     "pad_sequences: value must be a number"),
    (lambda: tg.data.pad_sequences([[1, 2], ["a"]]), ValueError,
     "pad_sequences: sequence 1 must hold numbers"),
    (lambda: tg.data.pad_sequences([[1, 2]], maxlen=1.5), TypeError,
     "pad_sequences: maxlen must be an int"),
])
def test_bad_data_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_nan_padding_works_in_a_float_dtype():
    out = tg.data.pad_sequences([[1, 2], [3]], value=np.nan, dtype="float32")
    assert np.isnan(out[1, 0]) and out[1, 1] == 3


def test_evaluate_and_predict_accept_keras_keywords(model):
    logs = model.evaluate(X, Y, batch_size=4, verbose=0, sample_weight=np.ones(10), steps=2,
                          return_dict=True)
    assert list(logs) == ["loss"]
    assert model.predict(X, batch_size=4, verbose=0, steps=2).shape == (8, 1)


def test_demo_without_the_extras_says_which_extra_to_install(monkeypatch, capsys):
    import importlib.util

    from tapegrad import __main__ as cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tqdm" else real(name, *a))
    assert cli.main(["demo", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "needs tqdm" in err and "pip install 'tapegrad[examples]'" in err
    with pytest.raises(SystemExit) as exit_info:  # --help still works without the extras
        cli.main(["demo", "--help"])
    assert exit_info.value.code == 0 and "--epochs" in capsys.readouterr().out
