"""Prior knowledge as versioned data: gene-gene graphs and typed knowledge graphs in PrimeKG's
edge-list format (GO similarity, gene2go, PROGENy, any PrimeKG-format file).

More in a later issue: LLM prompts and backends.
"""

from ._align import Alignment
from ._graph import GeneGraph
from ._kg import KnowledgeGraph
from ._primekg import read_primekg
from ._schema import PRIMEKG_COLUMNS, PRIMEKG_NODE_TYPES, KnowledgeGraphError, LoadReport

__all__ = [
    "PRIMEKG_COLUMNS",
    "PRIMEKG_NODE_TYPES",
    "Alignment",
    "GeneGraph",
    "KnowledgeGraph",
    "KnowledgeGraphError",
    "LoadReport",
    "read_primekg",
]
