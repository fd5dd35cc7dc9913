"""DLwP 7.1's two-input/two-output model trained end to end (issue 13): a text input and a
metadata input, a softmax output and a regression output, one loss per output with weights.

Needs multi-input/multi-output `compile`/`fit` (helper "trainio"'s part of issue 13): it is
skipped, saying so, while `compile` does not take a list of losses."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

VOCAB, TAGS, DEPARTMENTS = 40, 5, 3


def ticket_model():
    text = nn.Input((VOCAB,), name="text")
    meta = nn.Input((TAGS,), name="meta")
    features = nn.Concatenate()([nn.Dense(16, activation="relu")(text), meta])
    features = nn.Dense(16, activation="relu")(features)
    priority = nn.Dense(1, name="priority")(features)
    department = nn.Dense(DEPARTMENTS, activation="softmax", name="department")(features)
    return nn.Model([text, meta], [priority, department])


def ticket_data(seed, n=600):
    """The department is decided by which word group the text uses most; the priority is a
    linear function of the metadata plus a little noise."""
    rng = np.random.default_rng(seed)
    department = rng.integers(0, DEPARTMENTS, n)
    text = rng.poisson(0.3, (n, VOCAB)).astype(np.float32)
    group = VOCAB // DEPARTMENTS
    for i, d in enumerate(department):
        text[i, d * group:(d + 1) * group] += rng.poisson(1.0, group)
    meta = rng.random((n, TAGS)).astype(np.float32)
    priority = (meta @ np.linspace(-1, 1, TAGS) + 0.05 * rng.standard_normal(n))
    return text, meta, priority.astype(np.float32)[:, None], department


def _compile(model):
    try:
        model.compile(tg.optimizers.Adam(0.01),
                      loss=["mean_squared_error", "sparse_categorical_crossentropy"],
                      loss_weights=[1.0, 0.5], metrics=[[], ["accuracy"]])
    except (TypeError, ValueError) as e:
        pytest.skip(f"needs multi-output compile/fit (trainio, issue 13): {e}")


def test_ticket_model_forward_shapes_and_names():
    nn.reset_names()
    model = ticket_model()
    text, meta, _, _ = ticket_data(0, n=8)
    priority, department = model([text, meta])
    assert priority.shape == (8, 1) and department.shape == (8, DEPARTMENTS)
    assert model.input_names == ["text", "meta"]
    assert model.output_names == ["priority", "department"]
    by_name = model({"meta": meta, "text": text})
    np.testing.assert_array_equal(by_name[1].numpy(), department.numpy())


@pytest.mark.parametrize("seed", [0, 1])
def test_ticket_model_trains_end_to_end(seed):
    """Demonstrates: both heads learn through one shared trunk with per-output losses and
    loss weights; logs name each output as Keras does. Bars to be measured over seeds once
    multi-output fit lands (chance accuracy is 1/3; the priority's variance is about 0.27)."""
    nn.reset_names()
    tg.random.seed(seed)
    model = ticket_model()
    _compile(model)
    text, meta, priority, department = ticket_data(seed)
    history = model.fit([text, meta], [priority, department], batch_size=32, epochs=15,
                        validation_split=0.25, verbose=0)
    logs = history.history
    for key in ("loss", "priority_loss", "department_loss", "department_accuracy",
                "val_department_accuracy"):
        assert key in logs, sorted(logs)
    assert logs["val_department_accuracy"][-1] > 0.8
    assert logs["priority_loss"][-1] < 0.1
    assert logs["loss"][-1] < 0.5 * logs["loss"][0]


def train_by_hand(seed, epochs=10):
    """The same training with a hand-written tape loop (no multi-output fit needed): returns
    held-out department accuracy and priority mean squared error."""
    nn.reset_names()
    tg.random.seed(seed)
    model = ticket_model()
    text, meta, priority, department = ticket_data(seed)
    n_train = 450
    opt = tg.optimizers.Adam(0.01)
    mse = tg.losses.get("mean_squared_error")
    xent = tg.losses.get("sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        perm = rng.permutation(n_train)
        for lo in range(0, n_train, 32):
            i = perm[lo:lo + 32]
            with tg.GradientTape() as tape:
                p, d = model([text[i], meta[i]], training=True)
                loss = 1.0 * mse(priority[i], p) + 0.5 * xent(department[i], d)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
    p, d = model([text[n_train:], meta[n_train:]])
    acc = float(np.mean(np.argmax(d.numpy(), 1) == department[n_train:]))
    err = float(np.mean((p.numpy() - priority[n_train:]) ** 2))
    return acc, err


@pytest.mark.parametrize("seed", [0, 1])
def test_ticket_model_trains_with_a_tape_loop(seed):
    """Demonstrates: the two-input/two-output functional model learns both tasks through its
    shared trunk with weighted per-output losses (held-out data). Measured over seeds 0-19
    (OPENBLAS_CORETYPE=Haswell and Prescott): department accuracy 0.987-1.0 (chance 0.33),
    priority MSE 0.0046-0.021 (predicting the mean: about 0.27). Bars: 0.85 and 0.08."""
    acc, err = train_by_hand(seed)
    assert acc > 0.85
    assert err < 0.08
