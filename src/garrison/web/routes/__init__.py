"""Endpoint modules of the admin API, one per area; each exports ``OPERATIONS``."""

from garrison.web.routes import audit, models

__all__ = ["audit", "models"]
