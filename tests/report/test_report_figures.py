"""The report's figures and tables: every fold shown, the bars drawing the metric the table
leads with, fold spreads, one number format per column, no error bars from a constant
uncertainty, a hits table that scrolls, labels that do not overlap, legible legends."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from phenocast.evaluate import BenchmarkResult, Fold, ModelResult, QueryGroup, Task, TaskResult
from phenocast.plot import delta_scatter, dose_curves, latent_map, metric_bars
from phenocast.report import write_report
from phenocast.report._bench import benchmark_bars, lead_metric, markdown_tables, metric_label
from phenocast.report._demo import _figures, _heldout_panels, _task_panels

KANG_METRICS = ("r2", "pearson_delta")
FOLD_MEANS = "(each fold's mean over its held-out conditions)."
CELL_TYPES = ["B", "CD14 Mono", "CD16 Mono", "CD4 T", "CD8 T", "NK"]


def fake_task(name: str, folds: dict[str, list[str]], *, metrics=KANG_METRICS) -> TaskResult:
    """A task result with per-fold values and kept predictions: ``folds`` maps each fold to the
    labels of its held-out conditions. Model "good" beats "poor" on pearson_delta but loses on
    r2, so a chart of the wrong metric ranks them the other way round."""
    rng = np.random.default_rng(0)
    n_genes = 12
    fold_data, models = [], {m: ModelResult(m) for m in ("good", "poor", "noise-ceiling")}
    for f, (fold, labels) in enumerate(folds.items()):
        truth = rng.normal(size=(len(labels), n_genes))
        conditions = pd.DataFrame({"perturbation": ["stim"] * len(labels)}, index=labels)
        fold_data.append(
            Fold(fold, None, None, [QueryGroup(None, conditions, truth, np.zeros(12))])
        )
        for m, (r2, pd_) in {
            "good": (0.5, 0.9),
            "poor": (0.8, 0.3),
            "noise-ceiling": (0.95, 0.97),
        }.items():
            shift = 0.02 * f  # the folds differ, so they have a spread
            models[m].values.setdefault("r2", {})[fold] = {lab: r2 + shift for lab in labels}
            models[m].values.setdefault("pearson_delta", {})[fold] = {
                lab: pd_ - shift for lab in labels
            }
            if m != "noise-ceiling":
                models[m].predictions[fold] = [truth + 0.1 * rng.normal(size=truth.shape)]
    task = Task(name, "a fake task", metrics, (), lambda data_dir: [])
    n_cond = sum(map(len, folds.values()))
    return TaskResult(task, list(folds), n_cond, models, 0.0, fold_data)


def kang() -> TaskResult:
    return fake_task("kang-ood-celltype", {ct: [ct] for ct in CELL_TYPES})


# ---------------------------------------------------------------------------- folds
def test_a_task_with_six_folds_shows_one_panel_per_fold(tmp_path):
    panels = _task_panels(kang(), "pearson_delta", n_conditions=6)
    assert [title for title, _, _ in panels] == CELL_TYPES
    fig = delta_scatter(panels)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(CELL_TYPES)
    assert fig.axes[0].get_legend().get_texts()[0].get_text().startswith("good")  # best first
    # the demo's figure file and the page's panels too
    result = BenchmarkResult([kang()])
    assert len(_heldout_panels(result)) == len(CELL_TYPES)
    written = _figures(result, tmp_path)
    assert [p.name for p in written] == [
        "kang-ood-celltype_pearson_delta.png",
        "kang-ood-celltype_pred_vs_obs.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_panels_take_every_fold_before_a_second_condition_of_any():
    tr = fake_task("t", {"f1": ["a", "b", "c"], "f2": ["d", "e", "f"]})
    titles = [t for t, _, _ in _task_panels(tr, "pearson_delta", n_conditions=5, prefix="t: ")]
    assert titles == ["t: f1 · a", "t: f2 · d", "t: f1 · b", "t: f2 · e", "t: f1 · c"]
    many = fake_task("t", {f"f{i}": [f"c{i}", f"d{i}"] for i in range(8)})
    titles = [t for t, _, _ in _task_panels(many, "pearson_delta", n_conditions=3)]
    assert titles == [f"f{i} · c{i}" for i in range(8)]  # every fold, even past the cap
    one = fake_task("t", {"only": list("abcdefgh")})
    titles = [t for t, _, _ in _task_panels(one, "pearson_delta", n_conditions=6)]
    assert titles == list("abcdef")  # one fold: no fold name in the titles


# ---------------------------------------------------------------------------- benchmark
def test_the_bars_draw_the_metric_the_table_leads_with(tmp_path):
    info = BenchmarkResult([kang()]).to_dict()["tasks"]["kang-ood-celltype"]
    assert info["metrics"][0] == "r2" and lead_metric(info["metrics"]) == "pearson_delta"
    fig, metric = benchmark_bars("kang-ood-celltype", info)
    ax = fig.axes[0]
    assert metric == "pearson_delta" and ax.get_xlabel() == metric_label(metric)
    assert "pearson_delta" in ax.get_xlabel() and "Pearson" in ax.get_xlabel()
    widths = {
        t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    folds = np.array([0.9, 0.3])[:, None] - 0.02 * np.arange(6)
    np.testing.assert_allclose([widths["good"], widths["poor"]], folds.mean(1))
    # the error bars are the standard deviation across the six folds
    (bars,) = [c for c in ax.containers if hasattr(c, "errorbar")]
    segments = bars.errorbar.lines[2][0].get_segments()
    half = [abs(s[1][0] - s[0][0]) / 2 for s in segments]
    np.testing.assert_allclose(half, folds.std(1, ddof=1))

    text = write_report_text(tmp_path, BenchmarkResult([kang()]).to_dict())
    header = re.findall(r"<th>([^<]+)</th>", text)
    assert header[:3] == ["model", "pearson_delta ↑", "r2 ↑"]
    assert f"Mean {metric_label('pearson_delta')} per model on kang-ood-celltype" in text


def write_report_text(tmp_path, benchmark: dict) -> str:
    return write_report(tmp_path / "r.html", benchmark=benchmark).read_text()


def table_cells(text: str, name: str) -> list[list[str]]:
    """The body cells of the table ``data-table=name``, row by row."""
    table = re.search(rf'<table data-table="{name}">(.*?)</table>', text, re.S)
    assert table, name
    rows = re.findall(r"<tr[^>]*>((?:<td.*?</td>)+)</tr>", table.group(1))
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in rows]


def test_several_folds_show_mean_and_spread_and_one_fold_does_not(tmp_path):
    bench = BenchmarkResult([kang(), fake_task("one", {"only": ["a", "b"]})]).to_dict()
    text = write_report_text(tmp_path, bench)
    kang_rows = table_cells(text, "benchmark-kang-ood-celltype")
    good = next(r for r in kang_rows if r[0] == "good")
    folds = 0.9 - 0.02 * np.arange(6)
    assert good[1] == f"{folds.mean():.3f} ± {folds.std(ddof=1):.3f}"
    assert "Mean ± standard deviation across the 6 folds" in text
    assert "error bars are ± one standard deviation across the 6 folds" in text
    one = table_cells(text, "benchmark-one")
    assert all("±" not in cell for row in one for cell in row)
    assert one[0][1] == "0.900"
    # the demo's report.md: the same cells, lead metric first
    md = markdown_tables(bench).splitlines()
    assert "| model | pearson_delta ↑ | r2 ↑ | fit s | note |" in md
    assert any(ln.startswith(f"| good | **{good[1]}** | ") for ln in md)
    assert md.count(f"_Mean ± standard deviation across the 6 folds {FOLD_MEANS}_") == 1


def decimals(cell: str) -> str:
    """A number's format: digits after the point, and whether it is scientific."""
    m = re.fullmatch(r"-?\d+(?:\.(\d+))?(e[+-]\d+)?(?: ± .*)?", cell)
    assert m, cell
    return f"{len(m.group(1) or '')}{'e' if m.group(2) else ''}"


def test_every_number_column_has_one_format(tmp_path):
    bench = {
        "tasks": {
            "t": {
                "metrics": ["pearson_delta", "mse_top20_deg", "tiny"],
                "models": {
                    m: {"metrics": {"pearson_delta": p, "mse_top20_deg": e, "tiny": t}}
                    for m, p, e, t in [
                        ("a", 0.87, 0.0067, 1e-4),
                        ("b", 0.5, 0.12, 3.2e-3),
                        ("c", 1.0, 12.0, 5e-5),
                    ]
                },
            }
        }
    }
    rows = table_cells(write_report_text(tmp_path, bench), "benchmark-t")
    for col in range(1, 4):
        formats = {decimals(row[col]) for row in rows}
        assert len(formats) == 1, [row[col] for row in rows]
    assert [row[1] for row in rows] == ["0.870", "0.500", "1.000"]
    assert [row[3] for row in rows] == ["1.00e-04", "3.20e-03", "5.00e-05"]  # not 0.000

    rng = np.random.default_rng(0)
    screen = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "perturbation": ["A", "B", "C"],
            "score": [12.5, 3.25, 0.004],
            "effect": rng.normal(size=3) * [100, 1, 0.01],
        }
    )
    text = write_report(tmp_path / "s.html", screen=screen).read_text()
    hits = table_cells(text, "screen-hits")
    assert [row[0] for row in hits] == ["1", "2", "3"]  # integers stay integers
    for col in (2, 3):
        assert len({decimals(row[col]) for row in hits}) == 1, [row[col] for row in hits]


# ---------------------------------------------------------------------------- screen
def screen_frame(uncertainty) -> pd.DataFrame:
    n = len(uncertainty)
    return pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "perturbation": ["GENE" * 15 + f"+B{i}" for i in range(n)],
            "score": np.linspace(3.0, 1.0, n),
            "uncertainty": uncertainty,
        }
    )


@pytest.fixture
def drawn_errors(monkeypatch):
    """The ``errors`` each call of the report's screen_bars received."""
    import phenocast.plot

    calls = []
    original = phenocast.plot.screen_bars

    def spy(*args, **kwargs):
        calls.append(kwargs.get("errors"))
        return original(*args, **kwargs)

    monkeypatch.setattr(phenocast.plot, "screen_bars", spy)
    return calls


def test_a_constant_uncertainty_draws_no_error_bars_and_says_why(tmp_path, drawn_errors):
    text = write_report(tmp_path / "c.html", screen=screen_frame(np.full(8, 0.0123))).read_text()
    assert drawn_errors == [None]
    assert "error bars are the predicted uncertainty" not in text
    assert "a single model has no uncertainty estimate" in text
    assert "ensemble" in text and "phenocast.models.Ensemble" in text

    varying = np.linspace(0.1, 0.3, 8)
    text = write_report(tmp_path / "v.html", screen=screen_frame(varying)).read_text()
    np.testing.assert_allclose(drawn_errors[1], varying)
    assert "error bars are the predicted uncertainty" in text
    assert "no uncertainty estimate" not in text


def test_the_hits_table_scrolls_and_cuts_long_names_keeping_them_as_a_tooltip(tmp_path):
    frame = screen_frame(np.linspace(0.1, 0.3, 3))
    text = write_report(tmp_path / "r.html", screen=frame).read_text()
    assert re.search(r"\.table-scroll\{[^}]*overflow-x:auto", text)
    assert '<div class="table-scroll"><table data-table="screen-hits">' in text
    full = frame["perturbation"][0]
    cell = re.search(rf'<td class="cut" title="{re.escape(full)}">([^<]+)</td>', text)
    assert cell and cell.group(1).endswith("…") and len(cell.group(1)) == 40
    assert f">{full}<" not in text  # the full name only in the tooltip


# ---------------------------------------------------------------------------- labels, legends
def text_boxes(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    return [t.get_window_extent(renderer) for t in ax.texts], ax.get_window_extent(renderer)


def test_embedding_labels_do_not_overlap():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(150, 6)), 0.05 * rng.normal(size=(150, 6))])  # a dense core
    labels = [f"PERTURBATION_{i}" for i in range(300)]
    fig = latent_map(x, labels=labels, max_labels=30)
    boxes, frame = text_boxes(fig)
    assert 10 <= len(boxes) <= 30
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
        assert box.y1 <= frame.y1
    # the farthest point from the centre is labelled
    from phenocast.plot import pca_2d

    far = labels[int(np.argmax(np.linalg.norm(pca_2d(x)[0], axis=1)))]
    assert far in {t.get_text() for t in fig.axes[0].texts}


def test_legends_are_legible():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=20)
    figs = [
        delta_scatter([("a", obs, {"m1": obs, "m2": -obs})] * 4),
        metric_bars({"a": 0.5, "b": 0.7}, metric="r2", ceiling=0.9),
        latent_map(rng.normal(size=(40, 3)), groups=["x", "y"] * 20),
        dose_curves([("p", np.array([0.1, 1.0, 10.0]), rng.normal(size=(3, 5)), list("abcde"))]),
    ]
    for fig in figs:
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert legends
        sizes = {t.get_fontsize() for leg in legends for t in leg.get_texts()}
        assert min(sizes) >= 8, sizes
