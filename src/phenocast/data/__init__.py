"""Data: registration, perturbation parsing, pseudobulk, dataset loaders, synthetic data."""

from __future__ import annotations

from ._io import atomic_write, atomic_write_text
from ._parse import Condition, RegistrationError, format_condition, parse_condition
from ._paths import data_dir
from ._registry import Encoded, Registry, register

__all__ = [
    "Condition",
    "Encoded",
    "RegistrationError",
    "Registry",
    "atomic_write",
    "atomic_write_text",
    "data_dir",
    "format_condition",
    "parse_condition",
    "register",
]
