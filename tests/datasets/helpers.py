from __future__ import annotations

import json
from typing import Any

from garrison.audit import AuditQuery


def events(services: Any, action: str, outcome: str | None = None) -> list[Any]:
    return services.store.query(AuditQuery(action=action, outcome=outcome, limit=None))


def payloads(services: Any, action: str, outcome: str | None = None) -> list[dict[str, Any]]:
    return [json.loads(e.payload) for e in events(services, action, outcome)]
