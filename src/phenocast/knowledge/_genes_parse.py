"""Reading gene symbols out of a language model's free-text answer."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["ParsedGenes", "parse_genes"]


class ParsedGenes(NamedTuple):
    """An answer read as genes.

    Attributes
    ----------
    genes
        Pool members named in the answer, first mention first, each once, spelt as in the pool.
    unknown
        Symbol-like words (upper case, with a letter) that are not in the pool: invented or
        misspelt genes, or genes outside the candidates. Reported, never used.
    case_fixed
        Answer spelling → pool spelling for names matched ignoring case only.
    """

    genes: list[str]
    unknown: list[str]
    case_fixed: dict[str, str]


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_SYMBOL = re.compile(r"^(?=.*[A-Z])[A-Z0-9][A-Z0-9\-._]+$")


def parse_genes(answer: str, pool: Iterable[str]) -> ParsedGenes:
    """Read the genes of ``pool`` that ``answer`` names, in order.

    Words are split on anything but letters, digits, ``-``, ``.`` and ``_`` (so numbering,
    bullets, commas and Markdown are ignored). A word matches a pool member exactly, or else
    ignoring case (reported in ``case_fixed``); a pool name with inner punctuation
    (``HLA-A``) matches as one word.

    Examples
    --------
    >>> parse_genes("1. brca1\\n2. TP53\\n3. FAKE9 (invented)\\n4. TP53", ["BRCA1", "TP53", "MYC"])
    ParsedGenes(genes=['BRCA1', 'TP53'], unknown=['FAKE9'], case_fixed={'brca1': 'BRCA1'})
    """
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a string, got {type(answer).__name__}.")
    exact = {str(p) for p in pool}
    folded: dict[str, list[str]] = {}
    for p in exact:
        folded.setdefault(p.casefold(), []).append(p)
    genes: list[str] = []
    unknown: list[str] = []
    case_fixed: dict[str, str] = {}
    for word in _TOKEN.findall(answer):
        if word in exact:
            hit = word
        elif len(folded.get(word.casefold(), [])) == 1:
            hit = folded[word.casefold()][0]
            case_fixed[word] = hit
        else:
            if _SYMBOL.match(word) and word not in unknown:
                unknown.append(word)
            continue
        if hit not in genes:
            genes.append(hit)
    return ParsedGenes(genes, unknown, case_fixed)
