"""Every code block of README.md runs as written.

Conventions (read these before adding a block to the README):

* **Python blocks** of one README section (the text under one ``##`` or ``###`` heading) share
  one namespace and run in README order, as a reader pasting them into one session would;
  each section starts afresh in its own empty working directory (files a block writes, such
  as a saved model, land there). Every Python section reads real data, so it is marked
  ``realdata`` and skipped when a dataset is absent (failed under CI).
* **Bash blocks**: the first block (the install lines) is not run, nor blocks without a
  ``phenocast`` command. The blocks of one section share a working directory, in README
  order. In each block the shell runs as written with ``phenocast`` as a function that
  records its arguments (loops, variables and continuation lines are the shell's); the test
  then runs each recorded command
  in-process, in order, in a working directory holding the input files the README names
  (``data.h5ad``, ``conditions.csv``, … built here on synthetic data), and expands a glob
  such as ``shards/*.json`` when the command runs, as the shell would at that point. Other
  programs are not on the shell's ``PATH`` (a block that needs one fails here). A comment line
  starting ``# as a`` or ``# or`` begins another way of doing the same thing: it runs in a
  fresh copy of the directory as it was before the block.
* **Exempt** commands (:data:`EXEMPT`) take minutes; each is listed with the reason.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import run_or_skip

README = Path(__file__).resolve().parents[1] / "README.md"

#: Commands not run, by their first words, with the reason.
EXEMPT = {
    "phenocast synthetic --cells 2000000": "writes two million cells: minutes, by design",
    "phenocast design --candidates genes.txt": (
        "ranks with GO features of every annotated gene (a randomised SVD of all of gene2go, "
        "minutes on two busy cores); tests/cli/test_cli_design.py runs design on features"
    ),
}
#: A comment line starting so begins another way of doing what the block's commands above do.
ALTERNATIVE = re.compile(r"^\s*#\s*(as a|or)\b")


@dataclass(frozen=True)
class Block:
    lang: str
    section: str
    line: int
    text: str


def readme_blocks() -> list[Block]:
    """The fenced code blocks of README.md with the heading they sit under."""
    blocks, section, lang, start, body = [], "", None, 0, []
    for number, line in enumerate(README.read_text().splitlines(), start=1):
        if lang is None:
            if line.startswith("#") and not line.startswith("#!"):
                section = line.lstrip("#").strip()
            elif line.startswith("```"):
                lang, start, body = line[3:].strip(), number, []
        elif line.startswith("```"):
            blocks.append(Block(lang, section, start, "\n".join(body) + "\n"))
            lang = None
        else:
            body.append(line)
    assert lang is None, f"README.md: the block opened on line {start} is never closed."
    return blocks


def _phenocast_lines(text: str) -> list[str]:
    """The block's ``phenocast`` command lines (continuations joined), for the exemptions."""
    joined = text.replace("\\\n", " ")
    return [
        " ".join(ln.split()) for ln in joined.splitlines() if ln.strip().startswith("phenocast ")
    ]


BLOCKS = readme_blocks()
PYTHON_SECTIONS = list(dict.fromkeys(b.section for b in BLOCKS if b.lang == "python"))
#: Bash blocks with ``phenocast`` commands, but not the first (the install lines); the
#: others (environment settings, the development commands) have nothing of ours to run.
BASH = [b for b in BLOCKS if b.lang == "bash"][1:]
BASH = [b for b in BASH if _phenocast_lines(b.text)]
#: Bash blocks of one section share a working directory (the second may use the first's model).
BASH_SECTIONS = list(dict.fromkeys(b.section for b in BASH))


def test_the_readme_has_the_blocks_this_test_runs():
    assert {b.lang for b in BLOCKS} <= {"python", "bash"}, "a block with another language"
    assert PYTHON_SECTIONS and BASH
    commands = [c for b in BASH for c in _phenocast_lines(b.text)]
    for prefix in EXEMPT:  # an exemption for a command the README no longer has is stale
        assert any(c.startswith(prefix) for c in commands), prefix


@pytest.mark.realdata
@pytest.mark.parametrize("section", PYTHON_SECTIONS)
def test_python_blocks_run(section, tmp_path, monkeypatch, offline_llm, data_dir_absolute):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for block in (b for b in BLOCKS if b.lang == "python" and b.section == section):
        code = compile(block.text, f"README.md:{block.line}", "exec")
        run_or_skip(exec, code, namespace)


# ----------------------------------------------------------------------------- bash blocks
def _segments(text: str) -> list[str]:
    """The block cut at each comment that starts another way of doing the same thing."""
    out: list[list[str]] = [[]]
    for line in text.splitlines():
        if ALTERNATIVE.match(line):
            out.append([])
        out[-1].append(line)
    return ["\n".join(s) + "\n" for s in out if any(ln.strip() for ln in s)]


def _record(script: str, cwd: Path, tmp: Path) -> list[list[str]]:
    """Run ``script`` in bash with ``phenocast`` recording its arguments; the invocations."""
    record = tmp / "record.bin"
    record.write_bytes(b"")
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("seq",):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    prelude = (
        'phenocast() { printf "%s\\0" "$@" "--end-of-command--" >> "$PHENOCAST_RECORD"; }\nset -e\n'
    )
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp),
        "PHENOCAST_RECORD": str(record),
        "SLURM_ARRAY_TASK_ID": "3",
        "SLURM_ARRAY_TASK_COUNT": "8",
    }
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run(
        [bash, "-c", prelude + script], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"the shell failed on:\n{script}\n{done.stderr}"
    commands, current = [], []
    for arg in record.read_bytes().decode().split("\0")[:-1]:
        if arg == "--end-of-command--":
            commands.append(current)
            current = []
        else:
            current.append(arg)
    return commands


def _run(args: list[str]) -> None:
    from typer.testing import CliRunner

    from phenocast.cli import app

    expanded = []
    for arg in args:  # the shell expands a glob when the command runs
        matches = sorted(glob.glob(arg)) if any(c in arg for c in "*?") else []
        expanded += matches or [arg]
    result = CliRunner().invoke(app, expanded, terminal_width=200)
    shown = "phenocast " + shlex.join(expanded)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        shown,
        result.exception,
    )
    assert result.exit_code == 0, f"{shown}\n{result.output}"


def _inputs(root: Path) -> None:
    """The files the README's commands read, small and synthetic."""
    import anndata as ad

    from phenocast.data import synthetic

    names = {"P0": "A", "P1": "B", "P2": "C"}
    data = synthetic(
        n_genes=20, n_cell_types=2, n_perturbations=3, doses=(0.1, 1, 10),
        combinations=["P0+P1"], cells_per_condition=12, seed=0,
    )  # fmt: skip
    obs = data.obs
    obs["perturbation"] = [
        "+".join(names.get(p, p) for p in str(v).split("+")) for v in obs["perturbation"]
    ]
    obs["cell_type"] = obs["cell_type"].astype(str).map({"T0": "K562", "T1": "HepG2"})
    data.write_h5ad(root / "data.h5ad")
    # start cells of both cell types: each condition starts from its own cell type's
    ctrl = data[obs["is_control"].to_numpy()]
    both = [ctrl[(ctrl.obs["cell_type"] == ct).to_numpy()][:10] for ct in ("K562", "HepG2")]
    ad.concat(both).write_h5ad(root / "controls.h5ad")
    pd.DataFrame(
        {"perturbation": ["A", "A+B"], "dose": ["1", "1+0.1"], "cell_type": ["K562", "HepG2"]}
    ).to_csv(root / "conditions.csv", index=False)
    genes = list(data.var_names[:4])
    pd.DataFrame({"gene": genes, "value": [1.0, -1.0, 0.5, 2.0]}).to_csv(
        root / "sig.csv", index=False
    )
    atlas = ad.AnnData(
        np.random.default_rng(0).poisson(1.0, (300, 15)).astype(np.float32),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(300)]),
    )
    atlas.write_h5ad(root / "atlas.h5ad")
    _multimodal_input(root / "data.h5mu")


def _multimodal_input(path: Path) -> None:
    import mudata

    from phenocast.data import synthetic_multimodal

    data, _ = synthetic_multimodal(n_samples=60, dims={"rna": 8, "morphology": 5}, seed=0)
    with mudata.set_options(pull_on_update=False):  # mudata 0.3 warns of a future default
        data.to_mudata().write_h5mu(path)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme-inputs")
    _inputs(root)
    return root


@pytest.mark.parametrize("section", BASH_SECTIONS)
def test_bash_blocks_run(section, inputs, tmp_path, monkeypatch, data_dir_absolute):
    work = tmp_path / "work"
    shutil.copytree(inputs, work)
    ran = 0
    for block in (b for b in BASH if b.section == section):
        before = tmp_path / f"before-{block.line}"
        for i, segment in enumerate(_segments(block.text)):
            if i == 0:
                shutil.copytree(work, before)
            else:  # another way of doing the same: from the directory as it was
                shutil.rmtree(work)
                shutil.copytree(before, work)
            monkeypatch.chdir(work)
            for args in _record(segment, work, tmp_path):
                line = "phenocast " + " ".join(args)
                if any(line.startswith(prefix) for prefix in EXEMPT):
                    continue
                _run(args)
                ran += 1
    assert ran, "no command of the section ran"


@pytest.fixture
def data_dir_absolute(monkeypatch):
    """``PHENOCAST_DATA_DIR`` as an absolute path: the blocks run in their own working
    directory, where a relative one (CI's ``../shared/data``) would point elsewhere."""
    if value := os.environ.get("PHENOCAST_DATA_DIR"):
        monkeypatch.setenv("PHENOCAST_DATA_DIR", str(Path(value).resolve()))


@pytest.fixture
def offline_llm(monkeypatch):
    """An offline language model configured the README's way (through the environment): it
    answers with the last genes it is offered."""
    from phenocast.knowledge import BACKENDS

    monkeypatch.setitem(BACKENDS._entries, "readme-offline", _OfflineLLM)
    monkeypatch.setenv("PHENOCAST_LLM_BACKEND", "readme-offline")
    monkeypatch.setenv("PHENOCAST_LLM_MODEL", "offline")
    for var in ("PHENOCAST_LLM_URL", "PHENOCAST_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)


class _OfflineLLM:
    name = "readme-offline"

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        self.model_path = model_path

    def complete(self, messages, *, max_tokens, temperature, seed):  # pragma: no cover
        raise AssertionError("the constrained path is used when it exists")

    def complete_constrained(self, messages, choices, *, n, max_tokens, temperature, seed):
        return "\n".join(list(choices)[-n:])
