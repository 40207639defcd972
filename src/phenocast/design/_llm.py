"""An acquisition that asks a language model which shortlisted genes to measure next.

Each cycle: shortlist the ``shortlist`` best candidates by the graph-neighbour score of
:class:`~phenocast.design._acquisition.GraphExploit` (or by the surrogate when there is no
graph), write a prompt with the knowledge-graph facts about them and the previous batch's
results, ask the backend, keep the shortlisted genes it names (in its order), and fill the
batch from the shortlist order when it names too few. The answer is constrained to the
shortlist: by the backend's own constrained decoding when it has one, and always by parsing
(names outside the shortlist are reported, never used).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._acquisition import (
    AcquisitionContext,
    GraphExploit,
    Greedy,
    Selection,
    register_acquisition,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..knowledge import GeneGraph, KnowledgeGraph, LLMBackend, Prompt, PromptBuilder

__all__ = ["LLMAcquisition"]


@register_acquisition("llm")
class LLMAcquisition:
    """Let a language model choose the batch from a graph-ranked shortlist.

    Parameters
    ----------
    backend
        An :class:`~phenocast.knowledge._llm.LLMBackend`, a registered backend name, or
        ``None`` for the one the environment configures (``PHENOCAST_LLM_URL`` …, see
        :func:`~phenocast.knowledge._llm.backend_from_env`).
    knowledge
        Graph the prompt's facts come from; default the loop's gene graph.
    shortlist
        Candidates shown to the model (at least the batch size is shown).
    top_fraction
        Share of the measured genes that count as hits (for the shortlist, the paths and the
        demonstrations).
    constrained
        ``"auto"``: use the backend's constrained decoding when it has one; ``"always"``:
        require it; ``"never"``: free generation, parsed.
    shuffle_feedback
        Control experiment: permute the previous batch's measured values among its genes in
        the prompt (the shortlist still sees the true values), to test whether the model's
        choices depend on the feedback.
    temperature, max_tokens
        Decoding options; ``max_tokens`` default 8 per requested gene plus 32.
    max_chars, max_demonstrations
        Prompt size budget and previous results shown, hits first (see
        :class:`~phenocast.knowledge._prompt.PromptBuilder`).
    task
        The task text of the prompt (default: a generic CRISPR screen).
    on_error
        ``"raise"`` a backend error, or ``"fill"`` the batch from the shortlist and log it.
    seed
        Seeds the shuffle control and the backend's sampling (one seed per call).

    Attributes
    ----------
    log
        One dict per call: cycle, prompt size and cuts, genes from the model and from the
        fill-up, unknown names, case fixes, seconds, and any error.
    """

    needs_model = False  # uses the surrogate's prediction for the shortlist when there is one

    def __init__(
        self,
        backend: LLMBackend | str | None = None,
        *,
        knowledge: GeneGraph | KnowledgeGraph | None = None,
        shortlist: int = 40,
        top_fraction: float = 0.05,
        constrained: Literal["auto", "always", "never"] = "auto",
        shuffle_feedback: bool = False,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        max_chars: int = 8000,
        max_demonstrations: int = 16,
        task: str | None = None,
        on_error: Literal["raise", "fill"] = "raise",
        seed: int = 0,
    ) -> None:
        from ..knowledge import LLMBackend, PromptBuilder, backend_from_env, make_backend

        PromptBuilder(max_chars=max_chars, max_demonstrations=max_demonstrations)  # validates

        if isinstance(backend, str):
            backend = make_backend(backend)
        elif backend is None:
            backend = backend_from_env()
            if backend is None:
                raise ValueError(
                    "The llm acquisition needs a backend: pass backend=... or set "
                    "PHENOCAST_LLM_URL and PHENOCAST_LLM_MODEL (an OpenAI-compatible server), "
                    "or PHENOCAST_LLM_BACKEND=llama-cpp and PHENOCAST_LLM_MODEL=<file.gguf>."
                )
        if not isinstance(backend, LLMBackend):
            raise TypeError(
                f"backend must have complete(messages, *, max_tokens, temperature, seed); got "
                f"{type(backend).__name__}."
            )
        if constrained not in ("auto", "always", "never"):
            raise ValueError(
                f"constrained must be 'auto', 'always' or 'never', got {constrained!r}."
            )
        if constrained == "always" and not hasattr(backend, "complete_constrained"):
            raise ValueError(
                f"constrained='always' but backend {backend!r} has no complete_constrained; "
                "use constrained='auto' (the answer is still parsed against the shortlist)."
            )
        if on_error not in ("raise", "fill"):
            raise ValueError(f"on_error must be 'raise' or 'fill', got {on_error!r}.")
        if isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < 1:
            raise ValueError(f"shortlist must be an integer >= 1, got {shortlist!r}.")
        if not 0 < top_fraction <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}.")
        self.backend = backend
        self.knowledge = knowledge
        self.shortlist, self.top_fraction = shortlist, top_fraction
        self.constrained, self.shuffle_feedback = constrained, bool(shuffle_feedback)
        self.temperature, self.max_tokens = float(temperature), max_tokens
        self.max_chars, self.max_demonstrations = max_chars, max_demonstrations
        self.task, self.on_error, self.seed = task, on_error, seed
        self.log: list[dict[str, Any]] = []
        self.last_prompt: Prompt | None = None
        self.last_answer: str | None = None
        self._builder: tuple[object, PromptBuilder] | None = None
        self._last: tuple[object, np.ndarray] | None = None  # (pool names, last batch)

    def __repr__(self) -> str:
        return (
            f"LLMAcquisition({self.backend!r}, shortlist={self.shortlist}, "
            f"constrained={self.constrained!r}, shuffle_feedback={self.shuffle_feedback})"
        )

    # --- pieces ----------------------------------------------------------------------------

    def _builder_for(self, graph: Any) -> PromptBuilder:
        from ..knowledge import PromptBuilder

        if self._builder is None or self._builder[0] is not graph:  # adjacency built once
            options: dict[str, Any] = {
                "graph": graph,
                "max_chars": self.max_chars,
                "max_demonstrations": self.max_demonstrations,
            }
            if self.task is not None:
                options["task"] = self.task
            self._builder = (graph, PromptBuilder(**options))
        return self._builder[1]

    def _rank(self, ctx: AcquisitionContext, m: int) -> Selection:
        if ctx.graph is not None and ctx.surrogate is not None:
            return GraphExploit(top_fraction=self.top_fraction).select(ctx, m)
        if ctx.surrogate is not None:
            return Greedy().select(ctx, m)
        pick = ctx.rng.permutation(len(ctx.candidates))[:m]
        return Selection(ctx.candidates[pick], np.zeros(len(pick)), ["random order"] * len(pick))

    def _previous(self, ctx: AcquisitionContext) -> np.ndarray:
        """Positions in ``ctx.labelled`` of the previous batch (the first call: all measured)."""
        pos = {int(i): k for k, i in enumerate(ctx.labelled)}
        if self._last is not None and self._last[0] is ctx.names:
            prev = [pos.get(int(i)) for i in self._last[1]]
            if all(p is not None for p in prev):
                return np.array(prev, dtype=int)
        return np.arange(len(ctx.labelled))

    # --- the acquisition -------------------------------------------------------------------

    def select(self, ctx: AcquisitionContext, batch_size: int) -> Selection:
        from ..knowledge import Demonstration, LLMError, parse_genes

        t0 = time.perf_counter()
        call = len(self.log)
        short = self._rank(ctx, min(len(ctx.candidates), max(self.shortlist, batch_size)))
        names = [str(n) for n in ctx.names[short.indices]]
        y = np.asarray(ctx.y, dtype=float).copy()
        prev = self._previous(ctx)
        if self.shuffle_feedback and len(prev) > 1:
            rng = np.random.default_rng([self.seed, call])
            y[prev] = y[rng.permutation(prev)]
        n_hits = max(1, int(np.ceil(self.top_fraction * len(y))))
        is_hit = np.zeros(len(y), dtype=bool)
        is_hit[np.argsort(-y, kind="stable")[:n_hits]] = True
        measured = [str(n) for n in ctx.names[ctx.labelled]]
        demos = [Demonstration(measured[k], float(y[k]), bool(is_hit[k])) for k in prev]
        hits = {measured[k]: float(y[k]) for k in np.flatnonzero(is_hit)}
        graph = self.knowledge if self.knowledge is not None else ctx.graph
        prompt = self._builder_for(graph).build(names, demos, n_pick=batch_size, hits=hits)
        self.last_prompt = prompt
        entry: dict[str, Any] = {
            "call": call,
            "measured": len(ctx.labelled),
            "shortlist": len(names),
            "prompt_chars": prompt.n_chars,
            "truncated": list(prompt.truncated),
            "feedback_shuffled": self.shuffle_feedback,
        }
        options = {
            "max_tokens": self.max_tokens if self.max_tokens else 8 * batch_size + 32,
            "temperature": self.temperature,
            "seed": self.seed + call,
        }
        use_constrained = self.constrained != "never" and hasattr(
            self.backend, "complete_constrained"
        )
        entry["constrained"] = use_constrained
        try:
            if use_constrained:
                answer = self.backend.complete_constrained(  # type: ignore[attr-defined]
                    prompt.messages, names, n=batch_size, **options
                )
            else:
                answer = self.backend.complete(prompt.messages, **options)
            error = None
        except LLMError as err:
            if self.on_error == "raise":
                raise
            answer, error = "", str(err)
        self.last_answer = answer
        parsed = parse_genes(answer, names)
        pool = {str(n) for n in ctx.names}
        measured_set = set(measured)
        entry.update(
            {
                "answer_chars": len(answer),
                "unknown": parsed.unknown,
                "invented": [u for u in parsed.unknown if u not in pool],
                "already_measured": [u for u in parsed.unknown if u in measured_set],
                "case_fixed": parsed.case_fixed,
                "error": error,
            }
        )
        rank = {n: r for r, n in enumerate(names)}
        chosen = parsed.genes[:batch_size]
        from_llm = len(chosen)
        taken = set(chosen)
        chosen += [n for n in names if n not in taken][: batch_size - from_llm]
        idx = np.array([short.indices[rank[n]] for n in chosen])
        scores = np.array([short.scores[rank[n]] for n in chosen], dtype=float)
        reasons = []
        for k, n in enumerate(chosen):
            r = rank[n]
            if k < from_llm:
                reasons.append(f"LLM pick {k + 1} (shortlist rank {r + 1}: {short.reasons[r]})")
            else:
                why = f"LLM failed: {error}" if error else f"LLM named {from_llm} of {batch_size}"
                reasons.append(f"fill-up, shortlist rank {r + 1} ({why}; {short.reasons[r]})")
        entry.update(
            {"from_llm": from_llm, "from_fill": len(chosen) - from_llm}
            | {"seconds": time.perf_counter() - t0}
        )
        self.log.append(entry)
        self._last = (ctx.names, idx)
        return Selection(idx, scores, reasons)
