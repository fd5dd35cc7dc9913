"""Weights files, checkpoints and pictures (issues 10 §3 and 11): a fresh model of the same
architecture loads a file by structure; corrupted files raise ValueError and change nothing;
files are written atomically, in folders created on demand, with the umask's mode, and a killed
writer's temporary is swept by the next save; checkpoint path templates fail clearly."""

import io
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import callbacks as cb

nn = tg.nn


def _model(units=8):
    m = nn.Sequential([nn.Dense(units, activation="tanh"), nn.BatchNormalization(), nn.Dense(1)])
    m(np.ones((2, 4), np.float32))
    return m


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, (x @ rng.standard_normal((4, 1))).astype(np.float32)


def _same(weights, model):
    for a, v in zip(weights, model.variables):
        np.testing.assert_array_equal(a, v.numpy())


# -- structure, names, counters ----------------------------------------------------------------
def test_a_fresh_model_of_the_same_architecture_loads_the_file(tmp_path):
    a, b = _model(), _model()  # same process: other layer counters (dense_2, ...)
    assert a.variables[0].name != b.variables[0].name
    a.save_weights(tmp_path / "w.npz")
    b.load_weights(tmp_path / "w.npz")
    x, _ = _data()
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_the_file_does_not_depend_on_layer_counters(tmp_path):
    nn.reset_names()
    _model().save_weights(tmp_path / "first.npz")
    for _ in range(45):
        nn.Dense(1)
    _model().save_weights(tmp_path / "later.npz")
    with np.load(tmp_path / "first.npz") as f, np.load(tmp_path / "later.npz") as g:
        assert f.files == g.files
        assert "0000/kernel" in f.files and not any("dense" in k for k in f.files)


def test_matching_by_name_is_an_option(tmp_path):
    nn.reset_names()
    a = _model()
    a.save_weights(tmp_path / "w.npz")
    nn.reset_names()
    b = _model()
    b.set_weights([w * 0 for w in b.get_weights()])
    b.load_weights(tmp_path / "w.npz", by_name=True)
    _same(a.get_weights(), b)
    c = _model()  # other names
    before = c.get_weights()
    with pytest.raises(ValueError, match="missing from the file"):
        c.load_weights(tmp_path / "w.npz", by_name=True)
    _same(before, c)


def test_another_architecture_is_refused_with_shapes_and_nothing_loaded(tmp_path):
    _model(8).save_weights(tmp_path / "w.npz")
    other = _model(5)
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"shape mismatch for #0 .*\(4, 8\).*\(4, 5\)"):
        other.load_weights(tmp_path / "w.npz")
    _same(before, other)
    small = nn.Dense(1)
    small(np.ones((1, 4)))
    with pytest.raises(ValueError, match="holds 8 arrays but .* has 2 variables"):
        small.load_weights(tmp_path / "w.npz")


# -- corrupted files ---------------------------------------------------------------------------
def _patch_compression(data: bytes, method: int) -> bytes:
    """Set the compression method of every zip entry (local and central headers)."""
    out = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            out[i + offset:i + offset + 2] = method.to_bytes(2, "little")
            start = i + 4
    return bytes(out)


def test_an_unknown_compression_method_is_a_value_error(tmp_path):
    model = _model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    path.write_bytes(_patch_compression(path.read_bytes(), 99))
    model.set_weights([w + 1 for w in model.get_weights()])
    before = model.get_weights()
    with pytest.raises(ValueError, match="not a readable .npz weights file.*NotImplementedError"):
        model.load_weights(path)
    _same(before, model)


def _npz_with_header(path, shape, data_bytes=16):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": shape})
    buf.write(b"\x00" * data_bytes)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("0000/kernel.npy", buf.getvalue())


def test_a_header_claiming_a_huge_shape_is_refused_before_allocating(tmp_path):
    model = nn.Dense(2)
    model(np.ones((1, 3)))
    before = model.get_weights()
    path = tmp_path / "huge.npz"
    _npz_with_header(path, (10**12,))
    with pytest.raises(ValueError, match=r"declares shape \(1000000000000,\)"):
        model.load_weights(path)
    _same(before, model)


def test_a_zip_entry_claiming_more_bytes_than_the_file_is_refused(tmp_path):
    model = nn.Dense(2)
    model(np.ones((1, 3)))
    path = tmp_path / "w.npz"
    model.save_weights(path)
    data = bytearray(path.read_bytes())
    i = data.find(b"PK\x01\x02")  # central directory: uncompressed size at offset 24
    data[i + 24:i + 28] = (2**31).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a readable"):
        model.load_weights(path)


def test_files_of_the_earlier_format_still_load(tmp_path):
    model = _model()
    legacy = {v.name: v.numpy() for v in model.variables}
    np.savez(tmp_path / "old.npz", **legacy)
    fresh = _model()
    fresh.load_weights(tmp_path / "old.npz")  # by structure: the file's order
    _same(model.get_weights(), fresh)


# -- atomic writes -------------------------------------------------------------------------------
def test_save_weights_and_plot_create_missing_folders(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "a" / "b" / "w.npz")
    assert (tmp_path / "a" / "b" / "w.npz").is_file()
    x = tg.Variable(2.0, name="x")
    with tg.GradientTape(persistent=True) as tape:
        _ = x * x
    tg.viz.plot(tape, to_file=tmp_path / "pics" / "g.dot")
    assert (tmp_path / "pics" / "g.dot").read_text().startswith("digraph")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    model = _model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    good = path.read_bytes()
    x = tg.Variable(2.0, name="x")
    with tg.GradientTape(persistent=True) as tape:
        _ = x * x
    tg.viz.plot(tape, to_file=tmp_path / "g.dot")
    picture = (tmp_path / "g.dot").read_bytes()

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(path)
    with pytest.raises(OSError, match="disk full"):
        tg.viz.plot(tape, to_file=tmp_path / "g.dot", show_values=True)
    assert path.read_bytes() == good and (tmp_path / "g.dot").read_bytes() == picture
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "w.npz"]


def test_saved_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        _model().save_weights(tmp_path / "w.npz")
        np.save(tmp_path / "ref.npy", np.zeros(1))
    finally:
        os.umask(old)
    mode = os.stat(tmp_path / "w.npz").st_mode & 0o777
    assert mode == os.stat(tmp_path / "ref.npy").st_mode & 0o777 == 0o644


KILLED_WRITER = textwrap.dedent("""
    import sys, time, numpy as np, tapegrad as tg
    def slow(f, **arrays):
        f.write(b"partial"); f.flush(); print("writing", flush=True); time.sleep(60)
    np.savez = slow
    m = tg.nn.Dense(2); m(np.ones((1, 3)))
    m.save_weights(sys.argv[1])
""")
SAVER = "import sys, numpy as np, tapegrad as tg\n" \
        "m = tg.nn.Dense(2); m(np.ones((1, 3))); m.save_weights(sys.argv[1])\n"


def test_a_killed_save_leaves_a_temporary_that_the_next_save_sweeps(tmp_path):
    target = tmp_path / "w.npz"
    other = tmp_path / ".tmp-weights-other.npz.1-x.npz"  # another target's: not touched
    other.write_bytes(b"x")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)],
                            stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"writing"
    finally:
        proc.kill()
        proc.wait()
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-weights-w.npz.")]
    assert len(left) == 1 and not target.exists()
    subprocess.run([sys.executable, "-c", SAVER, str(target)], check=True, env=env)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, "w.npz"])


# -- checkpoints -----------------------------------------------------------------------------------
def _fit(model, callbacks, **kw):
    x, y = _data()
    model.compile(tg.optimizers.SGD(0.05), loss="mse")
    return model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks, **kw)


def test_model_checkpoint_creates_its_folder(tmp_path):
    _fit(_model(), [cb.ModelCheckpoint(str(tmp_path / "ck" / "w.{epoch:02d}.npz"))])
    assert sorted(os.listdir(tmp_path / "ck")) == ["w.01.npz", "w.02.npz"]


def test_a_folder_with_braces_works(tmp_path):
    _fit(_model(), [cb.ModelCheckpoint(str(tmp_path / "run{1}" / "w.{epoch}.npz"))])
    assert sorted(os.listdir(tmp_path / "run{1}")) == ["w.1.npz", "w.2.npz"]


def test_a_missing_validation_key_is_named(tmp_path):
    ck = cb.ModelCheckpoint(str(tmp_path / "ckpt_{val_loss:.3f}.npz"))
    with pytest.raises(ValueError, match=r"needs 'val_loss', which is not in the logs "
                                         r"\(available: \['epoch', 'loss'\]\)"):
        _fit(_model(), [ck])
    _fit(_model(), [ck], validation_split=0.25)  # with validation data it works
    assert len(list(tmp_path.glob("ckpt_*.npz"))) == 2


def test_a_driver_that_says_there_is_no_validation_fails_at_train_begin(tmp_path):
    ck = cb.ModelCheckpoint(str(tmp_path / "w_{epoch}_{val_loss:.2f}.npz"))
    cbs = cb.CallbackList([ck], variables=[tg.Variable(1.0)], params={"do_validation": False})
    with pytest.raises(ValueError, match=r"uses \['val_loss'\], but training has no "
                                         r"validation data"):
        cbs.on_train_begin()


def test_a_malformed_template_fails_at_construction():
    with pytest.raises(ValueError, match=r"^ModelCheckpoint: filepath 'w\{.npz' is not a valid"):
        cb.ModelCheckpoint("w{.npz")
    with pytest.raises(TypeError, match="^ModelCheckpoint: filepath must be a path"):
        cb.ModelCheckpoint(None)


def test_a_hand_written_loop_checkpoint_keeps_variables_of_the_same_name(tmp_path):
    a, b, c = tg.Variable([1.0], name="w"), tg.Variable([2.0], name="w"), tg.Variable(3.0)
    cbs = cb.CallbackList([cb.ModelCheckpoint(str(tmp_path / "ck.npz"))], variables=[a, b, c])
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"loss": 1.0})
    with np.load(tmp_path / "ck.npz") as f:
        arrays = [f[k] for k in sorted(set(f.files) - {"__names__"})]
        assert list(f["__names__"]) == ["w", "w", "variable_2"]
    assert [float(np.ravel(x)[0]) for x in arrays] == [1.0, 2.0, 3.0]


def test_csv_logger_documents_the_torn_last_line():
    assert "torn last line" in " ".join(cb.CSVLogger.__doc__.split())
