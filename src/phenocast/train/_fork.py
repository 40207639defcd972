"""Run one fit in a forked child process beside the caller's own fit.

Two independent fits of a small model (an anchored model's validation fit and its final fit)
each use one core best: their minibatches are too small for a second thread to pay. Run one
after the other they leave a core idle; :class:`ForkedCall` runs one of them in a child
process while the caller runs the other.

The child is forked, not spawned: spawning would import torch and Lightning again (seconds,
as long as a small fit). A forked child is safe under the rules PyTorch's own data-loader
workers follow: it uses one CPU thread (:func:`torch.set_num_threads`), and no GPU was
initialised before the fork. :func:`fork_unavailable` says when those rules cannot be kept.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from ._config import available_cores

__all__ = ["ForkedCall", "fork_unavailable"]


def fork_unavailable() -> str:
    """Why this process cannot run a :class:`ForkedCall` beside its own work ("" when it can)."""
    if not sys.platform.startswith("linux"):
        return f"forking a process with torch loaded is safe only on Linux, not {sys.platform}"
    if mp.parent_process() is not None:
        return "this process is itself a worker process; its siblings use the other cores"
    if available_cores() < 2:
        return "this process may use only one CPU core"
    import torch

    if torch.cuda.is_initialized():
        return "CUDA is initialised in this process, and a forked child cannot use it"
    return ""


class ForkedCall:
    """``fn(*args, **kwargs)`` in a forked child process on one CPU thread; :meth:`result`
    waits for its return value (sent back pickled) or raises what it raised.

    Use it as a context manager: leaving the block before :meth:`result` (the caller's own
    work failed, or Ctrl-C) stops the child.
    """

    def __init__(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        self._name = getattr(fn, "__qualname__", repr(fn))
        ctx = mp.get_context("fork")
        self._receive, send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_child, args=(send, fn, args, kwargs), name=f"phenocast-{self._name}"
        )
        self._process.daemon = True  # it ends with the caller, whatever happens to it
        with warnings.catch_warnings():
            # Python >= 3.12 warns on any fork of a process with threads (torch's idle
            # OpenMP pool); the child runs torch on one thread, as data-loader workers do
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork")
            self._process.start()
        send.close()
        self._done = False

    def result(self) -> Any:
        """The child's return value; re-raises its exception with the child's traceback as a
        note, or raises :class:`RuntimeError` when the child ended without an answer."""
        try:
            kind, value, trace = self._receive.recv()
        except EOFError:
            self._process.join()
            self._done = True
            raise RuntimeError(
                f"the child process running {self._name} ended without an answer (exit code "
                f"{self._process.exitcode}; a negative code is the signal that stopped it, e.g. "
                "-9 when the system ran out of memory). Set TrainConfig(num_threads=1) to run "
                "the fits one after the other in this process."
            ) from None
        self._process.join()
        self._done = True
        if kind == "error":
            value.add_note(f"raised in the child process running {self._name}:\n{trace}")
            raise value
        return value

    def stop(self) -> None:
        """End the child if it still runs (its answer, if any, is dropped)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receive.close()
        self._done = True

    def __enter__(self) -> ForkedCall:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.stop()
        else:
            self._receive.close()


def _child(send: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    import torch

    # the caller may draw a live display whose refresh thread held the console's lock when
    # the process forked; the child writes its warnings to the real streams instead
    sys.stdout = sys.__stdout__ or sys.stdout
    sys.stderr = sys.__stderr__ or sys.stderr
    torch.set_num_threads(1)
    try:
        message: tuple = ("ok", fn(*args, **kwargs), "")
    except BaseException as exc:  # everything goes back to the caller, Ctrl-C included
        message = ("error", exc, traceback.format_exc())
    try:
        send.send(message)
    except Exception as exc:  # the answer or the exception could not be pickled
        kind = "return value" if message[0] == "ok" else f"exception {message[1]!r}"
        send.send(
            ("error", RuntimeError(f"the child's {kind} could not be sent back: {exc}"), message[2])
        )
    finally:
        send.close()
