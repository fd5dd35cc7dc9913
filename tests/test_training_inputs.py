"""fit/evaluate/predict inputs (issue 13 "Training", issue 10 §3): several inputs and outputs by
position or name, per-output losses and log names, generators, Datasets, sample and class
weights, initial_epoch, validation_freq, Keras's positional order, custom train_step."""

import math
import tracemalloc
import warnings

import numpy as np
import pytest

import tapegrad as tg


class TwoInTwoOut(tg.nn.Model):
    """A subclassed model with named inputs and outputs (the contract functional models keep):
    a "text" input of token ids and a "meta" input of numbers; a "priority" regression output
    and a "department" classification output (logits), as in DLwP 7.1."""

    def __init__(self, vocab=20, seed_names=True):
        super().__init__()
        self.input_names = ["text", "meta"]
        self.output_names = ["priority", "department"]
        self.embed = tg.nn.Embedding(vocab, 8, mask_zero=True)
        self.pool = tg.nn.GlobalAveragePooling1D()
        self.meta_dense = tg.nn.Dense(8, activation="relu")
        self.priority = tg.nn.Dense(1)
        self.department = tg.nn.Dense(3)

    def call(self, inputs, training=False):
        text, meta = (inputs["text"], inputs["meta"]) if isinstance(inputs, dict) else inputs
        h = tg.concatenate([self.pool(self.embed(text)), self.meta_dense(meta)], axis=-1)
        return [self.priority(h), self.department(h)]


def toy_tickets(n=96, seed=0, vocab=20, length=6):
    """Synthetic tickets: the department is the class of the ticket's words (tokens 1-6 say 0,
    7-12 say 1, 13-19 say 2), padded with zeros; the priority is a linear function of meta."""
    rng = np.random.default_rng(seed)
    dept = rng.integers(0, 3, n)
    lo = 1 + 6 * dept
    text = rng.integers(lo[:, None], lo[:, None] + 6, (n, length))
    lengths = rng.integers(2, length + 1, n)
    text[np.arange(length)[None, :] < (length - lengths)[:, None]] = 0  # pre-padding
    meta = rng.standard_normal((n, 2)).astype(np.float32)
    priority = (meta @ np.array([[1.0], [-0.5]], np.float32)).astype(np.float32)
    return {"text": text, "meta": meta}, {"priority": priority, "department": dept}


def compiled_two(seed=0, **kw):
    tg.random.seed(seed)
    tg.nn.reset_names()
    model = TwoInTwoOut()
    model.compile(tg.optimizers.Adam(0.02),
                  loss={"priority": "mse",
                        "department": tg.losses.SparseCategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.5},
                  metrics={"department": ["accuracy"]}, **kw)
    return model


def mlp(seed=0, out=1):
    tg.random.seed(seed)
    model = tg.nn.Sequential([tg.nn.Dense(8, activation="tanh"), tg.nn.Dense(out)])
    model.compile(tg.optimizers.SGD(0.05), loss="mse")
    return model


def regression(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    return X, (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


# -- several inputs and outputs -------------------------------------------------------------------
def test_two_input_two_output_model_logs_each_output_and_trains_end_to_end():
    """The DLwP 7.1-shaped toy (text + metadata in; softmax department + regression priority
    out; per-output losses and weights) trains end to end: 40 epochs on 192 synthetic tickets
    give department accuracy >= 0.95 and priority mse <= 0.05 on held-out tickets. Measured
    over seeds 0-9 and Haswell/SkylakeX/Prescott: accuracy 1.00 at every seed, mse 3e-5-0.0026,
    so the bars hold with a wide margin."""
    x, y = toy_tickets(192, seed=1)
    xt, yt = toy_tickets(96, seed=2)
    model = compiled_two(seed=0)
    hist = model.fit(x, y, batch_size=32, epochs=40, verbose=0, validation_data=(xt, yt))
    assert list(hist.history) == ["loss", "priority_loss", "department_loss",
                                  "department_accuracy", "val_loss", "val_priority_loss",
                                  "val_department_loss", "val_department_accuracy"]
    scores = model.evaluate(xt, yt, return_dict=True)
    assert scores["department_accuracy"] >= 0.95
    assert scores["priority_loss"] <= 0.05
    # the total is the weighted sum of the per-output losses (no regularisation here)
    assert scores["loss"] == pytest.approx(scores["priority_loss"]
                                           + 0.5 * scores["department_loss"], rel=1e-5)
    assert model.metrics_names == list(scores)
    pred = model.predict(xt)
    assert isinstance(pred, list) and [p.shape for p in pred] == [(96, 1), (96, 3)]


def test_inputs_and_targets_by_position_or_by_name_train_identically():
    """Lists matched by position and dicts matched by input/output name are the same data:
    two seeded runs end with bit-identical weights."""
    x, y = toy_tickets(64)
    a = compiled_two(seed=3)
    a.fit(x, y, batch_size=16, epochs=2, verbose=0)
    b = compiled_two(seed=3)  # seeds the shared generator again: same shuffles and weights
    b.fit([x["text"], x["meta"]], [y["priority"], y["department"]], batch_size=16, epochs=2,
          verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_flat_metric_list_applies_to_every_output_with_prefixed_names():
    def mean_pred(y_true, y_pred):
        return float(np.mean(y_pred.numpy()))

    x, y = toy_tickets(32)
    model = TwoInTwoOut()
    model.compile("adam", loss=["mse", tg.losses.SparseCategoricalCrossentropy(True)],
                  metrics=[mean_pred])
    logs = model.evaluate(x, y, return_dict=True)
    assert list(logs) == ["loss", "priority_loss", "department_loss", "priority_mean_pred",
                          "department_mean_pred"]
    assert logs["department_mean_pred"] == pytest.approx(float(np.mean(model.predict(x)[1])),
                                                         rel=1e-5)


def test_names_and_counts_that_do_not_match_the_model_are_clear_errors():
    x, y = toy_tickets(32)
    model = compiled_two()
    with pytest.raises(ValueError, match=r"fit: x is a dict .* named \['text', 'meta'\]"):
        model.fit({"txt": x["text"], "meta": x["meta"]}, y, verbose=0)
    with pytest.raises(ValueError, match="fit: x is a list of 1 arrays, but the model has 2"):
        model.fit([x["meta"]], y, verbose=0)
    with pytest.raises(ValueError, match="fit: y is one array, but the model has 2 outputs"):
        model.fit(x, y["priority"], verbose=0)
    with pytest.raises(ValueError, match="compile: loss has keys \\['prio'\\] that name no"):
        model.compile("adam", loss={"prio": "mse"})
        model.fit(x, y, verbose=0)


def test_dict_outputs_of_a_model_without_output_names_are_named_by_their_keys():
    class DictOut(tg.nn.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = tg.nn.Dense(1), tg.nn.Dense(2)

        def call(self, x, training=False):
            return {"score": self.a(x), "klass": self.b(x)}

    X, y = regression(24)
    model = DictOut()
    model.compile("sgd", loss={"score": "mse",
                               "klass": tg.losses.SparseCategoricalCrossentropy(True)},
                  metrics={"klass": "accuracy"})
    hist = model.fit(X, {"score": y, "klass": (y[:, 0] > 0).astype(int)}, epochs=1,
                     verbose=0, validation_split=0.25)
    assert "val_klass_accuracy" in hist.history and "score_loss" in hist.history
    assert set(model.predict(X)) == {"score", "klass"}


# -- Keras habits (issue 10 §3) -----------------------------------------------------------------
def test_fit_positional_arguments_follow_keras_order(capsys):
    """fit(x, y, 4, 2, 0) is batch_size=4, epochs=2, verbose=0, as in Keras."""
    X, y = regression(10)
    model = mlp()
    hist = model.fit(X, y, 4, 2, 0)
    assert hist.epoch == [0, 1] and hist.params["steps"] == 3 and hist.params["batch_size"] == 4
    assert capsys.readouterr().out == ""
    model.fit(X, y, 4, 1, 0, None, 0.2)  # ... callbacks, validation_split
    assert "val_loss" in model.history.history


def test_a_single_callback_is_accepted_and_other_objects_are_rejected():
    X, y = regression(16)
    model = mlp()
    model.fit(X, y, epochs=5, verbose=0,
              callbacks=tg.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0))
    assert len(model.history.epoch) == 2  # the single EarlyStopping stopped it
    with pytest.raises(TypeError, match="fit: callbacks must be"):
        model.fit(X, y, verbose=0, callbacks="early")
    with pytest.raises(TypeError, match="fit: callbacks must be tg.callbacks.Callback"):
        model.fit(X, y, verbose=0, callbacks=[print])


def test_fit_on_one_dimensional_x_says_dense_needs_batch_and_features():
    X, y = regression(16)
    with pytest.raises(ValueError, match=r"Dense needs inputs of shape \(batch, features\).*"
                                         r"reshape\(-1, 1\)"):
        mlp().fit(X[:, 0], y, verbose=0)


def test_initial_epoch_and_validation_freq():
    X, y = regression(20)
    model = mlp()
    hist = model.fit(X, y, epochs=5, initial_epoch=3, verbose=0)
    assert hist.epoch == [3, 4]
    hist = model.fit(X, y, epochs=4, validation_split=0.25, validation_freq=2, verbose=0)
    assert len(hist.history["loss"]) == 4 and len(hist.history["val_loss"]) == 2


# -- weights ---------------------------------------------------------------------------------
def test_sample_weight_gives_the_weighted_sum_over_the_batch():
    """Keras's reduction: loss = sum_i w_i * loss_i / n, with loss_i the per-sample mse."""
    X, y = regression(12)
    model = mlp()
    w = np.array([0.0, 1.0, 2.0, 0.5] * 3)
    per_sample = np.mean((model.predict(X) - y) ** 2, axis=1)
    got = model.evaluate(X, y, sample_weight=w, batch_size=12)
    assert got == pytest.approx(float(np.sum(w * per_sample) / 12), rel=1e-5)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        model.evaluate(X, y, sample_weight=np.ones((12, 2)))
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        model.evaluate(X, y, sample_weight=np.full(12, np.nan))


def test_class_weight_equals_the_matching_sample_weights_and_spares_validation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2)).astype(np.float32)
    labels = (X[:, 0] > 0.3).astype(int)
    runs = []
    for kw in ({"class_weight": {0: 1.0, 1: 3.0}},
               {"sample_weight": np.where(labels == 1, 3.0, 1.0)}):
        tg.random.seed(1)
        model = tg.nn.Sequential([tg.nn.Dense(2)])
        model.compile(tg.optimizers.SGD(0.1),
                      loss=tg.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(X, labels, batch_size=10, epochs=2, verbose=0, **kw)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    hist = model.fit(X, labels, epochs=1, verbose=0, class_weight={0: 1.0, 1: 3.0},
                     validation_split=0.5)
    assert hist.history["val_loss"][0] == pytest.approx(model.evaluate(X[15:], labels[15:]),
                                                        rel=1e-6)
    with pytest.raises(ValueError, match="class_weight has no weight for classes \\[1\\]"):
        model.fit(X, labels, verbose=0, class_weight={0: 1.0})


# -- generators and iterables -------------------------------------------------------------------
def batch_generator(X, y, batch_size, counter=None, epochs=None):
    """Yield (x, y) batches forever (or for `epochs` passes), counting the batches made."""
    passes = 0
    while epochs is None or passes < epochs:
        for lo in range(0, len(X), batch_size):
            if counter is not None:
                counter.append(lo)
            yield X[lo:lo + batch_size], y[lo:lo + batch_size]
        passes += 1


def test_generator_with_steps_per_epoch_trains_like_the_arrays():
    """A generator of the same batches (no shuffling) trains bit-identically to the arrays."""
    X, y = regression(40)
    a = mlp(seed=2)
    a.fit(X, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    b = mlp(seed=2)
    made = []
    hist = b.fit(batch_generator(X, y, 8, made), steps_per_epoch=5, epochs=3, verbose=0)
    assert len(made) == 15 and hist.params["steps"] == 5
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_generator_of_unknown_length_runs_one_epoch_and_then_reports_it_ran_out(capsys):
    X, y = regression(40)
    model = mlp()
    hist = model.fit(batch_generator(X, y, 8, epochs=1), epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert hist.epoch == [0] and "Epoch 1/1 - 5 steps" in out
    with pytest.warns(UserWarning, match="ran out of data at epoch 2"):
        hist = model.fit(batch_generator(X, y, 8, epochs=1), epochs=3, verbose=0)
    assert hist.epoch == [0]
    with pytest.warns(UserWarning, match="ran out of data after 2 batches of epoch 2"):
        hist = model.fit(batch_generator(X, y, 8, epochs=1), steps_per_epoch=3, epochs=3,
                         verbose=0)
    assert hist.epoch == [0, 1]


def test_progress_bar_counts_batches_of_unknown_length(capsys):
    pytest.importorskip("tqdm")
    X, y = regression(40)
    model = mlp()
    model.fit(batch_generator(X, y, 8, epochs=1), epochs=1, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/1" in err and "5batch" in err and "loss" in err and "%" not in err


def test_iterable_is_read_afresh_each_epoch_and_yields_sample_weights():
    X, y = regression(24)

    class Batches:  # re-iterable, without a length
        def __iter__(self):
            for lo in range(0, 24, 8):
                yield X[lo:lo + 8], y[lo:lo + 8], np.ones(8)

    hist = mlp().fit(Batches(), epochs=3, verbose=0)
    assert hist.epoch == [0, 1, 2]


def test_a_million_sample_generator_is_never_materialised():
    """fit streams: a Dataset over a generator of 10**6 samples, shuffled through a buffer of
    100, reads only the buffer plus the batches it trains on, and stays within a few MB (the
    whole stream would be 40 MB of float32)."""
    pulled = []

    def samples():
        rng = np.random.default_rng(0)
        for i in range(10**6):
            pulled.append(i)
            x = rng.standard_normal(10).astype(np.float32)
            yield x, np.float32(x.sum())

    ds = tg.data.Dataset.from_generator(samples).shuffle(100, seed=0).batch(32).prefetch(1)
    model = tg.nn.Sequential([tg.nn.Dense(1)])
    model.compile("sgd", loss="mse")
    tracemalloc.start()
    model.fit(ds, steps_per_epoch=5, epochs=2, verbose=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 10 * 32 <= len(pulled) <= 10 * 32 + 100
    assert peak < 4 * 2**20


# -- Dataset in fit / evaluate / predict ------------------------------------------------------
def test_dataset_trains_evaluates_and_predicts_like_the_arrays():
    X, y = regression(40)
    a = mlp(seed=4)
    a.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    b = mlp(seed=4)
    ds = tg.data.Dataset.from_tensor_slices((X, y)).batch(8)
    hist = b.fit(ds, epochs=2, verbose=0, validation_data=ds)
    assert hist.params["steps"] == 5 and len(hist.history["val_loss"]) == 2
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert b.evaluate(ds) == pytest.approx(b.evaluate(X, y), rel=1e-6)
    np.testing.assert_array_equal(b.predict(ds), b.predict(X, batch_size=8))
    assert b.predict(tg.data.Dataset.from_tensor_slices(X).batch(16)).shape == (40, 1)


def test_dataset_misuse_is_a_clear_error():
    X, y = regression(16)
    model = mlp()
    ds = tg.data.Dataset.from_tensor_slices((X, y))
    with pytest.raises(ValueError, match="yields single samples; batch it first"):
        model.fit(ds, verbose=0)
    with pytest.raises(ValueError, match="repeats forever; pass steps_per_epoch"):
        model.fit(ds.batch(4).repeat(), verbose=0)
    with pytest.raises(ValueError, match="y must not be given when x is a Dataset"):
        model.fit(ds.batch(4), y, verbose=0)
    with pytest.raises(ValueError, match="batch_size must not be given"):
        model.fit(ds.batch(4), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="validation_split works on arrays only"):
        model.fit(ds.batch(4), validation_split=0.2, verbose=0)
    hist = model.fit(ds.batch(4).repeat(), steps_per_epoch=3, epochs=2, verbose=0)
    assert hist.params["steps"] == 3


# -- a custom train_step ----------------------------------------------------------------------
class GAN(tg.nn.Model):
    """A GAN-shaped model, Keras 3 style: two sub-models, two optimizers, two tapes per step,
    and `tg.metrics.Mean` trackers listed in `metrics` so that fit resets them each epoch."""

    def __init__(self):
        super().__init__()
        self.generator = tg.nn.Sequential([tg.nn.Dense(1)])
        self.discriminator = tg.nn.Sequential([tg.nn.Dense(8, activation="tanh"),
                                               tg.nn.Dense(1)])
        self.d_loss_tracker = tg.metrics.Mean(name="d_loss")
        self.g_loss_tracker = tg.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.bce = tg.losses.BinaryCrossentropy(from_logits=True)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def train_step(self, data):
        real = data  # fit(x) with no y hands the batch itself
        n = real.shape[0]
        z = tg.tensor(tg.random.generator().standard_normal((n, 1)).astype(np.float32))
        with tg.GradientTape() as tape:
            fake = self.generator(z, training=True)
            logits = self.discriminator(tg.concatenate([real, fake], axis=0), training=True)
            labels = np.concatenate([np.ones((n, 1)), np.zeros((n, 1))]).astype(np.float32)
            d_loss = self.bce(labels, logits)
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        with tg.GradientTape() as tape:
            g_loss = self.bce(np.ones((n, 1), np.float32),
                              self.discriminator(self.generator(z, training=True)))
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker}


def test_gan_shaped_two_tape_train_step_works_with_fit_callbacks_and_progress(capsys):
    """fit drives a custom two-tape step: each optimizer steps once per batch, the logs are the
    step's Mean trackers (reset every epoch, so each epoch's log is the mean of its own batch
    values), callbacks see every batch, and the progress line shows both losses."""
    tg.random.seed(0)
    real = (3.0 + 0.5 * np.random.default_rng(0).standard_normal((64, 1))).astype(np.float32)
    gan = GAN()
    d_opt, g_opt = tg.optimizers.Adam(0.01), tg.optimizers.Adam(0.01)
    gan.compile(d_opt, g_opt)
    batch_logs = []
    record = tg.callbacks.LambdaCallback(
        on_batch_end=lambda batch, logs: batch_logs.append(dict(logs)))
    gen_before = gan.generator.get_weights() if gan.generator.built else None
    hist = gan.fit(real, batch_size=16, epochs=3, verbose=2, callbacks=[record])
    out = capsys.readouterr().out
    assert gen_before is None and gan.generator.built
    assert d_opt.iterations == g_opt.iterations == 12
    assert list(hist.history) == ["d_loss", "g_loss"] and len(batch_logs) == 12
    assert "Epoch 3/3" in out and "d_loss:" in out and "g_loss:" in out
    # running means reset per epoch: the epoch log equals the last batch log of that epoch
    assert hist.history["d_loss"] == [batch_logs[i]["d_loss"] for i in (3, 7, 11)]
    assert batch_logs[4]["d_loss"] != pytest.approx(
        sum(b["d_loss"] for b in batch_logs[:5]) / 5)


def test_train_step_must_return_a_dict():
    class Bad(tg.nn.Model):
        def __init__(self):
            super().__init__()
            self.d = tg.nn.Dense(1)

        def call(self, x, training=False):
            return self.d(x)

        def train_step(self, data):
            return 1.0

    X, y = regression(8)
    model = Bad()
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="train_step must return a dict of logs"):
        model.fit(X, y, verbose=0)


def test_history_is_keras_shaped():
    X, y = regression(16)
    model = mlp()
    hist = model.fit(X, y, epochs=2, verbose=0, validation_split=0.25)
    assert hist is model.history and hist.epoch == [0, 1]
    assert set(hist.history) == {"loss", "val_loss"}
    assert all(isinstance(v, float) for v in hist.history["loss"])
    assert hist.params["epochs"] == 2 and hist.params["steps"] == math.ceil(12 / 32)


def test_no_warnings_in_a_plain_fit():
    X, y = regression(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlp().fit(X, y, epochs=2, verbose=0)


def test_generator_validation_data_spans_epochs_with_validation_steps():
    X, y = regression(40)
    model = mlp()
    hist = model.fit(X, y, epochs=3, verbose=0, validation_data=batch_generator(X, y, 8),
                     validation_steps=2)
    assert len(hist.history["val_loss"]) == 3
    with pytest.raises(ValueError, match="fit \\(validation\\): the data yielded no batches: a "
                                         "generator is read only once; give validation_steps"):
        model.fit(X, y, epochs=2, verbose=0,
                  validation_data=batch_generator(X, y, 8, epochs=1))


def test_more_steps_than_batches_end_the_pass_early_as_keras():
    X, y = regression(40)
    model = mlp()
    with pytest.warns(UserWarning, match="evaluate: the data has 2 batches, fewer than the "
                                         "1000000000000 steps"):
        big = model.evaluate(X, y, batch_size=32, steps=10**12)
    assert big == pytest.approx(model.evaluate(X, y), rel=1e-6)
    with pytest.warns(UserWarning, match="fit: the data has 2 batches"):
        hist = model.fit(X, y, steps_per_epoch=5, epochs=2, verbose=0)
    assert hist.epoch == [0, 1] and model.optimizer.iterations == 4
