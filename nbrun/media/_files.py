"""``Video``, ``Audio``, ``Html`` and ``Object3D``: media stored as one file each."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import warnings
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ._base import Media, register
from ._image import _pil, to_uint8

_VIDEO_FORMATS = ("gif", "mp4", "webm", "ogg")
_AUDIO_FORMATS = ("wav", "mp3", "ogg", "flac")
_3D_FORMATS = ("obj", "gltf", "glb", "babylon", "stl", "pts.json")


def _read_file(path: Any, what: str, allowed: tuple[str, ...]) -> tuple[bytes, str]:
    p = Path(path)
    name = p.name.lower()
    ext = next((e for e in allowed if name.endswith("." + e)), None)
    if ext is None:
        raise ValueError(
            f"{what}: {str(p)!r} has an extension nbrun cannot show; allowed: "
            + ", ".join("." + e for e in allowed)
        )
    if not p.is_file():
        raise FileNotFoundError(f"{what}: no file at {str(p)!r}")
    return p.read_bytes(), ext


def is_file_object(data: Any) -> bool:
    """Whether ``data`` is an open file object (text or binary): it has a ``read`` method."""
    return callable(getattr(data, "read", None)) and not isinstance(data, (str, bytes))


def read_file_object(
    obj: Any,
    what: str,
    allowed: tuple[str, ...],
    file_type: str | None,
    text: bool,
    keyword: str | None = "file_type",
) -> tuple[bytes, str]:
    """The bytes and format of an open file object, as W&B takes them: the format is
    ``file_type`` when given (the argument ``keyword`` names), else the extension of the
    file's name (``open("x.obj").name``). ``text``: the format may come from a text-mode
    file (its str is stored as UTF-8)."""
    how = f"pass {keyword}=" if keyword else "open the file by its name"
    listed = ", ".join("." + e for e in allowed)
    ext = file_type
    if ext is not None:
        ext = str(ext).lower().lstrip(".")
        if ext not in allowed:
            raise ValueError(f"{what}: {keyword}={file_type!r}; allowed: {', '.join(allowed)}")
    else:
        name = getattr(obj, "name", None)
        if isinstance(name, (str, os.PathLike)):
            low = Path(name).name.lower()
            ext = next((e for e in allowed if low.endswith("." + e)), None)
            if ext is None:
                raise ValueError(
                    f"{what}: the file {str(name)!r} has an extension nbrun cannot show; "
                    f"allowed: {listed}" + (f" (or {how})" if keyword else "")
                )
        else:
            raise ValueError(
                f"{what}: a file object without a file name does not say its format; {how} "
                f"(allowed: {', '.join(allowed)})"
            )
    raw = obj.read()
    if isinstance(raw, str):
        if not text:
            raise TypeError(f"{what}: a .{ext} file must be opened in binary mode ('rb')")
        raw = raw.encode("utf-8")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what}: the file object's read() gave a {type(raw).__name__}, not bytes")
    return bytes(raw), ext


def _array(data: Any, what: str) -> Any:
    try:
        return np.asarray(data)
    except ValueError as exc:
        raise ValueError(f"{what}: the data is not a rectangular array: {exc}") from None


def _is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))


@register
class Video(Media):
    """A video for ``run.log``: ``Video(data_or_path, caption=None, fps=4, format=None)``.

    ``data_or_path`` is a numpy array (T, C, H, W) or (B, T, C, H, W) (C is 1, 3 or 4; a batch
    is tiled into a grid, as W&B does), encoded as an animated GIF on the writer thread, or the
    path of a .gif, .mp4, .webm or .ogg file or such a file open in binary mode (its format
    ``format=`` or the file's extension), stored as it is. ``.fps`` and ``.path`` read back.
    """

    _ref_type = "video-file"
    _kind = "videos"

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        fps: float | None = None,
        format: str | None = None,
    ) -> None:
        super().__init__(caption)
        self.fps: float
        if fps is None:
            fps = 4
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 1000:
            raise ValueError(f"Video: fps={fps!r}; pass a number of frames per second (0, 1000]")
        self.fps = fps
        if format is not None and format not in _VIDEO_FORMATS:
            raise ValueError(f"Video: format={format!r}; allowed: {', '.join(_VIDEO_FORMATS)}")
        self._raw: bytes | None = None
        self._frames: Any = None
        self.format = format or "gif"
        if _is_path(data_or_path):
            self._raw, self.format = _read_file(data_or_path, "Video", _VIDEO_FORMATS)
            return
        if is_file_object(data_or_path):  # an encoded video: format= or the file's name
            self._raw, self.format = read_file_object(
                data_or_path, "Video", _VIDEO_FORMATS, format, text=False, keyword="format"
            )
            return
        if format not in (None, "gif"):
            warnings.warn(
                f"nbrun.Video: video arrays are stored as GIF (nbrun ships no {format} "
                f"encoder); format={format!r} is ignored",
                UserWarning,
                stacklevel=2,
            )
            self.format = "gif"
        arr = _array(data_or_path, "Video")
        shape = tuple(arr.shape)
        allowed = "(T, C, H, W) or (B, T, C, H, W) with C = 1, 3 or 4"
        if arr.ndim not in (4, 5) or shape[-3] not in (1, 3, 4) or 0 in shape:
            raise ValueError(f"Video: an array of shape {shape} is not {allowed}")
        frames = to_uint8(arr, f"Video of shape {shape}, dtype {arr.dtype}")
        if frames.ndim == 5:
            frames = _tile(frames)
        self._frames = frames.transpose(0, 2, 3, 1)  # T, H, W, C

    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        extra: dict[str, Any] = {"fps": self.fps, "format": self.format}
        if self._raw is not None:
            return self._raw, self.format, extra
        pil = _pil()
        frames = self._frames
        if frames.shape[3] == 1:
            frames = frames[:, :, :, 0]
        images = [pil.fromarray(f) for f in frames]
        extra["width"], extra["height"] = images[0].size
        extra["frames"] = len(images)
        buf = io.BytesIO()
        images[0].save(
            buf,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(1, round(1000 / self.fps)),
            loop=0,
        )
        return buf.getvalue(), "gif", extra

    def _load_ref(self, ref: dict[str, Any]) -> None:
        self._raw = self._frames = None
        fps = ref.get("fps")
        self.fps = fps if isinstance(fps, (int, float)) else 4
        self.format = str(ref.get("format", "gif"))

    def describe(self) -> str:
        """``Video (gif, 4 fps)``."""
        return f"Video ({self.format}, {self.fps:g} fps)"

    def _repr_html_(self) -> str:
        data = base64.b64encode(self._bytes()).decode()
        if self.format == "gif":
            body = f'<img src="data:image/gif;base64,{data}" alt="video">'
        else:
            body = f'<video controls src="data:video/{self.format};base64,{data}"></video>'
        return f'<figure style="margin:0">{body}{self._caption_html()}</figure>'


def _tile(batch: Any) -> Any:
    """(B, T, C, H, W) -> (T, C, rows*H, cols*W): the videos side by side in a grid."""
    b, t, c, h, w = batch.shape
    cols = math.ceil(math.sqrt(b))
    rows = math.ceil(b / cols)
    out = np.zeros((t, c, rows * h, cols * w), dtype=batch.dtype)
    for i in range(b):
        r, k = divmod(i, cols)
        out[:, :, r * h : (r + 1) * h, k * w : (k + 1) * w] = batch[i]
    return out


@register
class Audio(Media):
    """Audio for ``run.log``: ``Audio(data_or_path, sample_rate=None, caption=None)``.

    ``data_or_path`` is a numpy array of samples, (N,) or (N, channels) — floats in [-1, 1] or
    int16 — with ``sample_rate`` required (stored as 16-bit WAV, encoded on the writer
    thread), or the path of a .wav, .mp3, .ogg or .flac file or such a file open in binary
    mode (its format from its name), stored as it is.
    """

    _ref_type = "audio-file"
    _kind = "audio"

    def __init__(
        self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None
    ) -> None:
        super().__init__(caption)
        self._raw: bytes | None = None
        self._samples: Any = None
        self.sample_rate = sample_rate
        if _is_path(data_or_path):
            self._raw, self.format = _read_file(data_or_path, "Audio", _AUDIO_FORMATS)
            return
        if is_file_object(data_or_path):  # an encoded file, its format from its name
            self._raw, self.format = read_file_object(
                data_or_path, "Audio", _AUDIO_FORMATS, None, text=False, keyword=None
            )
            return
        self.format = "wav"
        if sample_rate is None:
            raise ValueError("Audio: sample_rate= is required when logging raw audio data")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
            raise ValueError(f"Audio: sample_rate={sample_rate!r}; pass a positive int (Hz)")
        arr = _array(data_or_path, "Audio")
        shape = tuple(arr.shape)
        if arr.ndim not in (1, 2) or 0 in shape or (arr.ndim == 2 and shape[1] > 16):
            raise ValueError(
                f"Audio: samples of shape {shape}; allowed: (N,) or (N, channels) with at most "
                "16 channels"
            )
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError("Audio: the samples contain NaN or infinity")
            pcm = (np.clip(arr, -1.0, 1.0) * 32767).astype("<i2")
        elif arr.dtype.kind in "iu":
            if arr.min() < -32768 or arr.max() > 32767:
                raise ValueError(
                    f"Audio: integer samples ({arr.dtype}) outside the int16 range; pass int16 "
                    "or floats in [-1, 1]"
                )
            pcm = arr.astype("<i2")
        else:
            raise TypeError(f"Audio: samples of dtype {arr.dtype}; use floats in [-1, 1] or int16")
        self._samples = pcm if pcm.ndim == 2 else pcm[:, None]

    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        extra: dict[str, Any] = {"format": self.format}
        if self.sample_rate is not None:
            extra["sample_rate"] = self.sample_rate
        if self._raw is not None:
            return self._raw, self.format, extra
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(self._samples.shape[1])
            w.setsampwidth(2)
            w.setframerate(self.sample_rate or 1)  # set for raw samples (checked in __init__)
            w.writeframes(self._samples.tobytes())
        extra["duration"] = self._samples.shape[0] / self.sample_rate
        return buf.getvalue(), "wav", extra

    def _load_ref(self, ref: dict[str, Any]) -> None:
        self._raw = self._samples = None
        rate = ref.get("sample_rate")
        self.sample_rate = rate if type(rate) is int else None
        self.format = str(ref.get("format", "wav"))

    def numpy(self) -> Any:
        """The samples of a WAV as int16, (N, channels)."""
        if self._samples is not None:
            return self._samples.copy()
        if self.format != "wav":
            raise ValueError(f"Audio: cannot decode {self.format} without a decoder; use .path")
        with wave.open(io.BytesIO(self._bytes()), "rb") as w:
            frames = w.readframes(w.getnframes())
            channels = w.getnchannels()
        return np.frombuffer(frames, dtype="<i2").reshape(-1, channels)

    def describe(self) -> str:
        """``Audio (wav, 16000 Hz)``."""
        rate = f", {self.sample_rate} Hz" if self.sample_rate else ""
        return f"Audio ({self.format}{rate})"

    def _repr_html_(self) -> str:
        data = base64.b64encode(self._bytes()).decode()
        mime = {"wav": "wav", "mp3": "mpeg", "ogg": "ogg", "flac": "flac"}[self.format]
        return (
            f'<figure style="margin:0"><audio controls src="data:audio/{mime};base64,{data}">'
            f"</audio>{self._caption_html()}</figure>"
        )


def sandboxed(doc: str, height: int = 300) -> str:
    """An iframe showing ``doc`` with no scripts and no same-origin rights (``sandbox=""``)."""
    return (
        f'<iframe sandbox="" srcdoc="{html.escape(doc, quote=True)}" '
        f'style="width:100%;height:{height}px;border:1px solid #ddd"></iframe>'
    )


@register
class Html(Media):
    """HTML for ``run.log``: ``Html(data, inject=True)``: a str of HTML, a file object or the
    path of an .html file. Shown only inside a sandboxed iframe (no scripts run)."""

    _ref_type = "html-file"
    _kind = "html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False) -> None:
        super().__init__(None)
        if is_file_object(data):  # its content is the HTML, never a path
            data = data.read()
            data_is_not_path = True
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="replace")
        if isinstance(data, os.PathLike) or (
            isinstance(data, str)
            and not data_is_not_path
            and data.lower().endswith((".html", ".htm"))
            and "\n" not in data
            and "<" not in data
        ):
            raw, _ = _read_file(data, "Html", ("html", "htm"))
            data = raw.decode("utf-8", errors="replace")
        if not isinstance(data, str):
            raise TypeError(f"Html: data of type {type(data).__name__}; pass a str, file or path")
        self._html: str | None = data

    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        return (self._html or "").encode("utf-8"), "html", {}

    def _load_ref(self, ref: dict[str, Any]) -> None:
        self._html = None

    @property
    def html(self) -> str:
        """The HTML text."""
        if self._html is not None:
            return self._html
        return self._bytes().decode("utf-8", errors="replace")

    def describe(self) -> str:
        """``Html``."""
        return "Html"

    def _repr_html_(self) -> str:
        return sandboxed(self.html)


@register
class Object3D(Media):
    """A 3D object for ``run.log``: ``Object3D(data_or_path, caption=None)``: a numpy point
    cloud (N, 3) xyz, (N, 4) xyz + category or (N, 6) xyz + rgb, or the path of an .obj,
    .gltf, .glb, .babylon, .stl or .pts.json file, or such a file open in text or binary mode
    (``Object3D(open("sample.obj"))``; the format is ``file_type=`` or the file's extension),
    stored as it is."""

    _ref_type = "object3D-file"
    _kind = "objects3d"

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        super().__init__(caption)
        self._raw: bytes | None = None
        self._points: Any = None
        file_type = kwargs.get("file_type")
        if _is_path(data_or_path):
            self._raw, self.format = _read_file(data_or_path, "Object3D", _3D_FORMATS)
            return
        if is_file_object(data_or_path):  # W&B's io form: file_type= or the file's name
            self._raw, self.format = read_file_object(
                data_or_path, "Object3D", _3D_FORMATS, file_type, text=True
            )
            return
        self.format = "pts.json"
        arr = _array(data_or_path, "Object3D")
        shape = tuple(arr.shape)
        if arr.ndim != 2 or shape[1] not in (3, 4, 6) or shape[0] == 0:
            raise ValueError(
                f"Object3D: a point cloud of shape {shape}; allowed: (N, 3) xyz, (N, 4) xyz + "
                "category, (N, 6) xyz + rgb"
            )
        if arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
            raise ValueError(f"Object3D: points must be finite numbers, got dtype {arr.dtype}")
        self._points = np.array(arr, dtype=np.float64)

    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        if self._raw is not None:
            return self._raw, self.format, {"format": self.format}
        data = json.dumps(self._points.tolist(), separators=(",", ":")).encode()
        return data, "pts.json", {"format": "pts.json", "points": len(self._points)}

    def _load_ref(self, ref: dict[str, Any]) -> None:
        self._raw = self._points = None
        self.format = str(ref.get("format", ""))

    def numpy(self) -> Any:
        """The points of a point cloud as an (N, 3|4|6) float array."""
        if self._points is not None:
            return self._points.copy()
        if self.format != "pts.json":
            raise ValueError(f"Object3D: a {self.format} file is not a point cloud; use .path")
        return np.array(json.loads(self._bytes()), dtype=np.float64)

    def describe(self) -> str:
        """``Object3D (pts.json)``."""
        return f"Object3D ({self.format})"
