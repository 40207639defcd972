"""The "llm" acquisition inside the replay loop, against a tiny OpenAI-compatible server: only
shortlisted genes are used, invented and already-measured names are reported, the batch is
filled from the shortlist when the model names too few, failures are reported, and the
shuffled-feedback control changes what the model is shown and nothing else."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest

from phenocast.design import (
    ACQUISITIONS,
    ActiveLoop,
    LLMAcquisition,
    ReplayOracle,
    make_acquisition,
)
from phenocast.featurize import GeneFeatures
from phenocast.knowledge import GeneGraph, LLMError, OpenAICompatible
from tests.knowledge.test_llm import chat_server


def module_screen(n=300, n_hits=15, seed=0):
    """A pool whose hits form a graph module (hits are linked to each other) and whose features
    carry no signal, so only the graph (or a model reading it) finds them."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n)]
    hit_genes = genes[:n_hits]
    y = rng.normal(0, 1, n)
    y[:n_hits] += 6
    a, b = [], []
    for i, g in enumerate(hit_genes):  # a ring plus chords inside the module
        a += [g, g]
        b += [hit_genes[(i + 1) % n_hits], hit_genes[(i + 3) % n_hits]]
    for _ in range(2 * n):  # random edges elsewhere
        i, j = rng.choice(np.arange(n_hits, n), 2, replace=False)
        a.append(genes[i])
        b.append(genes[j])
    graph = GeneGraph.from_edges(
        pd.DataFrame({"source": a, "target": b, "importance": rng.uniform(0.3, 1.0, len(a))})
    )
    feats = GeneFeatures(tuple(genes), rng.standard_normal((n, 4)).astype(np.float32))
    return feats, ReplayOracle(pd.Series(y, genes), hit_fraction=0.05), graph


def candidates_of(body: dict) -> list[str]:
    text = body["messages"][-1]["content"]
    return re.search(r"^Candidates: (.*)$", text, re.M).group(1).split(", ")


def path_reader(body: dict) -> str:
    """A model that reads the facts: candidates with a path to a hit first, then the rest in
    reverse, plus an invented name and a measured gene."""
    text = body["messages"][-1]["content"]
    near = re.findall(r"^- (\S+): .*path to hit", text, re.M)
    rest = [c for c in reversed(candidates_of(body)) if c not in near]
    demo = re.search(r"^- (\S+): \S+ \((?:HIT|not a hit)\)", text, re.M).group(1)
    return "\n".join(["INVENTED9", demo, *near, *rest[:2]])


def run_loop(acq, *, cycles=3, batch_size=8, seed=0):
    feats, oracle, graph = module_screen()
    loop = ActiveLoop(
        "bayesian-ridge", feats, oracle, acq, batch_size=batch_size, cycles=cycles, seed=seed,
        graph=graph, initial_size=40,
    )  # fmt: skip
    return loop.run()


def test_llm_acquisition_runs_in_the_loop_and_reports_everything():
    with chat_server(path_reader) as (url, seen):
        acq = make_acquisition("llm", backend=OpenAICompatible(url, "m", environ={}), shortlist=20)
        res = run_loop(acq)
    assert "llm" in ACQUISITIONS and isinstance(acq, LLMAcquisition)
    assert len(seen) == 3 and all(r["body"]["model"] == "m" for r in seen)
    picks = res.picks[res.picks["cycle"] > 0]
    assert picks["gene"].is_unique and len(picks) == 24
    assert picks["reason"].str.startswith(("LLM pick", "fill-up")).all()
    for entry, req in zip(acq.log, seen, strict=True):
        shortlist = candidates_of(req["body"])
        assert entry["shortlist"] == len(shortlist) == 20
        assert entry["invented"] == ["INVENTED9"]
        assert len(entry["already_measured"]) == 1
        assert entry["from_llm"] + entry["from_fill"] == 8
    # only shortlisted genes, and the model's picks in its order
    first = picks[picks["cycle"] == 1]
    shown = candidates_of(seen[0]["body"])
    assert set(first["gene"]) <= set(shown)
    llm = first[first["reason"].str.startswith("LLM pick")]
    answer = [g for g in path_reader(seen[0]["body"]).split("\n") if g in shown]
    assert llm["gene"].tolist() == answer[: len(llm)]
    assert "INVENTED9" not in set(res.picks["gene"])


def test_feedback_reading_model_finds_the_module():
    with chat_server(path_reader) as (url, _):
        acq = LLMAcquisition(OpenAICompatible(url, "m", environ={}), shortlist=30)
        res = run_loop(acq, cycles=3)
    random = run_loop("random", cycles=3)
    assert res.cycles["hits_found"].iloc[-1] > random.cycles["hits_found"].iloc[-1]


def test_fill_up_from_the_shortlist_when_the_model_names_too_few():
    with chat_server(lambda body: "I cannot decide.") as (url, _):
        acq = LLMAcquisition(OpenAICompatible(url, "m", environ={}), shortlist=12)
        res = run_loop(acq, cycles=1)
    kg = run_loop("kg-exploit", cycles=1)  # the shortlist order is kg-exploit's ranking
    got = res.picks[res.picks["cycle"] == 1]
    assert got["reason"].str.startswith("fill-up, shortlist rank").all()
    assert got["reason"].str.contains("LLM named 0 of 8").all()
    assert got["gene"].tolist() == kg.picks[kg.picks["cycle"] == 1]["gene"].tolist()
    assert acq.log[0]["from_llm"] == 0 and acq.log[0]["from_fill"] == 8


def test_shuffled_feedback_changes_only_what_the_model_sees():
    prompts: dict[bool, list[str]] = {False: [], True: []}

    for shuffle in (False, True):

        def remember(body, shuffle=shuffle):
            prompts[shuffle].append(body["messages"][-1]["content"])
            return ""  # the fill-up keeps both runs on the same trajectory

        with chat_server(remember) as (url, _):
            acq = LLMAcquisition(
                OpenAICompatible(url, "m", environ={}),
                shortlist=16,
                shuffle_feedback=shuffle,
                max_demonstrations=40,  # all of the initial batch: the same genes either way
                max_chars=20_000,
            )
            run_loop(acq, cycles=2)

    def demos(text):
        return dict(re.findall(r"^- (\S+): (\S+) \((?:HIT|not a hit)\)$", text, re.M))

    def shortlist(text):
        return re.search(r"^Candidates: (.*)$", text, re.M).group(1)

    for plain, shuffled in zip(prompts[False], prompts[True], strict=True):
        a, b = demos(plain), demos(shuffled)
        assert set(a) == set(b) and sorted(a.values()) == sorted(b.values()) and a != b
        assert shortlist(plain) == shortlist(shuffled)
    # the second call shows the previous batch (8 genes), not everything measured
    assert len(demos(prompts[False][1])) == 8


class Constrained:
    """A Python backend with constrained decoding: answers the last choices."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def complete(self, messages, *, max_tokens, temperature, seed):
        raise AssertionError("complete() must not be used when constrained decoding exists")

    def complete_constrained(self, messages, choices, *, n, max_tokens, temperature, seed):
        self.calls.append((list(choices), n, seed))
        return "\n".join(list(choices)[-n:])


def test_constrained_backend_is_used_and_seeded_per_call():
    backend = Constrained()
    acq = LLMAcquisition(backend, shortlist=10, seed=5)
    res = run_loop(acq, cycles=2)
    assert [c[1:] for c in backend.calls] == [(8, 5), (8, 6)]
    first = res.picks[res.picks["cycle"] == 1]
    assert first["gene"].tolist() == backend.calls[0][0][-8:]
    assert all(e["constrained"] for e in acq.log)


def test_backend_failure_raises_or_fills_and_says_why():
    with chat_server(lambda body: (500, b"overloaded")) as (url, _):
        backend = OpenAICompatible(url, "m", environ={})
        with pytest.raises(LLMError, match="answered HTTP 500"):
            run_loop(LLMAcquisition(backend), cycles=1)
        acq = LLMAcquisition(backend, on_error="fill")
        res = run_loop(acq, cycles=1)
    got = res.picks[res.picks["cycle"] == 1]
    assert got["reason"].str.contains("LLM failed: .*HTTP 500").all()
    assert "HTTP 500" in acq.log[0]["error"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "needs a backend: pass backend=... or set PHENOCAST_LLM_URL"),
        ({"backend": object()}, TypeError, "backend must have complete"),
        ({"backend": "gpt"}, KeyError, "Unknown LLM backend 'gpt'"),
        ({"shortlist": 0}, ValueError, "shortlist must be an integer >= 1, got 0"),
        ({"constrained": "yes"}, ValueError, "constrained must be 'auto', 'always' or 'never'"),
        ({"constrained": "always"}, ValueError, "has no complete_constrained"),
        ({"on_error": "ignore"}, ValueError, "on_error must be 'raise' or 'fill'"),
        ({"top_fraction": 0}, ValueError, r"top_fraction must be in \(0, 1\]"),
        ({"max_chars": 50}, ValueError, "max_chars must be an integer >= 200, got 50"),
    ],
)
def test_bad_options(monkeypatch, kwargs, error, message):
    for var in ("PHENOCAST_LLM_URL", "PHENOCAST_LLM_BACKEND", "PHENOCAST_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    if "backend" not in kwargs and kwargs:
        kwargs = {"backend": OpenAICompatible("http://127.0.0.1:9", "m", environ={}), **kwargs}
    with pytest.raises(error, match=message):
        LLMAcquisition(**kwargs)


@pytest.mark.slow_llm
@pytest.mark.skipif(
    os.environ.get("PHENOCAST_LLM_TESTS") != "1", reason="set PHENOCAST_LLM_TESTS=1 (slow)"
)
def test_smollm2_acquisition_stays_in_the_shortlist():
    pytest.importorskip("llama_cpp", reason="needs the llm extra: pip install 'phenocast[llm]'")
    from phenocast.knowledge import LlamaCpp, smollm2_gguf

    acq = LLMAcquisition(LlamaCpp(smollm2_gguf(), n_ctx=4096, n_threads=2), shortlist=16)
    res = run_loop(acq, cycles=1)
    assert acq.log[0]["constrained"] and acq.log[0]["invented"] == []
    assert acq.log[0]["from_llm"] >= 1
    assert res.picks[res.picks["cycle"] == 1]["gene"].is_unique
