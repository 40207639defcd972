"""Prior knowledge as versioned data: gene-gene graphs and typed knowledge graphs in PrimeKG's
edge-list format (GO similarity, gene2go, PROGENy, any PrimeKG-format file), and the prompt
builder and language-model backends behind the ``llm`` acquisition (optional at run time:
nothing here connects or loads a model until asked).
"""

from ._align import Alignment
from ._genes_parse import ParsedGenes, parse_genes
from ._graph import GeneGraph
from ._kg import KnowledgeGraph
from ._llm import (
    BACKENDS,
    ConstrainedBackend,
    LlamaCpp,
    LLMBackend,
    LLMError,
    LocalTransformers,
    OpenAICompatible,
    backend_from_env,
    make_backend,
    register_backend,
    smollm2_gguf,
)
from ._primekg import read_primekg
from ._prompt import Demonstration, Prompt, PromptBuilder
from ._schema import PRIMEKG_COLUMNS, PRIMEKG_NODE_TYPES, KnowledgeGraphError, LoadReport

__all__ = [
    "BACKENDS",
    "PRIMEKG_COLUMNS",
    "PRIMEKG_NODE_TYPES",
    "Alignment",
    "ConstrainedBackend",
    "Demonstration",
    "GeneGraph",
    "KnowledgeGraph",
    "KnowledgeGraphError",
    "LLMBackend",
    "LLMError",
    "LlamaCpp",
    "LoadReport",
    "LocalTransformers",
    "OpenAICompatible",
    "ParsedGenes",
    "Prompt",
    "PromptBuilder",
    "backend_from_env",
    "make_backend",
    "parse_genes",
    "read_primekg",
    "register_backend",
    "smollm2_gguf",
]
