"""tg.data.Dataset: tf.data's names and semantics, streaming, clear errors."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.data import Dataset


def test_from_tensor_slices_of_arrays_tuples_and_nested_dicts():
    ds = Dataset.from_tensor_slices(({"a": np.arange(3), "b": np.eye(3)}, np.arange(3) * 2))
    first = next(iter(ds))
    assert first[0]["a"] == 0 and first[0]["b"].tolist() == [1, 0, 0] and first[1] == 0
    assert len(ds) == 3
    batch = next(iter(ds.batch(2)))
    assert batch[0]["b"].shape == (2, 3) and batch[1].tolist() == [0, 2]
    assert [x.tolist() for x in Dataset.from_tensor_slices([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]


def test_batch_drop_remainder_and_cardinality():
    ds = Dataset.from_tensor_slices(np.arange(10))
    assert [b.tolist() for b in ds.batch(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(b) for b in ds.batch(4, drop_remainder=True)] == [4, 4]
    assert len(ds.batch(4)) == 3 and len(ds.batch(4, drop_remainder=True)) == 2
    assert ds.repeat().cardinality() == tg.data.dataset.INFINITE
    assert ds.repeat().take(7).cardinality() == 7
    assert Dataset.from_generator(lambda: iter(range(3))).cardinality() == tg.data.dataset.UNKNOWN
    with pytest.raises(TypeError, match="length is infinite"):
        len(ds.repeat())


def test_map_unpacks_tuples_and_repeat_take_compose():
    ds = Dataset.from_tensor_slices((np.arange(3), np.arange(3) * 10))
    assert [int(v) for v in ds.map(lambda x, y: x + y)] == [0, 11, 22]
    assert [int(v) for v in ds.map(lambda x, y: x).repeat(2).take(5)] == [0, 1, 2, 0, 1]
    assert list(Dataset.from_tensor_slices(np.arange(0)).repeat()) == []  # no endless loop


def test_shuffle_is_a_permutation_seeded_and_different_each_pass():
    """A buffer as large as the data gives a permutation; the seed fixes the sequence of
    orders; each pass (epoch) is ordered differently unless reshuffle_each_iteration=False."""
    data = np.arange(50)
    ds = Dataset.from_tensor_slices(data).shuffle(50, seed=3)
    first, second = [int(v) for v in ds], [int(v) for v in ds]
    assert sorted(first) == list(range(50)) and first != second and first != list(range(50))
    again = Dataset.from_tensor_slices(data).shuffle(50, seed=3)
    assert [int(v) for v in again] == first and [int(v) for v in again] == second
    fixed = Dataset.from_tensor_slices(data).shuffle(50, seed=3, reshuffle_each_iteration=False)
    assert [int(v) for v in fixed] == [int(v) for v in fixed]
    tg.random.seed(5)
    a = [int(v) for v in Dataset.from_tensor_slices(data).shuffle(50)]
    tg.random.seed(5)
    assert [int(v) for v in Dataset.from_tensor_slices(data).shuffle(50)] == a


def test_small_shuffle_buffer_only_moves_elements_locally_and_streams():
    """tf.data's buffer shuffle: with a buffer of 4, element i comes out no earlier than
    position i - 3, and only buffer_size elements are read ahead."""
    read = []

    def gen():
        for i in range(10**6):
            read.append(i)
            yield i

    ds = Dataset.from_generator(gen).shuffle(4, seed=0)
    out = [int(v) for v in ds.take(100)]
    assert all(pos >= v - 3 for pos, v in enumerate(out)) and len(set(out)) == 100
    assert len(read) <= 104


def test_from_generator_is_called_afresh_for_every_pass():
    ds = Dataset.from_generator(lambda: (np.full(2, i) for i in range(3)))
    assert [len(list(ds)) for _ in range(2)] == [3, 3]
    assert [x.tolist() for x in ds.as_numpy_iterator()][-1] == [2, 2]


def test_prefetch_is_accepted_and_changes_nothing():
    ds = Dataset.from_tensor_slices(np.arange(3))
    assert ds.prefetch(2) is ds and ds.prefetch(-1) is ds


@pytest.mark.parametrize("make, exc, match", [
    (lambda: Dataset.from_tensor_slices(3.0), ValueError, "from_tensor_slices: tensors must "
                                                          "have a sample axis"),
    (lambda: Dataset.from_tensor_slices((np.zeros(3), np.zeros(4))), ValueError,
     "same number of samples"),
    (lambda: Dataset.from_tensor_slices(()), ValueError, "empty tuple"),
    (lambda: Dataset.from_tensor_slices(["a", "b"]), ValueError, "must be numeric"),
    (lambda: Dataset.from_generator(iter([1, 2])), TypeError, "must be a callable"),
    (lambda: Dataset.from_tensor_slices(np.arange(3)).batch(0), ValueError, "batch_size must be "
                                                                           ">= 1"),
    (lambda: Dataset.from_tensor_slices(np.arange(3)).batch(2.0), TypeError, "batch_size must "
                                                                            "be an int"),
    (lambda: Dataset.from_tensor_slices(np.arange(3)).shuffle(10, seed="a"), TypeError,
     "Dataset.shuffle: seed must be"),
    (lambda: Dataset.from_tensor_slices(np.arange(3)).shuffle(-1), ValueError,
     "buffer_size must be >= 1"),
    (lambda: Dataset.from_tensor_slices(np.arange(3)).take(-2), ValueError, "count must be >= 0"),
    (lambda: Dataset.from_tensor_slices(np.arange(3)).map(3), TypeError, "map: fn must be "
                                                                        "callable"),
])
def test_bad_arguments_name_the_method(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_ragged_elements_in_a_batch_say_to_pad():
    ds = Dataset.from_generator(lambda: iter([np.zeros(2), np.zeros(3)])).batch(2)
    with pytest.raises(ValueError, match="Dataset.batch: elements of one batch must have the "
                                         "same shape.*pad_sequences"):
        list(ds)


def test_an_error_in_the_mapped_function_keeps_its_type_and_names_map():
    def bad(x):
        return x + "a"

    with pytest.raises(TypeError) as info:
        list(Dataset.from_tensor_slices(np.arange(2)).map(bad))
    assert info.traceback[-1].name == "bad"  # the user's own line stays in the traceback
    if hasattr(info.value, "add_note"):
        assert "Dataset.map" in " ".join(info.value.__notes__)
