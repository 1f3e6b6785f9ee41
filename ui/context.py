"""What every tab receives: the service and the page-wide components."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.service import Service


@dataclass
class UIContext:
    service: Service
    # Page-wide components a tab may read or update (e.g. the header badges), by name.
    shared: dict[str, Any] = field(default_factory=dict)
