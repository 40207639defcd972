"""Parse perturbation strings ("A+B") and dose strings ("1+0.5") into components.

A condition is a set of (component, dose) pairs. Its canonical key sorts the components by
name, so ``"B+A"`` at ``"0.5+1"`` and ``"A+B"`` at ``"1+0.5"`` are the same condition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Condition",
    "RegistrationError",
    "format_condition",
    "parse_condition",
    "parse_conditions",
]

SEP = "+"


class RegistrationError(ValueError):
    """Raised when data cannot be registered; the message names the column, value and fix."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One experimental condition: components with their doses, in canonical (sorted) order.

    Controls have no components.
    """

    components: tuple[str, ...]
    doses: tuple[float, ...]

    @property
    def is_control(self) -> bool:
        return not self.components

    @property
    def perturbation(self) -> str:
        """The canonical perturbation string, e.g. ``"A+B"`` (``""`` for a control)."""
        return SEP.join(self.components)

    @property
    def dose(self) -> str:
        """The canonical dose string, e.g. ``"1+0.5"``."""
        return SEP.join(_fmt(d) for d in self.doses)

    @property
    def key(self) -> str:
        """A unique, readable key: ``"A+B@1+0.5"``; controls give ``"control"``."""
        if self.is_control:
            return "control"
        return f"{self.perturbation}@{self.dose}"


def _fmt(d: float) -> str:
    """The dose as a key writes it: ``%g`` (``1``, ``0.5``, ``1e-05``) when that reads back as
    the same number, else the shortest exact form (``1000.001``), so two doses never share a
    key."""
    short = f"{d:g}"
    return short if float(short) == d else repr(float(d))


def format_condition(components: Sequence[str], doses: Sequence[float]) -> str:
    """Format components and doses as a canonical condition key."""
    return Condition(*_canonical(tuple(components), tuple(float(d) for d in doses))).key


def _canonical(
    comps: tuple[str, ...], doses: tuple[float, ...]
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    order = sorted(range(len(comps)), key=lambda i: comps[i])
    return tuple(comps[i] for i in order), tuple(doses[i] for i in order)


def _split_perturbation(value: object, *, column: str) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        parts = [str(v).strip() for v in value]
        shown = repr(value)
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(SEP)]
        shown = repr(value)
    else:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise RegistrationError(
                f"Column {column!r} has a missing value (NaN/None). Every cell needs a "
                "perturbation: label untreated cells with the control label."
            )
        parts = [str(value).strip()]
        shown = repr(value)
    if not parts or any(p == "" for p in parts):
        raise RegistrationError(
            f"Column {column!r} holds an empty perturbation name in {shown}. Write "
            f"combinations as 'A{SEP}B' without empty parts, and label untreated cells "
            "with the control label."
        )
    if len(set(parts)) != len(parts):
        raise RegistrationError(
            f"Column {column!r} value {shown} names the same component twice; give each "
            "component once (with its dose)."
        )
    return tuple(parts)


def _split_dose(value: object, *, column: str, n: int, shown_pert: str) -> tuple[float, ...]:
    if isinstance(value, list | tuple):
        raw = list(value)
    elif isinstance(value, str):
        raw = [p.strip() for p in value.split(SEP)]
    else:
        raw = [value]
    doses: list[float] = []
    for r in raw:
        try:
            d = float(r)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise RegistrationError(
                f"Column {column!r} value {value!r} (perturbation {shown_pert!r}) is not a "
                f"number. Give doses as numbers, one per component joined by '{SEP}', "
                "e.g. '1+0.5'."
            ) from None
        if math.isnan(d):
            raise RegistrationError(
                f"Column {column!r} has a NaN dose for perturbation {shown_pert!r}. Fill in "
                "the dose (or drop those cells); only control cells may lack a dose."
            )
        if d < 0 or math.isinf(d):
            raise RegistrationError(
                f"Column {column!r} has the invalid dose {value!r} for perturbation "
                f"{shown_pert!r}: doses must be finite and non-negative."
            )
        doses.append(d)
    if len(doses) != n:
        raise RegistrationError(
            f"Column {column!r} value {value!r} gives {len(doses)} dose(s) but perturbation "
            f"{shown_pert!r} has {n} component(s). Give one dose per component joined by "
            f"'{SEP}', e.g. '{SEP.join(['1'] * n)}'."
        )
    return tuple(doses)


def parse_condition(
    perturbation: object,
    dose: object = None,
    *,
    control: str | None,
    perturbation_column: str = "perturbation",
    dose_column: str = "dose",
) -> Condition:
    """Parse one perturbation value (and its dose) into a canonical :class:`Condition`.

    Parameters
    ----------
    perturbation
        ``"A"``, ``"A+B"`` or a list / tuple of component names.
    dose
        ``None`` (every component at dose 1), a number, ``"1+0.5"`` or a list of numbers, one per
        component.
    control
        The control label; a value equal to it parses to a control condition.

    Examples
    --------
    >>> parse_condition("B+A", "0.5+1", control="ctrl").key
    'A+B@1+0.5'
    >>> parse_condition("ctrl", None, control="ctrl").is_control
    True
    """
    if control is not None and isinstance(perturbation, str) and perturbation == control:
        return Condition((), ())
    comps = _split_perturbation(perturbation, column=perturbation_column)
    if control is not None and control in comps:
        raise RegistrationError(
            f"Column {perturbation_column!r} value {perturbation!r} combines the control "
            f"label {control!r} with other components. Drop the control label from "
            "combinations."
        )
    if dose is None:
        doses = (1.0,) * len(comps)
    else:
        doses = _split_dose(dose, column=dose_column, n=len(comps), shown_pert=SEP.join(comps))
    return Condition(*_canonical(comps, doses))


def parse_conditions(conditions: object, *, control: str | None = None) -> list[Condition]:
    """Parse a list of conditions a user asks a model about.

    Parameters
    ----------
    conditions
        Perturbation strings (``["A+B"]``, every component at dose 1) or a DataFrame with
        ``perturbation`` and ``dose`` columns (``"A+B"``, ``"1.5+3"``).
    control
        The control label, parsed as the unperturbed condition.

    Returns
    -------
    One :class:`Condition` per row, in order; a bad row raises ``ValueError`` naming it.
    """
    import pandas as pd

    if isinstance(conditions, pd.DataFrame):
        for col in ("perturbation", "dose"):
            if col not in conditions.columns:
                shown = ", ".join(repr(c) for c in list(conditions.columns)[:5])
                raise ValueError(
                    f"conditions has no {col!r} column (columns: {shown}); pass columns "
                    "'perturbation' and 'dose' or a list of perturbation strings (dose 1)."
                )
        pairs = list(zip(conditions["perturbation"], conditions["dose"], strict=True))
    elif isinstance(conditions, str) or not isinstance(conditions, Sequence):
        raise TypeError(
            "conditions must be a list of perturbation strings (e.g. ['A+B']) or a "
            "DataFrame with 'perturbation' and 'dose' columns, got "
            f"{type(conditions).__name__}."
        )
    else:
        pairs = [(p, None) for p in conditions]
    if not pairs:
        raise ValueError("conditions is empty.")
    out = []
    for i, (p, d) in enumerate(pairs):
        try:
            out.append(parse_condition(p, d, control=control))
        except RegistrationError as err:
            raise ValueError(f"conditions row {i} ({p!r}, dose {d!r}): {err}") from err
    return out
