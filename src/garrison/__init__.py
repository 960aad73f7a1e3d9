"""Garrison: put machine-learning models into production securely and keep them secure."""

from garrison.errors import GarrisonError

__version__ = "0.1.0"
__all__ = ["GarrisonError", "__version__"]
