"""Images (.png .jpg .jpeg .bmp .webp) and scanned PDF pages through OCR.

``rapidocr-onnxruntime`` ships its Chinese PP-OCR detection, orientation and recognition models
inside its wheel, so OCR runs offline. The engine is built once per process, on first use.
Images are checked for size before they are decoded (a decompression bomb is refused).
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.common import LoadError, LoadOptions, file_document
from rag.documents import Document

_engine: Any = None
_lock = threading.Lock()


def engine() -> Any:
    global _engine
    with _lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise LoadError("缺少 OCR 依赖，请运行：pip install rapidocr-onnxruntime") from None
            _engine = RapidOCR()
        return _engine


def open_image(data: bytes, options: LoadOptions):
    """A decoded RGB Pillow image, or LoadError (not an image, damaged, too many pixels)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit follows
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise LoadError("图片过大（像素数超过安全上限），疑似解压炸弹") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise LoadError("不是有效的图片文件，或图片格式不受支持") from None
    w, h = img.size
    if w * h > options.max_image_pixels:
        raise LoadError(f"图片过大（{w}×{h} 像素，上限 {options.max_image_pixels / 1e6:.0f} 百万像素）")
    if w < 8 or h < 8:
        raise LoadError(f"图片太小（{w}×{h} 像素），无法识别文字")
    try:
        img.load()
        return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise LoadError("图片文件已损坏或不完整") from None


def recognize(img) -> tuple[str, float]:
    """(text, mean confidence) of one image; lines in reading order (top to bottom, left to right)."""
    result, _elapse = engine()(img)
    if not result:
        return "", 0.0
    boxes = []
    for box, text, score in result:
        ys = [p[1] for p in box]
        xs = [p[0] for p in box]
        boxes.append((min(ys), max(ys), min(xs), str(text), float(score)))
    boxes.sort(key=lambda b: (b[0], b[2]))
    lines: list[list[tuple[float, float, float, str, float]]] = []
    for b in boxes:
        if lines:
            top, bottom = lines[-1][0][0], lines[-1][0][1]
            centre = (b[0] + b[1]) / 2
            if top <= centre <= bottom:  # same line as the previous box
                lines[-1].append(b)
                continue
        lines.append([b])
    text = "\n".join(" ".join(b[3] for b in sorted(line, key=lambda b: b[2])) for line in lines)
    confidence = sum(b[4] for b in boxes) / len(boxes)
    return text, confidence


def ocr_bytes(data: bytes, options: LoadOptions) -> tuple[str, float]:
    if not options.ocr:
        raise LoadError("未启用 OCR（--no-ocr），图片无法导入")
    img = open_image(data, options)
    try:
        return recognize(img)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"OCR 识别失败（{type(exc).__name__}）") from None


def load_image(path: Path, options: LoadOptions) -> Iterator[Document]:
    text, confidence = ocr_bytes(path.read_bytes(), options)
    if not text.strip():
        raise LoadError("图片中没有识别出文字")
    yield file_document(path, text, options, path.stem, ocr="rapidocr", ocr_confidence=round(confidence, 3))
