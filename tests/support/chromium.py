"""Look at a page as a person would: headless Chromium renders it to a PNG and a DOM.

`render` loads local files (never the network) in a fresh profile, lets their scripts run
(`--virtual-time-budget`), saves a screenshot and returns the DOM after the scripts, all in
one Chromium process per page; several pages render in parallel. `ink` reads the PNG back
(8-bit RGB/RGBA, the only kind Chromium writes) and says how much of it is not background,
so a test can tell a picture from a blank page without comparing pixels.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


@dataclass(frozen=True)
class Rendered:
    png: Path
    dom: str


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed: apt-get install chromium"
    return found


def render(pages: list[tuple[Path, Path]], size: tuple[int, int] = (1400, 900)) -> list[Rendered]:
    """Render each (page, png) pair; return the PNG paths and DOMs in the same order."""
    binary = chromium()
    # A short folder of its own: Chromium puts sockets in TMPDIR (at most 107 characters),
    # and tests often point TMPDIR deep into their tmp_path.
    short = "/tmp" if os.path.isdir("/tmp") else None
    with tempfile.TemporaryDirectory(prefix="chromium-", dir=short) as profiles:
        env = {**os.environ, "TMPDIR": profiles}
        running = []
        for index, (page, png) in enumerate(pages):
            command = [
                binary, *FLAGS, f"--user-data-dir={profiles}/{index}", f"--screenshot={png}",
                f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=5000",
                "--dump-dom", page.resolve().as_uri(),
            ]  # fmt: skip
            running.append(
                subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
                )
            )
        doms = [process.communicate(timeout=60)[0] for process in running]
    for process, (_, png) in zip(running, pages, strict=True):
        assert process.returncode == 0 and png.is_file(), f"chromium failed for {png}"
    return [Rendered(png, dom) for (_, png), dom in zip(pages, doms, strict=True)]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def ink(path: Path) -> float:
    """The share of pixels that differ from the top-left (background) pixel."""
    pixels = decode(path.read_bytes())
    differs = (pixels != pixels[0, 0]).any(axis=2)
    return float(differs.mean())


def decode(data: bytes) -> np.ndarray:
    """The pixels (height x width x channels) of an 8-bit, non-interlaced RGB/RGBA PNG."""
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6) and header[12] == 0, "unexpected PNG format"
    channels = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, -1)
    pixels = np.zeros((height, width * channels), dtype=np.uint8)
    previous = np.zeros(width * channels, dtype=np.uint8)
    for y in range(height):
        pixels[y] = _unfilter(int(raw[y, 0]), raw[y, 1:], previous, channels)
        previous = pixels[y]
    return pixels.reshape(height, width, channels)


def _unfilter(kind: int, line: np.ndarray, up: np.ndarray, channels: int) -> np.ndarray:
    if kind == 0:
        return line
    if kind == 2:
        return line + up  # uint8 arithmetic wraps modulo 256, as PNG's does
    if kind == 1:
        per_pixel = line.reshape(-1, channels).astype(np.int64)
        return (np.cumsum(per_pixel, axis=0) % 256).astype(np.uint8).reshape(-1)
    out = bytearray(line.tobytes())
    above = up.tobytes()
    for i in range(len(out)):
        left = out[i - channels] if i >= channels else 0
        if kind == 3:
            out[i] = (out[i] + ((left + above[i]) >> 1)) & 0xFF
            continue
        corner = above[i - channels] if i >= channels else 0
        estimate = left + above[i] - corner
        a, b, c = abs(estimate - left), abs(estimate - above[i]), abs(estimate - corner)
        out[i] = (out[i] + (left if a <= b and a <= c else above[i] if b <= c else corner)) & 0xFF
    return np.frombuffer(bytes(out), dtype=np.uint8)
