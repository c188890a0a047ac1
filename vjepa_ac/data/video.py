"""Video files of camera frames: encode with PyAV (H.264 for `collect`, AV1 as LeRobot writes also supported) and
decode by timestamp."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

DEFAULT_CODEC = "libsvtav1"
os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration per file otherwise


def encode_video(path: Path, frames: np.ndarray, fps: float, codec: str = DEFAULT_CODEC, crf: int = 20, gop: int = 2) -> None:
    """Write frames uint8 [T, H, W, 3] to an mp4 (yuv420p); a short GOP keeps seeking to any episode cheap."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"frame sides must be even for yuv420p video, got {h}x{w}")
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), mode="w", format="mp4") as container:
        options = {"crf": str(crf)}
        if codec == "libsvtav1":
            options["svtav1-params"] = f"keyint={gop}:scd=0"  # fixed GOP: every episode boundary is near a keyframe
        elif codec in ("libx264", "h264"):
            options.update(g=str(gop), threads="1")  # one encoder thread: the same frames give the same bytes
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, int(round(fps)) if float(fps).is_integer() else 1000)
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = int(round(i / float(fps) / stream.time_base))
            frame.time_base = stream.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode_video(path: Path, from_timestamp: float = 0.0, num_frames: int | None = None, fps: float | None = None) -> np.ndarray:
    """Frames uint8 [T, H, W, 3] starting at a timestamp (seconds): `num_frames` of them, or all to the end.

    Frames are matched by timestamp (nearest frame within half a frame period), as LeRobot's decoders do.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video file {path} does not exist")
    out: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = fps or float(stream.average_rate or stream.guessed_rate)
            tol = 0.5 / rate
            if from_timestamp > 0:
                container.seek(int(from_timestamp / stream.time_base), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                ts = float(frame.pts * stream.time_base)
                if ts < from_timestamp - tol:
                    continue
                out.append(frame.to_ndarray(format="rgb24"))
                if num_frames is not None and len(out) >= num_frames:
                    break
    except av.error.FFmpegError as e:
        raise ValueError(f"video file {path} does not decode: {e}") from e
    if num_frames is not None and len(out) < num_frames:
        raise ValueError(f"video file {path} has {len(out)} frames from t={from_timestamp:.3f}s, expected {num_frames}")
    if not out:
        raise ValueError(f"video file {path} has no frames from t={from_timestamp:.3f}s")
    return np.stack(out)


def write_mp4(path: Path, frames, fps: float) -> None:
    """A viewable H.264 mp4 of frames uint8 [H, W, 3] (previews, evaluation videos), written atomically."""
    import imageio.v2 as imageio

    from vjepa_ac.io import atomic_write

    def write(p: Path) -> None:
        with imageio.get_writer(p, format="FFMPEG", fps=fps, codec="libx264", macro_block_size=16) as vid:
            for f in frames:
                vid.append_data(f)

    atomic_write(path, write, suffix=".mp4")  # ffmpeg picks the container from the extension
