"""``Image``: numpy arrays, torch tensors, PIL images, matplotlib figures and image files."""

from __future__ import annotations

import base64
import io
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ._base import Media, is_figure, register

_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16", "F", "CMYK", "YCbCr"})
_FILE_TYPES = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "bmp": "png", "gif": "gif"}
_KEEP_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif"}  # files stored as they are
_SHAPES = "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"


def _pil() -> Any:
    try:
        from PIL import Image as PILImage  # noqa: PLC0415 - Pillow loads when media do
    except ImportError as exc:  # pragma: no cover - Pillow is a dependency
        raise ImportError("nbrun.Image needs Pillow: pip install pillow") from exc
    return PILImage


def figure_png(fig: Any) -> bytes:
    """Render a matplotlib figure to PNG bytes (its current state)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def to_uint8(arr: Any, what: str, normalize: bool = False) -> Any:
    """An image array as uint8, the way W&B converts it: floats (and bools) with negative
    values are first rescaled to [0, 1] by their min and max; values all at most 1 are then
    multiplied by 255; everything is clipped to [0, 255]. Integers are clipped (rescaled by
    min and max when negative). ``normalize`` (torch tensors) always rescales by min and max."""
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{what}: dtype {arr.dtype} is not an image; use numeric or bool pixels")
    if arr.dtype == np.uint8 and not normalize:
        return np.array(arr, copy=True)
    if kind == "b":
        return arr.astype(np.uint8) * 255
    if kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{what}: the pixels contain NaN or infinity; use finite values")
    data = arr.astype(np.float64)
    lo, hi = float(data.min()), float(data.max())
    if normalize or lo < 0:
        span = hi - lo
        data = (data - lo) / span if span > 0 else np.zeros_like(data)
        hi = 1.0
    if (kind == "f" or normalize) and hi <= 1.0:
        data = data * 255
    return np.clip(data, 0, 255).astype(np.uint8)


def make_grid(batch: Any, nrow: int = 8, padding: int = 2) -> Any:
    """(N, C, H, W) pixels -> (C, rows * (H + padding) + padding, cols * (W + padding) +
    padding): the images left to right, ``nrow`` per row, on a background of zeros, laid out
    as torchvision's ``make_grid`` lays them out (a batch of one is that image)."""
    n, c, h, w = batch.shape
    if n == 1:
        return batch[0]
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.zeros(
        (c, rows * (h + padding) + padding, cols * (w + padding) + padding), batch.dtype
    )
    for k in range(n):
        r, col = divmod(k, cols)
        top, left = r * (h + padding) + padding, col * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = batch[k]
    return grid


def _check_shape(arr: Any, what: str) -> Any:
    shape = tuple(arr.shape)
    if arr.ndim == 3 and shape[2] == 1:
        arr = arr[:, :, 0]
    ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))
    if not ok or 0 in shape:
        hint = ""
        if arr.ndim == 3 and shape[0] in (1, 3, 4):
            hint = " (channels first? use array.transpose(1, 2, 0))"
        raise ValueError(f"{what}: an image array of shape {shape} is not {_SHAPES}{hint}")
    return arr


@register
class Image(Media):
    """An image for ``run.log``: ``Image(data_or_path, mode=None, caption=None)``.

    ``data_or_path`` is a numpy array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
    (floats in [0, 1] are scaled to 0..255, as W&B does), a torch tensor (C, H, W) (normalised
    by its min and max, as W&B does; a batch (N, C, H, W) becomes one grid image, as W&B's
    ``make_grid`` makes it), a PIL image, a matplotlib figure, or the path of an image file or
    an image file open in binary mode. Stored as PNG (lossless), except a JPEG or GIF file,
    which is kept as it is.
    """

    _ref_type = "image-file"
    _kind = "images"

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        grouping: int | None = None,
        classes: Any = None,
        boxes: Any = None,
        masks: Any = None,
        file_type: str | None = None,
    ) -> None:
        super().__init__(caption)
        for name, value in (("classes", classes), ("boxes", boxes), ("masks", masks)):
            if value is not None:
                raise ValueError(f"Image: {name}= is not supported by nbrun yet; pass None")
        if mode is not None and mode not in _MODES:
            raise ValueError(f"Image: mode={mode!r}; allowed: {', '.join(sorted(_MODES))}")
        if file_type is not None and str(file_type).lower() not in _FILE_TYPES:
            raise ValueError(
                f"Image: file_type={file_type!r}; allowed: {', '.join(sorted(_FILE_TYPES))}"
            )
        self.mode = mode
        self.grouping = grouping
        self._file_type = _FILE_TYPES[str(file_type).lower()] if file_type else "png"
        self._array: Any = None  # uint8 pixels
        self._pil_image: Any = None  # a private copy of a PIL image
        self._raw: bytes | None = None  # file bytes kept as they are
        self._raw_ext = ""
        self.width = self.height = 0
        self._take(data_or_path)

    def _take(self, data: Any) -> None:
        if isinstance(data, (str, os.PathLike)):
            self._take_file(Path(data))
            return
        if callable(getattr(data, "read", None)):  # an image file open in binary mode
            raw = data.read()
            if not isinstance(raw, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"Image: the file object gave a {type(raw).__name__}; open image files in "
                    "binary mode ('rb')"
                )
            name = getattr(data, "name", None)
            self._take_bytes(bytes(raw), repr(str(name)) if name is not None else "the file")
            return
        if isinstance(data, Image):
            data = data.image
        # a PIL image exists only once PIL is imported (another thread may be importing it)
        pil_class: Any = getattr(sys.modules.get("PIL.Image"), "Image", None)
        if isinstance(pil_class, type) and isinstance(data, pil_class):
            given: Any = data
            img = given.copy()
            self._pil_image = img
            self.width, self.height = img.size
            return
        if is_figure(data):
            self._set_raw(figure_png(data), "png")
            return
        t = type(data)
        module = getattr(t, "__module__", "") or ""
        if module.startswith("torch") and "torch" in sys.modules:
            arr = data.detach().cpu().numpy()
            if arr.ndim == 4:
                self._set_batch(arr)
                return
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
                arr = arr.transpose(1, 2, 0)
            self._set_array(arr, normalize=True)
            return
        if module == "numpy" or isinstance(data, (list, tuple)):
            try:
                arr = np.asarray(data)
            except ValueError as exc:
                raise ValueError(f"Image: the data is not a rectangular array: {exc}") from None
            self._set_array(arr)
            return
        raise TypeError(
            f"Image: cannot make an image from a {module}.{t.__qualname__}; allowed: a numpy "
            f"array {_SHAPES}, a torch tensor (C, H, W), a PIL image, a matplotlib figure or "
            "the path of an image file"
        )

    def _set_array(self, arr: Any, normalize: bool = False) -> None:
        what = f"Image of shape {tuple(arr.shape)}, dtype {arr.dtype}"
        arr = _check_shape(arr, what)
        self._array = to_uint8(arr, what, normalize)
        self.height, self.width = self._array.shape[:2]

    def _set_batch(self, batch: Any) -> None:
        """A batch of tensor images (N, C, H, W) as one grid image, as W&B makes it with
        torchvision's ``make_grid`` (nrow 8, padding 2, pad value 0, the whole batch
        normalised by its min and max; one image is itself, without padding)."""
        shape = tuple(batch.shape)
        if shape[1] not in (1, 3, 4) or 0 in shape:
            raise ValueError(
                f"Image: a batch of shape {shape} is not images; allowed for a torch tensor: "
                "(H, W), (C, H, W) or a batch (N, C, H, W), with C = 1, 3 or 4"
            )
        pixels = to_uint8(batch, f"Image of shape {shape}, dtype {batch.dtype}", normalize=True)
        grid = make_grid(pixels)
        self._set_array(grid.transpose(1, 2, 0))

    def _set_raw(self, data: bytes, ext: str) -> None:
        pil = _pil()
        with pil.open(io.BytesIO(data)) as img:
            self.width, self.height = img.size
        self._raw, self._raw_ext = data, ext

    def _take_file(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"Image: no image file at {str(path)!r}")
        self._take_bytes(path.read_bytes(), repr(str(path)))

    def _take_bytes(self, data: bytes, label: str) -> None:
        """An image file's bytes (``label`` names the file in errors)."""
        pil = _pil()
        try:
            with pil.open(io.BytesIO(data)) as img:
                fmt = img.format
                size = img.size
                keep = fmt in _KEEP_FORMATS and self.mode is None
                if not keep:
                    img.load()
                    self._pil_image = img.copy()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"Image: {label} is not an image file Pillow can read") from exc
        self.width, self.height = size
        if keep:
            self._raw, self._raw_ext = data, _KEEP_FORMATS[fmt]

    # -- writer thread ----------------------------------------------------------------------
    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        extra: dict[str, Any] = {"width": self.width, "height": self.height}
        if self._raw is not None:
            extra["format"] = self._raw_ext
            return self._raw, self._raw_ext, extra
        img = self._pil_image
        if img is None:
            img = _pil().fromarray(self._array)
        if self.mode is not None and img.mode != self.mode:
            img = img.convert(self.mode)
        fmt = self._file_type
        if fmt == "jpeg" and img.mode not in ("L", "RGB", "CMYK"):
            img = img.convert("RGB")
        buf = io.BytesIO()
        if fmt == "png":
            img.save(buf, format="PNG", compress_level=1)
        else:
            img.save(buf, format=fmt.upper())
        ext = {"png": "png", "jpeg": "jpg", "gif": "gif"}[fmt]
        extra["format"] = ext
        return buf.getvalue(), ext, extra

    # -- read side --------------------------------------------------------------------------
    def _load_ref(self, ref: dict[str, Any]) -> None:
        self.mode = None
        self.grouping = None
        self._array = self._pil_image = self._raw = None
        self._raw_ext = str(ref.get("format", ""))
        self._file_type = "png"
        w, h = ref.get("width"), ref.get("height")
        self.width = w if type(w) is int else 0
        self.height = h if type(h) is int else 0

    @property
    def image(self) -> Any:
        """The image as a PIL image."""
        pil = _pil()
        if self._path is not None or self._raw is not None:
            img = pil.open(io.BytesIO(self._bytes() if self._raw is None else self._raw))
            img.load()
            return img
        if self._pil_image is not None:
            return self._pil_image.copy()
        return pil.fromarray(self._array)

    def numpy(self) -> Any:
        """The pixels as a numpy array (H, W) or (H, W, C), uint8 for 8-bit images."""
        if self._array is not None and self.mode is None:
            return self._array.copy()
        return np.asarray(self.image)

    def png(self) -> bytes:
        """The image as PNG bytes."""
        if self._path is not None and self._path.suffix == ".png":
            return self._path.read_bytes()
        if self._raw is not None and self._raw_ext == "png":
            return self._raw
        buf = io.BytesIO()
        img = self.image
        if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            img = img.convert("RGBA")
        img.save(buf, format="PNG")
        return buf.getvalue()

    def thumbnail(self, size: int = 128) -> bytes:
        """A PNG thumbnail at most ``size`` pixels on its longer side."""
        img = self.image
        if img.mode not in ("L", "LA", "RGB", "RGBA"):
            img = img.convert("RGBA")
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    def describe(self) -> str:
        """``Image 28x28``."""
        return f"Image {self.width}x{self.height}"

    def _repr_png_(self) -> bytes:
        return self.png()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png()).decode()
        return (
            f'<figure style="margin:0"><img src="data:image/png;base64,{data}" '
            f'alt="image">{self._caption_html()}</figure>'
        )
