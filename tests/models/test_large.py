"""The compositional model on data on disk: streamed training, streamed basal means, predictions
written to a file block by block."""

from __future__ import annotations

import numpy as np
import pytest

import phenocast as pc

ARGS = dict(perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"])
KW = dict(n_genes=60, n_perturbations=4, cells_per_condition=20, output="counts", seed=2)


def _cfg(**train):
    return pc.models.CompositionalConfig.from_dict(
        {"train": {"max_epochs": 6, "block_rows": 128, **train}}
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("large") / "s.zarr"
    return pc.data.synthetic(**KW), pc.data.synthetic(**KW, out=path)


def test_streamed_fit_from_disk_matches_streaming_in_memory_and_learns(data):
    mem, disk = data
    on_disk = pc.models.Compositional(pc.data.register(disk, **ARGS), _cfg(data_path="stream"))
    on_disk.fit(disk)
    streamed = pc.models.Compositional(pc.data.register(mem, **ARGS), _cfg(data_path="stream"))
    streamed.fit(mem)
    dense = pc.models.Compositional(pc.data.register(mem, **ARGS), _cfg(data_path="memory"))
    dense.fit(mem)
    # the same blocks and seeds whether the matrix is on disk or in memory
    a, b = on_disk.history_.epochs, streamed.history_.epochs
    assert [e["val_loss"] for e in a] == pytest.approx([e["val_loss"] for e in b], rel=1e-5)
    # and it learns as well as the dense path: the loss falls and ends close to it
    assert a[-1]["val_loss"] < a[0]["val_loss"]
    assert a[-1]["val_loss"] == pytest.approx(dense.history_.epochs[-1]["val_loss"], rel=0.05)
    ctrl_means = on_disk._basal["contexts"]
    assert set(ctrl_means) == set(dense._basal["contexts"])


def test_auto_reads_a_small_matrix_on_disk_into_memory_and_streams_a_large_one(data, monkeypatch):
    from phenocast.models.compositional import _large

    mem, disk = data

    def losses(adata, **train):
        model = pc.models.Compositional(pc.data.register(adata, **ARGS), _cfg(**train))
        return [e["val_loss"] for e in model.fit(adata).history_.epochs]

    in_memory, streamed = losses(mem, data_path="memory"), losses(mem, data_path="stream")
    assert in_memory != pytest.approx(streamed, rel=1e-6)  # the two paths are told apart
    assert losses(disk) == pytest.approx(in_memory, rel=1e-5)  # small: read into memory
    monkeypatch.setattr(_large, "READ_IN_BYTES", 0)  # now too large to read in
    assert losses(disk) == pytest.approx(streamed, rel=1e-5)


def test_predict_to_file_equals_in_memory_predict(data, tmp_path):
    mem, disk = data
    model = pc.models.Compositional(pc.data.register(mem, **ARGS), _cfg(max_epochs=2)).fit(mem)
    controls = mem[mem.obs["perturbation"] == "control"]
    conds = mem.obs.loc[mem.obs["perturbation"] != "control", ["perturbation", "dose"]]
    conds = conds.drop_duplicates().iloc[:3].reset_index(drop=True)
    want = model.predict(controls, conds)
    got = model.predict(controls, conds, out=tmp_path / "p.h5ad")
    assert pc.data.is_on_disk(got)
    assert list(got.obs_names) == list(want.obs_names)
    np.testing.assert_allclose(got.X[:], want.X, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.layers["variance"][:], want.layers["variance"], rtol=1e-5)
    # start cells on disk, streamed in blocks
    disk_ctrl = pc.data.read(_controls_file(disk, tmp_path / "c.zarr"))
    again = model.predict(disk_ctrl, conds, out=tmp_path / "q.zarr")
    np.testing.assert_allclose(
        again.X[:], model.predict(disk_ctrl.to_memory(), conds).X, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        model.predict_mean(disk_ctrl, conds),
        model.predict_mean(disk_ctrl.to_memory(), conds),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(FileExistsError, match="overwrite"):
        model.predict(controls, conds, out=tmp_path / "p.h5ad")


def _controls_file(disk, path):
    import pandas as pd

    rows = np.flatnonzero(disk.obs["perturbation"].to_numpy() == "control")
    with pc.data.MatrixWriter(path, pd.DataFrame(index=disk.var_names), sparse=True) as w:
        w.append(pc.data.take_rows(disk.X, rows), disk.obs.iloc[rows])
        w.close()
    return path


def test_anchored_fit_on_a_backed_h5ad_matches_streaming_in_memory(tmp_path):
    mem = pc.data.synthetic(**KW)
    disk = pc.data.synthetic(**KW, out=tmp_path / "a.h5ad")
    assert disk.isbacked
    fits = []
    for data in (disk, mem):
        cfg = pc.models.CompositionalConfig.from_dict(
            {"anchor": "additive", "train": {"max_epochs": 3, "data_path": "stream"}}
        )
        fits.append(pc.models.Compositional(pc.data.register(data, **ARGS), cfg).fit(data))
    assert fits[0].anchor_.alpha == fits[1].anchor_.alpha
    assert fits[0].anchor_.scores == pytest.approx(fits[1].anchor_.scores, rel=1e-6)


def test_pseudobulk_of_some_rows_equals_pseudobulk_of_their_copy(data):
    mem, disk = data
    reg = pc.data.register(mem, **ARGS)
    rows = np.random.default_rng(0).random(mem.n_obs) < 0.6
    whole = pc.data.pseudobulk(mem[rows].copy(), reg)
    for source in (mem, disk):
        part = pc.data.pseudobulk(source, reg, rows=rows)
        assert part.groups[["condition", "context", "n_cells"]].equals(
            whole.groups[["condition", "context", "n_cells"]]
        )
        np.testing.assert_allclose(part.means, whole.means, rtol=1e-6)


def test_screen_takes_start_cells_on_disk(data, tmp_path):
    mem, _ = data
    model = pc.models.Compositional(pc.data.register(mem, **ARGS), _cfg(max_epochs=2)).fit(mem)
    backed = pc.data.synthetic(**KW, out=tmp_path / "s.h5ad")
    kw = dict(doses=[0.1, 1.0], top_k=5, n_cells=30)
    want = pc.screen.run(model, ["P0", "P1", "P2"], controls=mem, **kw)
    got = pc.screen.run(model, ["P0", "P1", "P2"], controls=backed, **kw)
    assert got.hits.equals(want.hits)
