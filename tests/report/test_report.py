"""write_report: one self-contained HTML page whose figures decode, whose user strings are
escaped, whose omitted sections are listed, which a real browser parses without console
errors, and whose bad inputs fail naming the argument."""

from __future__ import annotations

import base64
import copy
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phenocast.data import register, synthetic
from phenocast.evaluate.metrics import interval_coverage
from phenocast.models import Compositional, CompositionalConfig
from phenocast.plot import pca_2d
from phenocast.report import write_report

PNG = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert("x")</script>'
ALL_FIGURES = {
    "latent-cells",
    "latent-perturbations",
    "heldout-scatter",
    "dose-response",
    "benchmark-combos",
    "benchmark-ood-cell-type",
    "calibration",
    "active-learning",
    "screen-hits",
}


@pytest.fixture(scope="module")
def data():
    adata = synthetic(
        n_genes=30,
        n_cell_types=2,
        n_perturbations=4,
        combinations={"P0+P1": "additive"},
        doses=(0.1, 1.0, 10.0),
        cells_per_condition=8,
        seed=3,
    )
    reg = register(
        adata, perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"]
    )
    return adata, reg


@pytest.fixture(scope="module")
def model(data):
    adata, reg = data
    config = CompositionalConfig.from_dict(
        {"latent_dim": 8, "hidden": [32], "train": {"max_epochs": 3}}
    )
    return Compositional(reg, config).fit(adata)


def benchmark_dict() -> dict:
    def entry(status="ok", note="", **means):
        return {
            "status": status,
            "note": note,
            "metrics": {m: {"mean": v} for m, v in means.items()},
        }

    return {
        "phenocast_version": "0.1.0",
        "python": "3.11",
        "tasks": {
            "combos": {
                "description": "doubles from singles",
                "metrics": ["pearson_delta", "mse_top20_deg"],
                "n_conditions": 5,
                "models": {
                    "no-change": entry(pearson_delta=None, mse_top20_deg=0.12),
                    "additive": entry(pearson_delta=0.87, mse_top20_deg=0.0067),
                    "linear": entry(pearson_delta=0.82, mse_top20_deg=0.018),
                    "transfer": entry("n/a", "never measured"),
                    "noise-ceiling": entry(pearson_delta=0.95, mse_top20_deg=0.001),
                },
            },
            "ood cell type": {
                "metrics": ["r2"],
                "models": {"mean-shift": entry(r2=0.80), EVIL: entry(r2=0.81)},
            },
        },
    }


def screen_frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "perturbation": [EVIL] + [f"P{i % 4}" for i in range(1, n)],
            "dose": ["1"] * n,
            "cell_type": ["T0"] * n,
            "score": np.linspace(3.0, 1.0, n),
            "effect": rng.normal(size=n),
            "uncertainty": rng.uniform(0.0, 0.3, n),
            "extrapolated": [False] * (n - 1) + [True],
        }
    )


def calibration_dict(scale: float = 1.0) -> dict:
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(40, 30))
    var = rng.uniform(0.2, 2.0, size=(40, 30))
    truth = mean + rng.normal(size=mean.shape) * np.sqrt(var)
    return {"mean": mean, "variance": var * scale, "truth": truth}


def heldout_panels() -> list:
    rng = np.random.default_rng(2)
    obs = rng.normal(size=30)
    return [
        (EVIL, obs, {"compositional": obs + 0.2 * rng.normal(size=30), "additive": 0.5 * obs}),
        ("P3@1 T1", -obs, {"compositional": -obs}),
    ]


@pytest.fixture(scope="module")
def full_report(tmp_path_factory, data, model):
    adata, _ = data
    path = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    out = write_report(
        path,
        title=f"Run {EVIL} & co",
        model=model,
        adata=adata,
        heldout=heldout_panels(),
        dose_response=["P2", "P0+P1"],
        benchmark=benchmark_dict(),
        screen=screen_frame(),
        calibration=calibration_dict(),
        design={"random": [1, 2, 2, 4], "ucb": [2, 5, 7, 9]},
    )
    assert out == path
    return path, path.read_text(encoding="utf-8")


def figures(text: str) -> dict[str, bytes]:
    found = re.findall(
        r'<img data-figure="([^"]+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text
    )
    return {name: base64.b64decode(data, validate=True) for name, data in found}


def test_full_report_has_every_figure_as_a_decodable_png(full_report):
    path, text = full_report
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    imgs = figures(text)
    assert set(imgs) == ALL_FIGURES
    assert text.count("<img ") == len(ALL_FIGURES)  # every image is an embedded PNG
    assert text.count("<figure>") == text.count("<figcaption>") == len(ALL_FIGURES)
    for name, png in imgs.items():
        assert png.startswith(PNG), name
        assert len(png) > 2000, name  # a real picture, not an empty canvas
    assert 'id="not-provided"' not in text
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left no temporary file


def test_report_is_self_contained(full_report):
    _, text = full_report
    assert "<script" not in text.lower()
    assert "http://" not in text and "https://" not in text
    links = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert links and all(u.startswith(("data:image/png;base64,", "#")) for u in links)
    assert "<style>" in text and "<link" not in text


def test_user_strings_are_escaped(full_report):
    _, text = full_report
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert f"<title>Run {escaped} &amp; co</title>" in text
    assert f"<h1>Run {escaped} &amp; co</h1>" in text
    # the held-out label (caption), the screen's perturbation (table) and a model name
    assert text.count(escaped) >= 4
    assert EVIL not in text


def test_sections_contain_what_was_asked(full_report, model):
    _, text = full_report
    for section in ("model", "latent", "heldout", "dose-response", "benchmark", "calibration"):
        assert f'<section id="{section}">' in text
    assert "cell_type=T0 (the first category of each covariate)" in text
    assert f'<td class="num">{model.registry.n_vars}</td>' in text  # genes
    assert "train.max_epochs" in text
    # the screen table: 30 hits (all below the 100-row cap) and its uncertainty column
    screen = text[text.index('<section id="screen">') :]
    assert screen.count("<tr>") == 31 and "<th>uncertainty</th>" in screen
    assert "error bars are the predicted uncertainty" in screen
    assert "1 of 30 hits extrapolate" in screen
    assert "Spearman ρ between predicted std and absolute error" in text


def test_anchor_choice_is_summarised(tmp_path, model):
    from phenocast.models.compositional._anchor import AnchorFit

    anchored = copy.copy(model)  # the shared fixture stays un-anchored
    anchored.anchor_ = AnchorFit("additive", 0.25, n_groups=3, note="chosen on 3 groups")
    text = write_report(tmp_path / "r.html", model=anchored).read_text()
    anchor = text[text.index("<h3>Anchor</h3>") : text.index('<section id="latent">')]
    assert '<td class="">additive</td>' in anchor and ">0.25</td>" in anchor
    assert "chosen on 3 groups" in anchor
    assert "<h3>Anchor</h3>" not in write_report(tmp_path / "s.html", model=model).read_text()


def test_benchmark_table_marks_the_best_model_per_metric(full_report):
    _, text = full_report
    bench = text[text.index('<section id="benchmark">') : text.index('<section id="calibration">')]
    best = re.findall(r'<tr[^>]*><td class="">([^<]+)</td>((?:<td[^>]*>[^<]*</td>)+)', bench)
    marked = {
        (model, i)
        for model, cells in best
        for i, cls in enumerate(re.findall(r'<td class="([^"]*)"', cells))
        if "best" in cls
    }
    # additive wins both metrics of "combos" (mse: lower is better); the noise ceiling, though
    # higher, is excluded; on "ood cell type" the escaped model name wins r2
    assert marked == {
        ("additive", 0),
        ("additive", 1),
        ("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;", 0),
    }
    assert '<tr class="ceiling"><td class="">noise-ceiling' in bench
    assert "n/a: never measured" in bench
    assert "mse_top20_deg ↓" in bench and "pearson_delta ↑" in bench


def test_omitted_sections_are_listed_as_not_provided(tmp_path):
    path = write_report(tmp_path / "r.html", screen=screen_frame(5), design={"a": [0, 1]})
    text = path.read_text()
    assert set(figures(text)) == {"screen-hits", "active-learning"}
    missing = text[text.index('<section id="not-provided"') :]
    listed = re.findall(r"<li><code>(\w+)</code>", missing)
    assert listed == ["model", "adata", "heldout", "dose_response", "benchmark", "calibration"]
    empty = write_report(tmp_path / "empty.html").read_text()
    assert not figures(empty) and "<nav>" not in empty
    assert len(re.findall(r"<li><code>", empty)) == 8


def test_an_empty_screen_says_so(tmp_path):
    frame = pd.DataFrame(columns=["rank", "perturbation", "score"]).astype(
        {"rank": int, "score": float}
    )
    text = write_report(tmp_path / "r.html", screen=frame).read_text()
    assert "The screen returned no hits." in text and not figures(text)


def test_calibration_coverage_tracks_the_truth():
    levels = [0.5, 0.8, 0.95]
    cal = calibration_dict()
    calibrated = [
        interval_coverage(cal["mean"], cal["variance"], cal["truth"], level=v) for v in levels
    ]
    np.testing.assert_allclose(calibrated, levels, atol=0.05)
    narrow = [
        interval_coverage(cal["mean"], cal["variance"] / 25, cal["truth"], level=v) for v in levels
    ]
    assert (narrow < np.asarray(levels) - 0.3).all()  # over-confident intervals under-cover


def test_pca_2d_finds_the_dominant_direction():
    rng = np.random.default_rng(0)
    x = np.outer(rng.normal(size=200), [3.0, 0.0, 0.0]) + 0.1 * rng.normal(size=(200, 3))
    coords, explained = pca_2d(x)
    assert coords.shape == (200, 2) and explained[0] > 0.95
    assert abs(np.corrcoef(coords[:, 0], x[:, 0])[0, 1]) > 0.99
    assert pca_2d(np.ones((1, 4)))[0].tolist() == [[0.0, 0.0]]


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame({"rank": [1], "perturbation": ["A"], **cols})


def calib(mean=(0.0,), variance=(1.0,), truth=(0.0,)) -> dict:
    return {"mean": mean, "variance": variance, "truth": truth}


Z3 = np.zeros(3)
BAD = [
    ({"screen": [1, 2]}, TypeError, r"screen must be a pandas DataFrame of hits, not list"),
    ({"screen": frame()}, ValueError, r"screen lacks the column\(s\) \['score'\]"),
    ({"screen": frame(score=["hi"])}, ValueError, r"screen column 'score' must be numeric"),
    ({"calibration": [1, 2]}, TypeError, r"calibration must be a dict of arrays"),
    ({"calibration": {"mean": [1.0]}}, ValueError, r"calibration lacks \['variance', 'truth'\]"),
    (
        {"calibration": calib(Z3, np.ones(3), np.zeros(4))},
        ValueError,
        r"calibration arrays must have the same shape.*'truth': \(4,\)",
    ),
    ({"calibration": calib(variance=[-1.0])}, ValueError, r"\['variance'\] has negative values"),
    ({"calibration": calib(mean=["a"])}, TypeError, r"calibration\['mean'\] must be a numeric"),
    ({"design": [1, 2, 3]}, TypeError, r"design must be a non-empty dict"),
    ({"design": {"ucb": [3, 2]}}, ValueError, r"design\['ucb'\] decreases; pass the cumulative"),
    ({"design": {"ucb": [[1, 2]]}}, ValueError, r"design\['ucb'\] must be 1-D"),
    ({"heldout": "P1"}, TypeError, r"heldout must be a list of \(label, observed_delta"),
    ({"heldout": [("P1", Z3)]}, TypeError, r"heldout\[0\] must be a \(label, observed_delta, "),
    ({"heldout": [("P1", Z3, Z3)]}, TypeError, r"heldout\[0\] predictions must be a non-empty"),
    (
        {"heldout": [("P1", Z3, {"m": np.zeros(4)})]},
        ValueError,
        r"heldout\[0\]\['m'\] has shape \(4,\); the observed Δ has \(3,\)",
    ),
    ({"heldout": []}, ValueError, r"heldout is empty"),
    ({"benchmark": {"x": 1}}, TypeError, r"benchmark must be the dict of a run_benchmark JSON"),
    (
        {"benchmark": {"tasks": {"t": {"models": {"m": 3}}}}},
        ValueError,
        r"benchmark\['tasks'\]\['t'\] needs a 'models' mapping",
    ),
    ({"model": "model.pt"}, TypeError, r"model must be a fitted Compositional model, not str"),
    ({"adata": object()}, TypeError, r"adata must be an AnnData, not object"),
    ({"dose_response": ["P1"]}, ValueError, r"dose_response was given without model"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD)
def test_bad_inputs_name_the_argument(tmp_path, kwargs, error, message):
    path = tmp_path / "r.html"
    with pytest.raises(error, match=message):
        write_report(path, **kwargs)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_bad_inputs_that_need_a_model(tmp_path, data, model):
    adata, reg = data
    path = tmp_path / "r.html"
    with pytest.raises(ValueError, match=r"dose_response: 'P9' names \['P9'\], which the model"):
        write_report(path, model=model, dose_response=["P1", "P9"])
    with pytest.raises(TypeError, match=r"dose_response must be a list of perturbation names"):
        write_report(path, model=model, dose_response="P1")
    with pytest.raises(ValueError, match=r"dose_response: 'control' is the control"):
        write_report(path, model=model, dose_response=["control"])
    with pytest.raises(ValueError, match=r"adata does not match model.registry: .*missing"):
        write_report(path, model=model, adata=adata[:, 1:])
    with pytest.raises(ValueError, match=r"adata was given without model"):
        write_report(path, adata=adata)
    with pytest.raises(ValueError, match=r"model is not fitted"):
        write_report(path, model=Compositional(reg))
    assert not path.exists()


# ---------------------------------------------------------------------------- browser
def chromium_dump(page: Path, profile: Path) -> tuple[str, str]:
    """Load ``page`` in headless chromium: (dumped DOM, stderr log)."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip(
            "no chromium: install Debian's chromium package (apt-get install chromium) to run "
            "the headless-browser test"
        )
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def console_errors(log: str) -> list[str]:
    """Lines of chromium's log that carry a page's console message or uncaught exception.

    Chromium logs them as ``...:INFO:CONSOLE(1)] "Uncaught Error: x", source: ...`` (the log
    level is INFO even for console.error), so every console line counts: the report has no
    script and should print nothing.
    """
    return [ln for ln in log.splitlines() if re.search(r":CONSOLE[(:]|Uncaught", ln)]


def test_chromium_parses_the_report_without_console_errors(full_report, tmp_path):
    path, _ = full_report
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><html><body><p>x</p><script>console.error("boom");'
        'throw new Error("deliberate")</script></body></html>'
    )
    # negative control: the same check flags a page with a script error
    _, log = chromium_dump(broken, tmp_path / "profile-broken")
    flagged = console_errors(log)
    assert any("Uncaught" in ln and "deliberate" in ln for ln in flagged), log[-2000:]

    dom, log = chromium_dump(path, tmp_path / "profile")
    assert console_errors(log) == []
    assert set(re.findall(r'data-figure="([^"]+)"', dom)) == ALL_FIGURES
    srcs = re.findall(r'<img[^>]* src="([^"]{0,40})', dom)
    assert len(srcs) == len(ALL_FIGURES)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert '<section id="screen">' in dom and "&lt;script&gt;" in dom


def test_the_old_evaluate_names_still_work_with_a_warning_naming_the_new_home():
    import phenocast.evaluate
    import phenocast.report

    with pytest.warns(DeprecationWarning, match=r"moved to phenocast\.report\.write_report"):
        moved = phenocast.evaluate.write_report
    assert moved is phenocast.report.write_report
    with pytest.warns(DeprecationWarning, match=r"phenocast\.report\.run_demo"):
        from phenocast.evaluate import run_demo  # noqa: F401
