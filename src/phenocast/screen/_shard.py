"""Sharding a screen across processes, and merging the shards' top k into the screen's.

The condition space is enumerated in blocks of ``chunk_size`` conditions (see
:meth:`ConditionSpace.chunks`); shard ``i`` of ``n`` predicts the contiguous run of blocks
``i·C // n`` … ``(i+1)·C // n − 1`` of the ``C`` blocks, with the boundaries and condition ids
the whole screen has there. Every condition is scored by exactly one shard, in the same block
as in the whole screen, so its score is the same number; the shards' counts differ by at most
one block. Each shard keeps its own top k by the screen's total order — higher score first,
then the lower condition id (the enumeration index) — and :func:`merge` takes the top k of
their union by that same order, which is the whole screen's top k: same rows, same order,
same scores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..data import json_safe
from ._inputs import ScreenError
from ._result import ScreenResult, fingerprint_of

__all__ = ["merge", "parse_shard"]

Shard = tuple[int, int] | Literal["auto"] | None

#: attributes of a model that record how it was fitted, not what it predicts
_NOT_STATE = ("history",)


# ------------------------------------------------------------------ the shard spec
def parse_shard(text: str) -> tuple[int, int] | Literal["auto"]:
    """``"I/N"`` (shard ``I`` of ``N``, 0-based) as ``(I, N)``, or ``"auto"``.

    >>> parse_shard("2/8")
    (2, 8)
    """
    text = text.strip()
    if text == "auto":
        return "auto"
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        pair = int(index), int(count)
    except ValueError:
        raise ScreenError(
            f"shard must be I/N with integers I and N (shard I of N, counted from 0; e.g. 0/4) "
            f"or 'auto', got {text!r}."
        ) from None
    return check_shard(pair)


def check_shard(shard: Any) -> tuple[int, int]:
    """``shard`` as a checked ``(index, count)`` pair, or a :class:`ScreenError` naming it."""
    ok = (
        isinstance(shard, tuple | list)
        and len(shard) == 2
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in shard)
    )
    if not ok:
        raise ScreenError(
            f"shard must be (index, count) with integers, 'auto' or None, got {shard!r}."
        )
    index, count = int(shard[0]), int(shard[1])
    if count < 1:
        raise ScreenError(f"N (the number of shards) must be >= 1, got {count}.")
    if index < 0:
        raise ScreenError(f"shard index must be >= 0, got {index}.")
    if index >= count:
        raise ScreenError(
            f"shard index must be < N: got shard {index} of {count}; shards are numbered "
            f"0 … {count - 1}."
        )
    return index, count


def resolve_shard(shard: Shard, environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``None``, a checked ``(index, count)``, or for ``"auto"`` ``(RANK, WORLD_SIZE)`` from
    the environment (as torchrun sets them)."""
    if shard is None:
        return None
    if isinstance(shard, str) and shard == "auto":
        env = os.environ if environ is None else environ
        missing = [k for k in ("RANK", "WORLD_SIZE") if k not in env]
        if missing:
            raise ScreenError(
                f"shard='auto' reads RANK and WORLD_SIZE (set by torchrun), but {missing} "
                "is not set; give shard=(index, count) instead."
            )
        try:
            pair = int(env["RANK"]), int(env["WORLD_SIZE"])
        except ValueError:
            raise ScreenError(
                f"shard='auto': RANK={env['RANK']!r} and WORLD_SIZE={env['WORLD_SIZE']!r} "
                "must be integers."
            ) from None
        return check_shard(pair)
    return check_shard(shard)


def shard_blocks(n_blocks: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """The contiguous run ``(start, stop)`` of the ``n_blocks`` blocks that ``shard`` screens."""
    if shard is None:
        return 0, n_blocks
    index, count = shard
    return index * n_blocks // count, (index + 1) * n_blocks // count


# ------------------------------------------------------------------ content hashes
def digest(obj: Any) -> str:
    """A short content hash of arrays, tables, torch modules, models and containers of them,
    equal across processes for equal content (a model's fit history is left out)."""
    h = hashlib.sha256()
    _feed(h, obj, set(), 0)
    return h.hexdigest()[:16]


def _feed(h: Any, obj: Any, seen: set[int], depth: int) -> None:
    h.update(type(obj).__qualname__.encode())
    if obj is None or isinstance(obj, bool | int | float | str | bytes | np.generic):
        h.update(repr(obj).encode())
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            _feed(h, obj.ravel().tolist(), seen, depth + 1)
        else:
            h.update(f"{obj.dtype}{obj.shape}".encode())
            h.update(np.ascontiguousarray(obj).tobytes())
        return
    if id(obj) in seen or depth > 8 or isinstance(obj, type):
        return
    seen.add(id(obj))
    if callable(getattr(obj, "state_dict", None)):  # a torch module
        _feed(h, dict(obj.state_dict()), seen, depth + 1)
    elif hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor
        t = obj.detach().cpu()
        _feed(h, t.float().numpy() if str(t.dtype) == "torch.bfloat16" else t.numpy(), seen, 0)
    elif hasattr(obj, "tocsr"):  # a scipy sparse matrix
        m = obj.tocsr()
        _feed(h, [m.shape, m.data, m.indices, m.indptr], seen, depth + 1)
    elif isinstance(obj, pd.DataFrame | pd.Series | pd.Index):
        try:
            h.update(pd.util.hash_pandas_object(obj).to_numpy().tobytes())
        except TypeError:  # unhashable cells (lists …)
            h.update(obj.to_json().encode() if not isinstance(obj, pd.Index) else b"")
        h.update(repr(list(obj.columns) if isinstance(obj, pd.DataFrame) else obj.name).encode())
    elif isinstance(obj, Mapping):
        for k in sorted(obj, key=repr):
            _feed(h, k, seen, depth + 1)
            _feed(h, obj[k], seen, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=repr) if isinstance(obj, set | frozenset) else obj
        for v in items:
            _feed(h, v, seen, depth + 1)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            _feed(h, (f.name, getattr(obj, f.name)), seen, depth + 1)
    elif hasattr(obj, "__dict__"):
        for k, v in sorted(vars(obj).items()):
            if not any(s in k for s in _NOT_STATE):
                _feed(h, (k, v), seen, depth + 1)


def fingerprinted(settings: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``(settings as JSON values — what a result written to disk reads back — and their
    fingerprint)``."""
    normal = json.loads(json.dumps(json_safe(settings)))
    return normal, fingerprint_of(normal)


# ------------------------------------------------------------------ merging
def merge(results: Sequence[ScreenResult | str | os.PathLike[str]]) -> ScreenResult:
    """Merge the shards of one screen into the screen's top k.

    Parameters
    ----------
    results
        Every shard's :class:`ScreenResult`, or the path of the JSON file it was written to
        (:meth:`ScreenResult.write_json`; ``phenocast screen --shard I/N`` writes one), in
        any order.

    Returns
    -------
    ScreenResult
        The top k of the whole screen — the same rows, in the same order, with the same
        scores as ``run`` without ``shard`` gives (ties broken by the enumeration index, as
        there). Counts and ``seconds`` are the shards' sums; ``shard`` is ``None``.

    Raises
    ------
    ScreenError
        When the shards come from different screens (it names each setting that differs:
        model, perturbations, doses, contexts, orders, score, target, ``top_k``,
        ``chunk_size``, start cells …), were cut for different numbers of shards, or a shard
        is given twice or is missing (it names the missing indices).

    Examples
    --------
    >>> shards = [run(model, top_k=50, shard=(i, 3)) for i in range(3)]  # doctest: +SKIP
    >>> merge(shards).hits.equals(run(model, top_k=50).hits)  # doctest: +SKIP
    True
    """
    if isinstance(results, str | os.PathLike):
        raise ScreenError("merge takes a list of shard results or paths, not one path.")
    if not results:
        raise ScreenError("merge needs the shards' results, got none.")
    loaded: list[tuple[str, ScreenResult]] = []
    for j, r in enumerate(results):
        if isinstance(r, ScreenResult):
            loaded.append((f"result {j}", r))
        elif isinstance(r, str | os.PathLike):
            loaded.append((str(r), ScreenResult.read_json(Path(r))))
        else:
            raise ScreenError(
                f"merge takes ScreenResult objects or paths of their JSON files; item {j} is a "
                f"{type(r).__name__}."
            )
    shards = [(label, r.shard if r.shard is not None else (0, 1), r) for label, r in loaded]
    _check_same_screen(shards)
    _check_complete(shards)
    return _merged([r for _, _, r in shards])


def _name(label: str, shard: tuple[int, int]) -> str:
    return f"shard {shard[0]}/{shard[1]} ({label})"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else f"{text[:77]}…"


def _check_same_screen(shards: list[tuple[str, tuple[int, int], ScreenResult]]) -> None:
    label0, shard0, first = shards[0]
    for label, shard, r in shards[1:]:
        if r.fingerprint == first.fingerprint and r.settings == first.settings:
            continue
        keys = sorted(set(first.settings) | set(r.settings))
        diff = [
            f"{k} is {_short(first.settings.get(k))} in {_name(label0, shard0)} but "
            f"{_short(r.settings.get(k))} in {_name(label, shard)}"
            for k in keys
            if first.settings.get(k) != r.settings.get(k)
        ]
        raise ScreenError(
            "The shards come from different screens: "
            + ("; ".join(diff) if diff else f"fingerprints {first.fingerprint} ≠ {r.fingerprint}")
            + ". Merge the shards of one screen, run with the same settings."
        )
    counts = sorted({s[1] for _, s, _ in shards})
    if len(counts) > 1:
        listed = ", ".join(_name(label, s) for label, s, _ in shards)
        raise ScreenError(
            f"The shards were cut into different numbers of shards {counts}: {listed}. Merge "
            "the shards of one run (the same N in every --shard I/N)."
        )


def _check_complete(shards: list[tuple[str, tuple[int, int], ScreenResult]]) -> None:
    count = shards[0][1][1]
    given: dict[int, list[str]] = {}
    for label, (index, _), _ in shards:
        given.setdefault(index, []).append(label)
    problems = [
        f"shard {i}/{count} is given {len(labels)} times ({', '.join(labels)})"
        for i, labels in sorted(given.items())
        if len(labels) > 1
    ]
    missing = [i for i in range(count) if i not in given]
    if missing:
        problems.append(
            f"shard(s) {missing} of {count} are missing (a merge needs every shard 0 … {count - 1})"
        )
    if problems:
        raise ScreenError("Cannot merge: " + "; ".join(problems) + ".")


def _merged(results: list[ScreenResult]) -> ScreenResult:
    first = results[0]
    frames = [r.hits for r in results if len(r.hits)]
    ids = np.concatenate([np.asarray(r.condition_ids, dtype=np.int64) for r in results])
    n_rows = sum(len(f) for f in frames)
    if ids.size != n_rows:
        raise ScreenError(
            f"A shard result holds {n_rows} hits but {ids.size} condition ids; it is corrupt."
        )
    if np.unique(ids).size != ids.size:
        raise ScreenError("The shards overlap (a condition is in two of them); rerun them.")
    total = sum(r.n_conditions for r in results)
    if total != first.settings.get("conditions", total):
        raise ScreenError(
            f"The shards screened {total:,} conditions, the screen has "
            f"{first.settings['conditions']:,}; a shard is incomplete."
        )
    if frames:
        hits = pd.concat(frames, ignore_index=True)
        score = hits["score"].to_numpy(dtype=float)
        # the whole screen's order: higher score first, then the lower condition id
        keep = np.lexsort((ids, -score))[: int(first.settings.get("top_k", len(score)))]
        hits = hits.iloc[keep].reset_index(drop=True)
        hits["rank"] = np.arange(1, len(hits) + 1, dtype=hits["rank"].dtype)
        ids = ids[keep]
    else:
        hits = first.hits.copy()
    hits.attrs["score"] = first.score
    return ScreenResult(
        hits=hits,
        score=first.score,
        n_conditions=total,
        n_scored=sum(r.n_scored for r in results),
        n_unanswered=sum(r.n_unanswered for r in results),
        cells_per_context=max(r.cells_per_context for r in results),
        path=first.path,
        seconds=sum(r.seconds for r in results),
        contexts=first.contexts,
        shard=None,
        settings=first.settings,
        fingerprint=first.fingerprint,
        condition_ids=ids,
        shards_merged=len(results),
    )
