"""The command line, end to end on the real data (small tasks) and on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import list_datasets

runner = CliRunner()


def _need_data(names: list[str]) -> None:
    present = list_datasets().set_index("name")["present"]
    if not all(present.get(n, False) for n in names):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the real datasets {names} in PHENOCAST_DATA_DIR.")
        pytest.skip(f"real datasets {names} not present")


def test_the_command_line_imports_no_torch():
    code = "import sys, phenocast.cli; print(sorted({'torch', 'lightning'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip().count(".") == 2


def test_datasets_lists_presence(tmp_path):
    result = runner.invoke(app, ["datasets", "--data-dir", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.stdout
    assert "kang2018" in result.stdout and "missing" in result.stdout


@pytest.mark.realdata
def test_benchmark_writes_json_with_per_condition_values(tmp_path):
    _need_data(["norman2019"])
    out = tmp_path / "res.json"
    md = tmp_path / "res.md"
    result = runner.invoke(
        app,
        ["benchmark", "-t", "norman-combos", "-m", "no-change,additive,linear",
         "--json", str(out), "--markdown", str(md)],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    assert "norman-combos" in result.stdout and "noise-ceiling" in result.stdout
    data = json.loads(out.read_text())["tasks"]["norman-combos"]
    add = data["models"]["additive"]["metrics"]["pearson_delta"]
    assert len(add["per_condition"]["doubles"]) == 5
    assert add["mean"] == pytest.approx(sum(add["per_condition"]["doubles"].values()) / 5)
    assert data["models"]["no-change"]["metrics"]["pearson_delta"]["mean"] is None
    assert "| additive |" in md.read_text()


def test_benchmark_rejects_unknown_names():
    result = runner.invoke(app, ["benchmark", "-t", "kang", "-m", "additive"])
    assert result.exit_code == 2 and "Unknown task 'kang'" in result.stdout
    result = runner.invoke(app, ["benchmark", "-t", "norman-combos", "-m", "addtive"])
    assert result.exit_code == 2 and "Unknown model 'addtive'" in result.stdout


def test_benchmark_reports_missing_data(tmp_path):
    result = runner.invoke(
        app, ["benchmark", "-t", "norman-combos", "--data-dir", str(tmp_path)], terminal_width=200
    )
    assert result.exit_code == 2
    assert "PHENOCAST_DATA_DIR" in result.stdout


@pytest.mark.realdata
def test_demo_writes_a_report(tmp_path):
    _need_data(["kang2018", "norman2019"])
    out = tmp_path / "report"
    result = runner.invoke(
        app, ["demo", "--out", str(out), "--max-epochs", "3"], terminal_width=200
    )
    assert result.exit_code == 0, result.stdout
    report = (out / "report.md").read_text()
    assert "compositional[anchored]" in report
    page = (out / "report.html").read_text()
    assert 'data-figure="heldout-scatter"' in page and "norman-combos" in page
    assert "norman-combos" in report and "kang-ood-celltype" in report
    assert "noise-ceiling" in report
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert "norman-combos_pred_vs_obs.png" in figures
    assert all((out / "figures" / f).stat().st_size > 1000 for f in figures)
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]) == {"norman-combos", "kang-ood-celltype"}
    assert not list(out.rglob("*.tmp"))
