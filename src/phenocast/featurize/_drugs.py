"""Drug features: Morgan (ECFP-like) fingerprints from SMILES, and the sci-Plex SMILES table.

RDKit is an optional dependency (``pip install phenocast[chem]``); it is imported only when a
fingerprint is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import pandas as pd

from ._table import FeatureTable

if TYPE_CHECKING:  # pragma: no cover
    from ..data import PathLike

__all__ = ["DrugFeatures", "morgan_fingerprints", "sciplex_smiles"]


@dataclass(frozen=True, eq=False, repr=False)
class DrugFeatures(FeatureTable):
    """A ``(n_drugs, dim)`` feature matrix keyed by drug name, with its provenance (the drug
    counterpart of :class:`~phenocast.featurize.GeneFeatures`)."""

    kind: ClassVar[str] = "drug"
    drugs: tuple[str, ...]
    matrix: np.ndarray
    source: str = ""
    method: str = ""
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._check()

    @property
    def names(self) -> tuple[str, ...]:
        return self.drugs


def _rdkit() -> object:
    try:
        from rdkit import Chem
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Morgan fingerprints need RDKit: pip install 'phenocast[chem]' (or rdkit)."
        ) from err
    return Chem


def morgan_fingerprints(
    smiles: Mapping[str, str],
    *,
    radius: int = 2,
    n_bits: int = 2048,
    chirality: bool = False,
    source: str = "",
) -> DrugFeatures:
    """Folded Morgan fingerprints (bit vectors; radius 2 ≈ ECFP4) of named molecules.

    Parameters
    ----------
    smiles
        Drug name → SMILES, e.g. :func:`sciplex_smiles`.
    radius
        Largest neighbourhood radius (bonds) of the atom environments hashed.
    n_bits
        Fingerprint length.
    chirality
        Whether stereo centres distinguish environments.
    source
        Where the SMILES come from, for the features' provenance.

    Returns
    -------
    DrugFeatures
        One 0/1 float32 row per name, in the mapping's order.

    Raises
    ------
    ValueError
        Listing every name whose SMILES is empty, not a string, or not parsed by RDKit; no
        molecule is silently given a zero fingerprint.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}.")
    if n_bits < 1:
        raise ValueError(f"n_bits must be >= 1, got {n_bits}.")
    if not smiles:
        raise ValueError("No SMILES given.")
    chem = _rdkit()
    from rdkit import rdBase
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(
        radius=radius, fpSize=n_bits, includeChirality=chirality
    )
    names = [str(n) for n in smiles]
    rows, bad = [], []
    with rdBase.BlockLogs():  # RDKit's own parse errors: we report them ourselves, below
        for name in names:
            text = smiles[name]
            mol = chem.MolFromSmiles(text) if isinstance(text, str) and text.strip() else None  # type: ignore[attr-defined]
            if mol is None or mol.GetNumAtoms() == 0:
                bad.append(name)
                continue
            rows.append(gen.GetFingerprintAsNumPy(mol))
    if bad:
        raise ValueError(
            f"{len(bad)} SMILES could not be parsed (empty, not a string, or invalid): "
            f"{[(n, smiles[n]) for n in bad[:20]]}."
        )
    chir = ", chiral" if chirality else ""
    return DrugFeatures(
        tuple(names),
        np.vstack(rows).astype(np.float32),
        source=source or f"{len(names)} SMILES",
        method=f"Morgan r{radius} {n_bits}-bit{chir} (RDKit)",
    )


def sciplex_smiles(
    *, table: Literal["wells", "chemcpa"] = "wells", data_dir: PathLike = None
) -> dict[str, str]:
    """Name → SMILES of the sci-Plex 3 compounds.

    Parameters
    ----------
    table
        ``"wells"``: the paper's Supplementary Table 3 (188 compounds, names as in the
        experiment, e.g. ``"Alisertib (MLN8237)"``); ``"chemcpa"``: chemCPA's 188 drugs with
        short names (``"Alisertib"``) and the vehicle as ``"control"`` (DMSO).
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.
    """
    from ..data import load_sciplex_metadata

    if table not in ("wells", "chemcpa"):
        raise ValueError(f"table must be 'wells' or 'chemcpa', got {table!r}.")
    meta = load_sciplex_metadata(data_dir=data_dir)
    if table == "wells":
        frame = meta["wells"].dropna(subset=["SMILES"])[["name", "SMILES"]]
    else:
        frame = meta["smiles"][["drug_name", "smiles"]]
    frame = frame.set_axis(["name", "smiles"], axis=1).astype(str).drop_duplicates()
    return _unique_mapping(frame, where=f"sci-Plex {table} table")


def _unique_mapping(frame: pd.DataFrame, *, where: str) -> dict[str, str]:
    clash = frame[frame["name"].duplicated(keep=False)]
    if not clash.empty:
        raise ValueError(
            f"The {where} gives different SMILES for {sorted(set(clash['name']))[:10]}."
        )
    return dict(zip(frame["name"], frame["smiles"], strict=True))
