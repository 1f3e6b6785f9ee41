"""Per-user request limits: a sliding window of the last minute, in memory, thread-safe."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimited(RuntimeError):
    """Too many requests; the message is Chinese and says when to try again."""

    def __init__(self, limit: int, window_s: float, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        per = "每分钟" if window_s == 60 else f"每 {window_s:g} 秒"
        super().__init__(f"请求过于频繁：{per}最多 {limit} 次，请 {math.ceil(retry_after_s)} 秒后再试。")


class RateLimiter:
    def __init__(self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one request for ``key``, or raise :class:`RateLimited` (not counted) when over."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                raise RateLimited(self.limit, self.window_s, hits[0] + self.window_s - now)
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle keys
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
                    del self._hits[k]

    def allow(self, key: str) -> bool:
        try:
            self.check(key)
        except RateLimited:
            return False
        return True

    def remaining(self, key: str) -> int:
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key, deque())
            return max(0, self.limit - sum(1 for t in hits if t > now - self.window_s))
