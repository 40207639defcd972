"""``run_demo`` says what it is doing, stage by stage, unless asked to be quiet."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.report import run_demo

from ..conftest import run_or_skip

STAMP = r"\[\s*\d+\.\d s\] "


def _demo(tmp_path, *, progress: bool) -> list[str]:
    buf = io.StringIO()
    run_or_skip(
        run_demo,
        tmp_path / "report",
        tasks="kang-ood-celltype",
        models="no-change,mean-shift",
        console=Console(file=buf, width=200),
        progress=progress,
    )
    return buf.getvalue().splitlines()


@pytest.mark.realdata
def test_the_demo_prints_a_stamped_line_per_stage(tmp_path):
    lines = [ln for ln in _demo(tmp_path, progress=True) if re.match(STAMP, ln)]
    text = [re.sub(STAMP, "", ln) for ln in lines]
    assert text[0] == "kang-ood-celltype · loading the data and building the folds"
    fits = [t for t in text if "fitting and scoring" in t]
    assert len(fits) == 2 * 6  # two models × six held-out cell types
    assert "kang-ood-celltype · fitting and scoring mean-shift · CD14 Mono" in fits
    assert text[-4:-1] == [
        "kang-ood-celltype · scoring the noise ceiling",
        f"drawing the figures into {tmp_path / 'report' / 'figures'}",
        f"writing results.json, report.html and report.md to {tmp_path / 'report'}",
    ]
    assert text[-1].startswith("done in ")
    seconds = [float(re.match(r"\[\s*([\d.]+)", ln).group(1)) for ln in lines]
    assert seconds == sorted(seconds)
    quiet = _demo(tmp_path, progress=False)
    assert not [ln for ln in quiet if re.match(STAMP, ln)]
    assert any("kang-ood-celltype" in ln for ln in quiet)  # the result tables remain


def test_demo_quiet_turns_progress_off(monkeypatch, tmp_path):
    import phenocast.report

    seen = []

    def fake(out, **kwargs):
        seen.append(kwargs["progress"])
        # the stage lines name the user's folder, not the temporary one written into
        assert kwargs["shown_as"] == tmp_path / "r" and out != kwargs["shown_as"]
        return out

    monkeypatch.setattr(phenocast.report, "run_demo", fake)
    runner = CliRunner()
    for args, progress in (([], True), (["--quiet"], False), (["-q"], False)):
        result = runner.invoke(app, ["demo", "--out", str(tmp_path / "r"), *args])
        assert result.exit_code == 0, result.stdout
        assert seen[-1] is progress
