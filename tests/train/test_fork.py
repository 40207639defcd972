"""A forked call gives back what the child computed or raised, on one thread, and never leaves a
child running behind a caller that gave up."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from phenocast.train import ForkedCall, fork_unavailable

pytestmark = pytest.mark.skipif(
    bool(fork_unavailable()), reason=f"cannot fork here: {fork_unavailable()}"
)


def _work(n: int) -> tuple[np.ndarray, int, int]:
    import torch

    return np.arange(n) ** 2, torch.get_num_threads(), os.getpid()


def _fails() -> None:
    raise ValueError("column 'dose' has a NaN in row 7")


def _dies() -> None:
    os._exit(3)


def _sleeps() -> None:
    time.sleep(60)


def test_the_child_answers_on_one_thread_in_its_own_process():
    with ForkedCall(_work, 5) as call:
        squares, threads, pid = call.result()
    np.testing.assert_array_equal(squares, [0, 1, 4, 9, 16])
    assert threads == 1 and pid != os.getpid()


def test_the_childs_exception_is_raised_with_its_traceback():
    with ForkedCall(_fails) as call, pytest.raises(ValueError, match="row 7") as err:
        call.result()
    notes = "\n".join(err.value.__notes__)
    assert "child process running _fails" in notes and "def _fails" not in notes
    assert 'raise ValueError("column' in notes  # the child's own traceback


def test_a_child_that_dies_is_reported_with_its_exit_code():
    died = r"exit code 3.*num_threads=1"
    with ForkedCall(_dies) as call, pytest.raises(RuntimeError, match=died):
        call.result()


def test_leaving_the_block_early_stops_the_child():
    with pytest.raises(KeyError), ForkedCall(_sleeps) as call:
        process = call._process
        assert process.is_alive()
        raise KeyError("the caller's own work failed")
    assert not process.is_alive()


def _reason(queue: mp.Queue) -> None:
    queue.put(fork_unavailable())


def test_a_worker_process_does_not_fork_again():
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=_reason, args=(queue,))
    p.start()
    reason = queue.get(timeout=60)
    p.join()
    assert "worker process" in reason


def _streams() -> bool:
    import sys

    return sys.stderr is sys.__stderr__ and sys.stdout is sys.__stdout__


def test_the_child_writes_to_the_real_streams_not_the_callers_display(monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # e.g. a live display's proxy
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with ForkedCall(_streams) as call:
        assert call.result() is True
