"""Prior knowledge as versioned data: gene-gene graphs (more in a later issue: PrimeKG-format
knowledge graphs, LLM prompts and backends)."""

from ._graph import GeneGraph

__all__ = ["GeneGraph"]
