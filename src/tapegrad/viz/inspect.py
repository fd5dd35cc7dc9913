"""Seeing inside a model with gradients on its input ("Deep Learning with Python", 5.4).

- `activations(model, x, layers)`: the intermediate feature maps, drawn as a grid;
- `filter_patterns(model, layer, filters)`: the input that a filter responds to most, found by
  gradient ascent on the input with the gradient normalised to unit RMS at every step;
- `grad_cam(model, x, layer, class_index)`: where in the image the evidence for a class is
  (Grad-CAM: the layer's feature maps weighted by the channel-averaged gradient of the class
  score, ReLU, scaled to [0, 1], upsampled to the image), optionally drawn over the image;
- `saliency(model, x, class_index)`: |d score / d input|, averaged over noisy copies of the
  input with `smooth_samples` (SmoothGrad).

A layer is named by its name, its index in `model.layers`, or the layer object (any nested
layer works). Its output is read by wrapping the layer's `call` for one forward pass, so these
functions work on any model, not only `Sequential`. Models run with `training=False`
(BatchNormalization uses its moving statistics, Dropout and augmentation are off).
Matplotlib is imported only when something is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import ops
from tapegrad.tape import GradientTape
from tapegrad.tensor import Tensor, tensor

__all__ = ["activations", "filter_patterns", "grad_cam", "overlay_heatmap", "saliency"]


class _Captured(Exception):
    """Raised inside the forward pass once every requested layer output is captured."""


def _layer(model: Any, layer: Any) -> Any:
    """The layer `layer` names: a layer object, a name, or an index into `model.layers`."""
    from tapegrad.nn.module import Module

    if isinstance(layer, Module):
        if layer is model or any(m is layer for m in model.submodules):
            return layer
        raise ValueError(f"layer {layer.name!r} is not part of model {model.name!r}")
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        layers = model.layers
        if not -len(layers) <= layer < len(layers):
            raise IndexError(f"layer index {layer} is out of range: model {model.name!r} has "
                             f"{len(layers)} layers")
        return layers[layer]
    if isinstance(layer, str):
        for m in model.submodules:
            if m.name == layer:
                return m
        raise ValueError(f"model {model.name!r} has no layer named {layer!r}; its layers are "
                         f"{[m.name for m in model.submodules]}")
    raise TypeError(f"a layer is a name, an index or a layer object, got {layer!r}")


def _forward(model: Any, x: Tensor, layers: Sequence[Any], stop: bool = False
             ) -> tuple[Any, list[Tensor]]:
    """Run `model(x, training=False)` and return (its output, the outputs of `layers`). With
    `stop=True` the pass ends as soon as every layer has produced its output (output None)."""
    outputs: dict[int, Tensor] = {}
    for layer in layers:
        original = layer.call

        def capture(inputs: Any, *args: Any, _layer: Any = layer, _call: Any = original,
                    **kwargs: Any) -> Any:
            out = _call(inputs, *args, **kwargs)
            outputs[id(_layer)] = out
            if stop and len(outputs) == len(layers):
                raise _Captured
            return out

        object.__setattr__(layer, "call", capture)  # shadows the class's method for this pass
    try:
        result = model(x, training=False)
    except _Captured:
        result = None
    finally:
        for layer in layers:
            layer.__dict__.pop("call", None)
    missing = [layer.name for layer in layers if id(layer) not in outputs]
    if missing:
        raise ValueError(f"layers {missing} were not called by model {model.name!r}")
    return result, [outputs[id(layer)] for layer in layers]


def _float_input(x: Any, who: str) -> Tensor:
    arr = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{who}: the input must be a float array (gradients on an integer "
                        f"input do not exist), got dtype {arr.dtype}")
    return tensor(arr)


def _class_scores(out: Tensor, class_index: Any, who: str) -> tuple[Tensor, np.ndarray]:
    """sum over the batch of out[i, c_i], and the classes c (argmax where class_index is None)."""
    if out.ndim != 2:
        raise ValueError(f"{who}: the model must output (batch, classes) scores, got shape "
                         f"{out.shape}")
    b, k = out.shape
    if class_index is None:
        classes = np.argmax(out.numpy(), axis=1)
    else:
        classes = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (b,))
    if classes.min() < 0 or classes.max() >= k:
        raise IndexError(f"{who}: class_index {class_index!r} is out of range for {k} classes")
    return ops.sum(out[np.arange(b), classes]), classes


def _plt() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _show_maps(ax: Any, image: np.ndarray) -> None:
    if image.ndim == 1:
        image = image[None, :]
    ax.imshow(image, cmap="viridis", aspect="auto" if image.shape[0] == 1 else None)
    ax.set_xticks([])
    ax.set_yticks([])


def activations(model: Any, x: Any, layers: Any = None, *, plot: bool = True,
                max_maps: int = 16, cols: int = 8) -> dict[str, np.ndarray]:
    """The outputs of `layers` (default: every layer of `model.layers` that keeps a spatial
    axis) for inputs `x`, keyed by layer name; with `plot=True` the first image's maps are
    drawn, one block of up to `max_maps` channels per layer.

    >>> import numpy as np, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Conv2D(4, 3, activation="relu", name="conv"),
    ...                           tg.nn.Flatten(), tg.nn.Dense(2)])
    >>> maps = tg.viz.activations(model, np.zeros((1, 6, 6, 1)), plot=False)
    >>> {name: a.shape for name, a in maps.items()}
    {'conv': (1, 4, 4, 4)}
    """
    xt = _float_input(x, "activations")
    if layers is None:
        _, outs = _forward(model, xt, model.layers)
        chosen = [(m, o) for m, o in zip(model.layers, outs) if o.ndim in (3, 4)]
    else:
        picked = [_layer(model, m) for m in (layers if isinstance(layers, (list, tuple))
                                               else [layers])]
        _, outs = _forward(model, xt, picked, stop=True)
        chosen = list(zip(picked, outs))
    result = {m.name: o.numpy() for m, o in chosen}
    if plot and result:
        plt = _plt()
        blocks = [(name, a[0], min(a.shape[-1], max_maps)) for name, a in result.items()]
        rows = [int(np.ceil(n / cols)) for _, _, n in blocks]
        fig, axes = plt.subplots(sum(rows), cols, figsize=(1.3 * cols, 1.45 * sum(rows)),
                                 squeeze=False)
        r = 0
        for (name, a, n), nrows in zip(blocks, rows):
            for i in range(nrows * cols):
                ax = axes[r + i // cols, i % cols]
                if i < n:
                    _show_maps(ax, a[..., i])
                    ax.set_title(f"{name}:{i}" if i == 0 else str(i), fontsize=8)
                else:
                    ax.axis("off")
            r += nrows
        fig.tight_layout()
    return result


def filter_patterns(model: Any, layer: Any, filters: Sequence[int] | int, *,
                    input_shape: Sequence[int] | None = None, steps: int = 30,
                    step_size: float = 0.1, start: Any = None, seed: int | None = 0,
                    plot: bool = True, cols: int = 8, return_history: bool = False) -> Any:
    """Inputs that maximise the mean activation of each filter (channel) of `layer`: start
    from faint noise and repeat x += step_size * g / rms(g), g = d mean(filter) / dx
    ("Deep Learning with Python", 5.4). One image per filter, optimised together as a batch.

    Returns the images (len(filters), *input_shape); with `return_history=True` also the mean
    activations, shape (steps + 1, len(filters)), measured before each step and after the last.
    `input_shape` (batch axis excluded) defaults to `model.input_shape` where that exists.

    >>> import numpy as np, tapegrad as tg
    >>> tg.random.seed(0)
    >>> model = tg.nn.Sequential([tg.nn.Conv2D(3, 3, activation="relu")])
    >>> images, hist = tg.viz.filter_patterns(model, 0, [0, 1], input_shape=(6, 6, 1),
    ...                                       steps=5, plot=False, return_history=True)
    >>> images.shape, bool((np.diff(hist, axis=0) >= 0).all())
    ((2, 6, 6, 1), True)
    """
    target = _layer(model, layer)
    filters = [int(filters)] if isinstance(filters, (int, np.integer)) else [int(f)
                                                                           for f in filters]
    if input_shape is None:
        shape = getattr(model, "input_shape", None)
        if shape is None:
            raise ValueError("filter_patterns: pass input_shape=(height, width, channels) (the "
                             "model does not say which input shape it takes)")
        input_shape = tuple(shape)[1:]
    n = len(filters)
    if start is None:
        start = np.random.default_rng(seed).normal(0.0, 0.05, (n, *input_shape))
    img = np.array(start, dtype=np.float64).reshape(n, *input_shape).astype(model.dtype)
    rows = np.arange(n)
    history = []
    for step in range(steps + 1):
        x = tensor(img)
        with GradientTape() as tape:
            tape.watch(x)
            _, (a,) = _forward(model, x, [target], stop=True)
            if step == 0 and not 0 <= max(filters) < a.shape[-1]:
                raise IndexError(f"filter_patterns: layer {target.name!r} has {a.shape[-1]} "
                                 f"filters, asked for {max(filters)}")
            per_image = ops.mean(ops.reshape(ops.moveaxis(a, -1, 1)[rows, filters], (n, -1)),
                                 axis=1)
            total = ops.sum(per_image)
        history.append(per_image.numpy().astype(np.float64))
        if step == steps:
            break
        g = tape.gradient(total, x)
        g = np.zeros_like(img) if g is None else g.numpy()
        rms = np.sqrt(np.mean(g.reshape(n, -1) ** 2, axis=1)).reshape(-1, *[1] * len(input_shape))
        img = img + step_size * g / (rms + 1e-5)
    if plot:
        _plot_images(img, [f"filter {f}" for f in filters], cols, f"{target.name}: patterns")
    return (img, np.stack(history)) if return_history else img


def _display(image: np.ndarray) -> np.ndarray:
    """An image scaled for display ("deprocess": mean 0.5, std 0.15, clipped to [0, 1])."""
    z = (image - image.mean()) / (image.std() + 1e-5)
    z = np.clip(0.5 + 0.15 * z, 0.0, 1.0)
    return z[..., 0] if z.ndim == 3 and z.shape[-1] == 1 else z


def _plot_images(images: np.ndarray, titles: list[str], cols: int, title: str) -> None:
    plt = _plt()
    cols = min(cols, len(images))
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.55 * rows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(_display(images[i]), cmap="gray", vmin=0, vmax=1)
            ax.set_title(titles[i], fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()


def _upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(b, h, w) maps resized bilinearly (half-pixel centres) to (b, *size)."""
    from tapegrad.nn.augmentation import Resizing

    return Resizing(*size)(tensor(maps[..., None])).numpy()[..., 0]


def grad_cam(model: Any, x: Any, layer: Any, class_index: Any = None, *, upsample: bool = True,
             overlay: bool = False, alpha: float = 0.7, cols: int = 8) -> np.ndarray:
    """Grad-CAM heatmaps, one per input, in [0, 1]: relu(sum_k w_k A_k) / max, where A_k are
    the feature maps of `layer` and w_k the mean over positions of d score / d A_k.

    `class_index`: an int, one per input, or None for each input's top class. The score is the
    model's output for that class (give logits, not probabilities, for gradients that do not
    vanish in a saturated softmax). `upsample=True` resizes the heatmaps to the input images;
    `overlay=True` draws them over the images.

    >>> import numpy as np, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Conv2D(4, 3, padding="same", activation="relu"),
    ...                           tg.nn.GlobalAveragePooling2D(), tg.nn.Dense(3)])
    >>> x = np.random.default_rng(0).random((2, 8, 8, 1))
    >>> heat = tg.viz.grad_cam(model, x, 0, class_index=1)
    >>> heat.shape, bool(heat.min() >= 0 and heat.max() <= 1)
    ((2, 8, 8), True)
    """
    xt = _float_input(x, "grad_cam")
    target = _layer(model, layer)
    with GradientTape() as tape:
        tape.watch(xt)
        out, (maps,) = _forward(model, xt, [target])
        score, _ = _class_scores(out, class_index, "grad_cam")
    if maps.ndim not in (3, 4):
        raise ValueError(f"grad_cam: layer {target.name!r} must output feature maps (batch, "
                         f"..., channels), got shape {maps.shape}")
    g = tape.gradient(score, maps)
    a = maps.numpy().astype(np.float64)
    g = np.zeros_like(a) if g is None else g.numpy().astype(np.float64)
    spatial = tuple(range(1, a.ndim - 1))
    weights = g.mean(axis=spatial, keepdims=True)
    cam = np.maximum((weights * a).sum(axis=-1), 0.0)
    top = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, *[1] * (cam.ndim - 1))
    cam = np.divide(cam, top, out=np.zeros_like(cam), where=top > 0)
    if upsample and cam.ndim == 3 and xt.ndim == 4 and cam.shape[1:] != xt.shape[1:3]:
        cam = np.clip(_upsample(cam, xt.shape[1:3]), 0.0, 1.0)
    if overlay:
        plt = _plt()
        n = len(cam)
        c = min(cols, n)
        fig, axes = plt.subplots(int(np.ceil(n / c)), c, figsize=(1.6 * c, 1.7 * np.ceil(n / c)),
                                 squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                overlay_heatmap(xt.numpy()[i], cam[i], ax=ax, alpha=alpha)
        fig.tight_layout()
    return cam


def overlay_heatmap(image: Any, heatmap: Any, ax: Any = None, alpha: float = 0.7,
                    cmap: str = "jet") -> Any:
    """Draw `image` (h, w), (h, w, 3) or (h, w, channels: their mean, in gray) with `heatmap`
    (values in [0, 1], resized to it) on top, each pixel's opacity `alpha * heat`; returns the
    matplotlib Axes.

    >>> import numpy as np, tapegrad as tg
    >>> ax = tg.viz.overlay_heatmap(np.zeros((8, 8, 1)), np.eye(4))
    >>> len(ax.images)
    2
    """
    plt = _plt()
    ax = plt.gca() if ax is None else ax
    img = np.asarray(image, dtype=np.float64)
    heat = np.asarray(heatmap, dtype=np.float64)
    if img.ndim == 3 and img.shape[-1] not in (3, 4):
        img = img.mean(axis=-1)  # one channel, or several that are not colours: gray
    if heat.shape != img.shape[:2]:
        heat = _upsample(heat[None], img.shape[:2])[0]
    ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None, alpha=0.45)  # faded, under the heat
    colours = plt.get_cmap(cmap)(np.clip(heat, 0.0, 1.0))
    colours[..., 3] = alpha * np.clip(heat, 0.0, 1.0)  # cold places stay see-through
    ax.imshow(colours)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def saliency(model: Any, x: Any, class_index: Any = None, *, smooth_samples: int = 0,
             noise_level: float = 0.15, absolute: bool = True, seed: int | None = 0
             ) -> np.ndarray:
    """d score / d input for each input (shape of `x`), |.| by default (Simonyan et al.'s
    saliency map; for an image take `.max(axis=-1)` over channels).

    With `smooth_samples=n` the gradient is averaged over n copies of each input with Gaussian
    noise of std `noise_level * (max - min)` of that input (SmoothGrad), which removes much of
    the speckle; the class is then chosen once, on the clean input.

    >>> import numpy as np, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Dense(2, use_bias=False)])
    >>> model.build((None, 3))
    >>> _ = model.layers[0].kernel.assign([[1.0, 0.0], [-2.0, 0.0], [0.0, 1.0]])
    >>> tg.viz.saliency(model, np.ones((1, 3)), class_index=0)
    array([[1., 2., 0.]])
    """
    xt = _float_input(x, "saliency")
    arr = xt.numpy()
    if class_index is None:
        class_index = np.argmax(model(xt, training=False).numpy(), axis=1)
    n = int(smooth_samples)
    if n > 0:
        rng = np.random.default_rng(seed)
        axes = tuple(range(1, arr.ndim))
        spread = (arr.max(axis=axes, keepdims=True) - arr.min(axis=axes, keepdims=True))
        noisy = arr[None] + rng.normal(size=(n, *arr.shape)) * (noise_level * spread)[None]
        batch = tensor(noisy.reshape(n * len(arr), *arr.shape[1:]).astype(arr.dtype))
        classes = np.tile(np.broadcast_to(np.asarray(class_index), (len(arr),)), n)
    else:
        batch, classes = xt, class_index
    with GradientTape() as tape:
        tape.watch(batch)
        score, _ = _class_scores(model(batch, training=False), classes, "saliency")
    g = tape.gradient(score, batch)
    g = np.zeros(batch.shape, batch.dtype) if g is None else g.numpy()
    if n > 0:
        g = g.reshape(n, *arr.shape).mean(axis=0)
    return np.abs(g) if absolute else g
