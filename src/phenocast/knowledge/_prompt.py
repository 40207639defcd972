"""Prompts that ask a language model which genes to measure next.

A prompt states the task, lists the knowledge-graph facts about each candidate (its heaviest
neighbours with relation and weight, and the shortest path of at most two hops to a measured
hit) and shows the previous batch's measured results as demonstrations. It fits a fixed
character budget, truncated in a fixed order that the prompt itself states, so the same inputs
always give the same text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ._graph import GeneGraph
    from ._kg import KnowledgeGraph

__all__ = ["Demonstration", "Prompt", "PromptBuilder"]

SYSTEM = (
    "You are an expert in functional genomics who helps design pooled CRISPR screens. "
    "You answer only with gene symbols taken from the candidate list you are given."
)


@dataclass(frozen=True)
class Demonstration:
    """One measured gene of the previous batch: its readout and whether it counts as a hit."""

    gene: str
    value: float
    hit: bool


@dataclass(frozen=True)
class Prompt:
    """A built prompt.

    Attributes
    ----------
    messages
        Chat messages (``role``, ``content``) ready for :meth:`LLMBackend.complete`.
    candidates
        The candidate genes the prompt lists, in its order.
    truncated
        What was left out to fit the budget (empty when nothing was).
    """

    messages: list[dict[str, str]]
    candidates: list[str]
    truncated: list[str]

    @property
    def text(self) -> str:
        return "\n\n".join(m["content"] for m in self.messages)

    @property
    def n_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


class _Adjacency:
    """``name → [(neighbour name, relation, weight)]``, heaviest first, from either graph."""

    def __init__(self, graph: GeneGraph | KnowledgeGraph | None) -> None:
        from ._graph import GeneGraph
        from ._kg import KnowledgeGraph

        self.adj: dict[str, list[tuple[str, str, float]]] = {}
        if graph is None:
            return
        if isinstance(graph, GeneGraph):
            for gene in graph.genes:
                self.adj[gene] = [(n, "linked to", w) for n, w in graph.neighbours(gene)]
        elif isinstance(graph, KnowledgeGraph):
            names = graph.nodes["name"].astype(str)
            # a name shared by several nodes would merge them; such nodes keep their key
            label = names.where(~names.duplicated(keep=False), names.index.to_series())
            x = label.loc[graph.edges["x"]].to_numpy()
            y = label.loc[graph.edges["y"]].to_numpy()
            rel = graph.edges["display_relation"].astype(str).to_numpy()
            w = graph.edges["weight"].to_numpy(dtype=float)
            for a, b, r, v in zip(x, y, rel, w, strict=True):
                if a != b:
                    self.adj.setdefault(a, []).append((b, r, float(v)))
                    self.adj.setdefault(b, []).append((a, r, float(v)))
            for lst in self.adj.values():
                lst.sort(key=lambda t: (-t[2], t[0]))
        else:
            raise TypeError(
                f"graph must be a GeneGraph or a KnowledgeGraph, got {type(graph).__name__}."
            )

    def neighbours(self, name: str) -> list[tuple[str, str, float]]:
        return self.adj.get(name, [])

    def path_to(self, start: str, targets: Mapping[str, object], *, hops: int) -> list | None:
        """Shortest path (fewest edges, then heaviest first edge order) from ``start`` to any
        of ``targets`` within ``hops`` edges, as ``[(node, relation, weight), ...]``."""
        if start in targets:
            return None
        seen = {start}
        queue: deque[tuple[str, list]] = deque([(start, [])])
        while queue:
            node, path = queue.popleft()
            if len(path) == hops:
                continue
            for nb, rel, w in self.neighbours(node):
                if nb in seen:
                    continue
                step = [*path, (nb, rel, w)]
                if nb in targets:
                    return step
                seen.add(nb)
                queue.append((nb, step))
        return None


class PromptBuilder:
    """Build the prompt for one round of gene selection.

    Parameters
    ----------
    graph
        Where the facts come from: a :class:`~phenocast.knowledge.GeneGraph` (neighbours with
        weights) or a :class:`~phenocast.knowledge.KnowledgeGraph` (neighbours of any node
        type, with their relation). ``None`` lists no facts.
    task
        What the screen measures and what counts as a hit, in words.
    max_neighbours
        Heaviest neighbours listed per candidate (before any truncation).
    max_demonstrations
        Previous-batch results shown (before any truncation); hits are shown first.
    path_hops
        Longest path (in edges) searched from a candidate to a measured hit.
    max_chars
        Size budget of the whole prompt (system and user message). When the full prompt is
        longer, neighbours per candidate are cut to 3, then 1; then demonstrations to 8,
        then 4; then paths are dropped; then neighbours entirely; every cut is stated in the
        prompt and in :attr:`Prompt.truncated`. The candidate list itself is never cut: a
        prompt that cannot fit is an error.

    Examples
    --------
    >>> import pandas as pd
    >>> from phenocast.knowledge import GeneGraph
    >>> g = GeneGraph.from_edges(
    ...     pd.DataFrame({"source": ["A", "B"], "target": ["B", "C"], "importance": [0.9, 0.5]})
    ... )
    >>> p = PromptBuilder(graph=g).build(["A", "D"], [Demonstration("C", 2.0, True)], n_pick=1)
    >>> "A: linked to B (0.90); path to hit: A -[linked to 0.90]- B -[linked to 0.50]- C" in (
    ...     p.text
    ... )
    True
    """

    _LEVELS = (  # (neighbours, demonstrations, paths) tried in order until the prompt fits
        (None, None, True),
        (3, None, True),
        (1, None, True),
        (1, 8, True),
        (1, 4, True),
        (1, 4, False),
        (0, 4, False),
        (0, 0, False),
    )

    def __init__(
        self,
        *,
        graph: GeneGraph | KnowledgeGraph | None = None,
        task: str = (
            "We are running a pooled CRISPR knockout screen. Larger readout values are "
            "stronger phenotypes; a hit is a gene whose value is in the top of everything "
            "measured so far."
        ),
        max_neighbours: int = 5,
        max_demonstrations: int = 16,
        path_hops: int = 2,
        max_chars: int = 8000,
    ) -> None:
        for name, value, low in (
            ("max_neighbours", max_neighbours, 0),
            ("max_demonstrations", max_demonstrations, 0),
            ("path_hops", path_hops, 1),
            ("max_chars", max_chars, 200),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        self.graph = graph
        self.task = task
        self.max_neighbours, self.max_demonstrations = max_neighbours, max_demonstrations
        self.path_hops, self.max_chars = path_hops, max_chars
        self._adjacency: _Adjacency | None = None

    @property
    def adjacency(self) -> _Adjacency:
        if self._adjacency is None:  # built once, on first use, not in the constructor
            self._adjacency = _Adjacency(self.graph)
        return self._adjacency

    def build(
        self,
        candidates: Sequence[str],
        demonstrations: Sequence[Demonstration],
        *,
        n_pick: int,
        hits: Mapping[str, float] | None = None,
    ) -> Prompt:
        """The prompt asking for ``n_pick`` genes among ``candidates``.

        Parameters
        ----------
        candidates
            Genes the model may choose, in the order listed.
        demonstrations
            The previous batch's measured results.
        n_pick
            How many genes to ask for.
        hits
            Every measured hit so far (gene → value), the targets of the paths; default the
            demonstrations that are hits.
        """
        cands = [str(c) for c in candidates]
        if not cands:
            raise ValueError("The prompt needs at least one candidate gene.")
        if len(set(cands)) != len(cands):
            dup = sorted({c for c in cands if cands.count(c) > 1})
            raise ValueError(f"Candidates are listed more than once: {dup[:10]}.")
        if not 1 <= n_pick <= len(cands):
            raise ValueError(f"n_pick must be in [1, {len(cands)}] (the candidates), got {n_pick}.")
        if hits is None:
            hits = {d.gene: d.value for d in demonstrations if d.hit}
        demos = sorted(demonstrations, key=lambda d: not d.hit)  # hits first, else as given
        full = (self.max_neighbours, self.max_demonstrations, True)
        tried = []
        for level in self._LEVELS:
            nb = full[0] if level[0] is None else min(level[0], full[0])
            nd = full[1] if level[1] is None else min(level[1], full[1])
            paths = level[2]
            if (nb, nd, paths) in tried:
                continue
            tried.append((nb, nd, paths))
            notes = self._notes(full, (nb, nd, paths), len(demos))
            messages = self._messages(cands, demos[:nd], hits, n_pick, nb, paths, notes)
            if sum(len(m["content"]) for m in messages) <= self.max_chars:
                return Prompt(messages, cands, notes)
        size = sum(len(m["content"]) for m in messages)
        raise ValueError(
            f"The prompt for {len(cands)} candidates needs {size:,} characters even without "
            f"facts or demonstrations, over max_chars={self.max_chars:,}; raise max_chars or "
            "shortlist fewer candidates."
        )

    def _notes(self, full: tuple, level: tuple, n_demos: int) -> list[str]:
        notes = []
        if level[0] < full[0] and self.graph is not None:
            notes.append(
                f"neighbours cut to {level[0]} per candidate (of up to {full[0]})"
                if level[0]
                else "knowledge-graph neighbours left out"
            )
        if min(n_demos, level[1]) < min(n_demos, full[1]):
            notes.append(f"{n_demos - level[1]} of {n_demos} previous results left out")
        if not level[2] and self.graph is not None:
            notes.append("paths to hits left out")
        return notes

    def _messages(
        self,
        cands: list[str],
        demos: Sequence[Demonstration],
        hits: Mapping[str, float],
        n_pick: int,
        n_nb: int,
        paths: bool,
        notes: list[str],
    ) -> list[dict[str, str]]:
        parts = [f"Task: {self.task}"]
        if demos:
            lines = [
                f"- {d.gene}: {d.value:.3g} ({'HIT' if d.hit else 'not a hit'})" for d in demos
            ]
            parts.append("Results of the previous batch:\n" + "\n".join(lines))
        else:
            parts.append("Results of the previous batch: none yet.")
        if self.graph is not None and (n_nb or paths):
            lines = [self._facts(c, hits, n_nb, paths) for c in cands]
            parts.append("Knowledge-graph facts about the candidates:\n" + "\n".join(lines))
        parts.append("Candidates: " + ", ".join(cands))
        if notes:
            parts.append(
                f"(Shortened to fit {self.max_chars:,} characters: " + "; ".join(notes) + ".)"
            )
        parts.append(
            f"Choose the {n_pick} candidate(s) most likely to be hits, best first. Answer with "
            "gene symbols from the candidate list only, one per line, and nothing else."
        )
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def _facts(self, gene: str, hits: Mapping[str, float], n_nb: int, paths: bool) -> str:
        adj = self.adjacency
        nbs = adj.neighbours(gene)
        if not nbs:
            return f"- {gene}: no known neighbours"
        bits = []
        if n_nb:
            shown = ", ".join(f"{r} {n} ({w:.2f})" for n, r, w in nbs[:n_nb])
            more = f" and {len(nbs) - n_nb} more" if len(nbs) > n_nb else ""
            bits.append(shown + more)
        if paths:
            path = adj.path_to(gene, hits, hops=self.path_hops)
            if path is None:
                bits.append(f"no measured hit within {self.path_hops} hops")
            else:
                steps = "".join(f" -[{r} {w:.2f}]- {n}" for n, r, w in path)
                bits.append(f"path to hit: {gene}{steps} (value {float(hits[path[-1][0]]):.3g})")
        return f"- {gene}: " + "; ".join(bits)
