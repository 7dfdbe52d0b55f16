"""Every dataset loader on a miniature the test builds in the official format (with the known traps),
run through prepare -> one training epoch -> evaluate with the pipeline's own code; archives,
checksums, the download command over file://, and `python -m dsah.cli.data check`."""
import dataclasses
import hashlib
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from dsah import config
from dsah.data import records, sources
from dsah.cli.data import main as data_cli
from dsah.data.records import DatasetError
from dsah.paths import Layout
from dsah.stages import evaluate, prepare
from dsah.stages import train as train_stage

from tests.conftest import ROOT


def _img(path: Path, colour, size=(12, 10), fmt=None, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, tuple(int(c) for c in colour)).convert(mode).save(path, format=fmt)


def _colour(c: int, k: int):
    return ((37 * c) % 256, (91 * c + 40) % 256, (17 * k + 60 * c) % 256)


def _tar(src: Path, archive: Path, arcnames: list[str]):
    with tarfile.open(archive, "w:gz" if archive.name.endswith((".tgz", ".gz")) else "w") as t:
        for name in arcnames:
            t.add(src / name, arcname=name)
    return archive


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- miniatures in the official formats


def mini_dogs(top: Path) -> Path:
    """3 breeds x 4 images; one PNG saved as .jpg; 1-based labels in lists .mat; VOC XML annotations."""
    breeds = ["n02085620-Chihuahua", "n02105855-Shetland_sheepdog", "n02113799-standard_poodle"]
    train, test = [], []
    for c, b in enumerate(breeds):
        for k in range(4):
            rel = f"{b}/{b.split('-')[0]}_{k}.jpg"
            png = b.endswith("sheepdog") and k == 0  # the PNG named .jpg (RGBA, like n02105855_2933.jpg)
            _img(top / "Images" / rel, _colour(c, k), fmt="PNG" if png else None, mode="RGBA" if png else "RGB")
            (train if k < 3 else test).append((rel, c + 1))
            xml = top / "Annotation" / rel[:-4]
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_text(f"<annotation><size><width>12</width><height>10</height></size><object><bndbox>"
                           f"<xmin>{k}</xmin><ymin>1</ymin><xmax>{k + 6}</xmax><ymax>8</ymax></bndbox></object>"
                           "</annotation>")
    for name, rows in (("train_list.mat", train), ("test_list.mat", test), ("file_list.mat", train + test)):
        savemat(top / name, {"file_list": np.array([[r] for r, _ in rows], dtype=object),
                             "annotation_list": np.array([[r[:-4]] for r, _ in rows], dtype=object),
                             "labels": np.array([[float(lab)] for _, lab in rows])})
    return top


def mini_flowers102(top: Path) -> Path:
    labels = np.array([3, 1, 2, 1, 2, 3, 1, 2, 3, 3, 1, 2])  # 1-based, as in imagelabels.mat
    for i, lab in enumerate(labels, 1):
        _img(top / "jpg" / f"image_{i:05d}.jpg", _colour(lab, i))
    savemat(top / "imagelabels.mat", {"labels": labels[None, :].astype(np.uint8)})
    savemat(top / "setid.mat", {"trnid": np.array([[2, 3, 1]]), "valid": np.array([[5, 9, 12]]),
                                "tstid": np.array([[4, 6, 7, 8, 10, 11]])})
    return top


def mini_flowers17(top: Path) -> Path:
    n = 2 * 80  # two classes of 80: the label is (i - 1) // 80
    for i in range(1, n + 1):
        _img(top / "jpg" / f"image_{i:04d}.jpg", _colour((i - 1) // 80, i), size=(6, 6))
    splits = {}
    for s in (1, 2, 3):
        rng = np.random.default_rng(s)
        perm = [rng.permutation(np.arange(1, 81)) + 80 * c for c in range(2)]
        splits[f"trn{s}"] = np.concatenate([p[:40] for p in perm])[None]
        splits[f"val{s}"] = np.concatenate([p[40:60] for p in perm])[None]
        splits[f"tst{s}"] = np.concatenate([p[60:] for p in perm])[None]
    savemat(top / "datasplits.mat", splits)
    return top


def mini_cifar(top: Path, per_batch: int = 20) -> Path:
    """5 training batches + test batch of channel-first rows: R plane = 10 x class, G = 200, B = 0."""
    base = top / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.permutation(np.arange(per_batch) % 10).tolist()
        data = np.zeros((per_batch, 3072), dtype=np.uint8)
        for r, lab in enumerate(labels):
            data[r, :1024] = 10 * lab + 5
            data[r, 1024:2048] = 200
        with open(base / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{name}_{r}.png" for r in range(per_batch)]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"], "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return top


def mini_nuswide(top: Path) -> Path:
    """30 images with 21-dim multi-hot labels; lists with absolute author paths (HashNet style) for test."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(30):
        lab = np.zeros(21, dtype=int)
        lab[rng.choice(21, size=1 + i % 2, replace=False)] = 1
        lab[i % 3] = 1  # three frequent concepts, so that queries find relevant items
        rel = f"images/{i:04d}_{1000 + i}.jpg"
        _img(top / rel, _colour(i % 3, i))
        rows.append((rel, lab))

    def write(name, idx, absolute=False):
        prefix = "/home/author/nus_wide/" if absolute else ""
        (top / name).write_text("".join(f"{prefix}{rows[i][0]} {' '.join(map(str, rows[i][1]))}\n" for i in idx))

    write("test.txt", range(0, 6), absolute=True)
    write("database.txt", range(6, 30))
    write("train.txt", range(6, 24))
    return top


def mini_folder(top: Path, split: bool) -> Path:
    for c, name in enumerate(["alpha", "beta", "gamma"]):
        for k in range(5):
            sub = (("train" if k < 4 else "test") + "/") if split else ""
            _img(top / f"{sub}{name}/img_{k}.png", _colour(c, k))
    return top


def mini_cub(top: Path) -> Path:
    """Minimal CUB with unsorted images.txt and the stray top-level attributes.txt."""
    root = top / "CUB_200_2011"
    (top / "attributes.txt").parent.mkdir(parents=True, exist_ok=True)
    (top / "attributes.txt").write_text("1 has_bill_shape::dagger\n")
    ids = [5, 2, 6, 1, 4, 3]
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    lines = {i: f"{classes[(i - 1) % 2]}/img_{i}.jpg" for i in ids}
    for i in ids:
        _img(root / "images" / lines[i], _colour((i - 1) % 2, i))
    (root / "images.txt").write_text("".join(f"{i} {lines[i]}\n" for i in ids))
    (root / "image_class_labels.txt").write_text("".join(f"{i} {(i - 1) % 2 + 1}\n" for i in ids))
    (root / "train_test_split.txt").write_text("".join(f"{i} {int(i <= 4)}\n" for i in ids))
    (root / "classes.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(classes)))
    (root / "bounding_boxes.txt").write_text("".join(f"{i} 1.0 1.0 8.0 6.0\n" for i in ids))
    return top


# ---------------------------------------------------------------- the pipeline on each miniature


def _params(name: str, root: Path, **data) -> config.Params:
    raw = config.read(ROOT / "profiles" / "fast.yaml")
    raw["data"] = {"name": name, "root": str(root), "image_size": 24, **data}
    raw["methods"], raw["attention_methods"], raw["bits"] = ["hash_only"], [], [12]
    raw["train"]["epochs"] = 1
    raw["eval"]["top_k"], raw["eval"]["precision_at"] = [5], [5]
    return config.parse(raw)


def _pipeline(tmp_path: Path, params: config.Params) -> dict:
    layout = Layout(tmp_path / "work")
    prep = prepare.run(params, layout, log=lambda s: None)
    train_stage.run(params, layout, "hash_only", 12)
    row = evaluate.run(params, layout, "hash_only", 12, prep)
    assert 0 <= row["map_all"] <= 1 and row["map_lower"] <= row["map_tie_aware"] <= row["map_upper"]
    assert row["num_queries"] == len(prep.test) and row["num_database"] == len(prep.db)
    return {"prep": prep, "row": row}


def test_stanford_dogs(tmp_path):
    top = mini_dogs(tmp_path / "dogs")
    rec = sources.load("stanford_dogs", top, _params("stanford_dogs", top).data)
    assert rec.counts() | {"protocol": ""} == {"images": 12, "classes": 3, "train": 9, "query": 3, "database": 9,
                                               "multilabel": False, "protocol": ""}
    assert rec.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2]  # 1-based in the .mat files
    assert rec.class_names == ["Chihuahua", "Shetland_sheepdog", "standard_poodle"]
    assert rec.boxes[1].tolist() == [1.0, 1.0, 6.0, 7.0]  # xmin, ymin, xmax, ymax -> x, y, w, h
    out = _pipeline(tmp_path, _params("stanford_dogs", top))
    png = [n for n, p in enumerate(rec.paths) if p.name == "n02105855_0.jpg"][0]
    assert out["prep"].train.images[png].shape == (3, 24, 24)  # the PNG named .jpg decoded, RGBA -> RGB


def test_flowers102(tmp_path):
    top = mini_flowers102(tmp_path / "f102")
    rec = sources.load("flowers102", top, _params("flowers102", top).data)
    assert rec.ids[rec.train].tolist() == [1, 2, 3, 5, 9, 12] and rec.ids[rec.query].tolist() == [4, 6, 7, 8, 10, 11]
    assert rec.labels[rec.ids == 1].tolist() == [2]  # imagelabels.mat is 1-based: 3 -> class 2
    assert rec.paths[0].name == "image_00001.jpg" and len(rec.class_names) == 3
    _pipeline(tmp_path, _params("flowers102", top))


def test_flowers17_splits(tmp_path):
    top = mini_flowers17(tmp_path / "f17")
    for split in (1, 2):
        rec = sources.load("flowers17", top, _params("flowers17", top, flowers17_split=split).data)
        assert rec.counts()["train"] == 120 and rec.counts()["query"] == 40
        assert (rec.labels == (rec.ids - 1) // 80).all() and rec.class_names == ["Daffodil", "Snowdrop"]
    _pipeline(tmp_path, _params("flowers17", top, flowers17_split=3))


def test_cifar10_protocols_and_channel_first_rows(tmp_path):
    top = mini_cifar(tmp_path / "cifar", per_batch=40)
    dpsh = sources.load("cifar10", top, _params("cifar10", top, protocol="dpsh", query_per_class=2,
                                                train_per_class=5).data)
    c = dpsh.counts()
    assert (c["images"], c["query"], c["database"], c["train"]) == (240, 20, 220, 50)
    assert not (dpsh.query & dpsh.database).any() and (dpsh.train <= dpsh.database).all()
    assert (dpsh.pixels[:, 0, 0, 0] == 10 * dpsh.labels + 5).all() and (dpsh.pixels[..., 1] == 200).all()
    assert dpsh.class_names[9] == "truck"
    official = sources.load("cifar10", top, _params("cifar10", top, protocol="official").data).counts()
    assert (official["query"], official["database"], official["train"]) == (40, 200, 200)
    out = _pipeline(tmp_path, _params("cifar10", top, protocol="dpsh", query_per_class=2, train_per_class=5))
    assert len(out["prep"].train) == 50 and len(out["prep"].db) == 220  # database stored apart
    with pytest.raises(DatasetError, match="fewer than query_per_class \\+ train_per_class = 30"):
        sources.load("cifar10", top, _params("cifar10", top, protocol="dpsh", query_per_class=10,
                                             train_per_class=20).data)


def test_nuswide_multilabel(tmp_path):
    top = mini_nuswide(tmp_path / "nus")
    rec = sources.load("nuswide21", top, _params("nuswide21", top).data)
    c = rec.counts()
    assert (c["images"], c["query"], c["database"], c["train"], c["multilabel"]) == (30, 6, 24, 18, True)
    assert rec.paths[np.flatnonzero(rec.query)[0]] == top / "images" / "0000_1000.jpg"  # author path rewritten
    assert rec.labels.shape == (30, 21)
    out = _pipeline(tmp_path, _params("nuswide21", top))
    from dsah import metrics

    rel = metrics.relevance(out["prep"].test.labels, out["prep"].db.labels)  # shared concept
    assert rel.sum() > 0 and out["row"]["queries_without_relevant"] == int((rel.sum(axis=1) == 0).sum())


@pytest.mark.parametrize("split", [True, False])
def test_image_folder(tmp_path, split):
    top = mini_folder(tmp_path / "mine", split)
    rec = sources.load("folder", top, _params("folder", top, test_share=0.4).data)
    assert rec.class_names == ["alpha", "beta", "gamma"] and rec.counts()["images"] == 15
    assert rec.counts()["query"] == (3 if split else 6)
    _pipeline(tmp_path, _params("folder", top))


def test_cub_archive_checksums_and_extraction(tmp_path, monkeypatch):
    src = mini_cub(tmp_path / "src")
    raw = tmp_path / "raw"
    raw.mkdir()
    archive = _tar(src, raw / "CUB_200_2011.tgz", ["attributes.txt", "CUB_200_2011"])
    params = _params("cub200", raw)
    # the official checksums do not match a miniature: refused, nothing extracted
    with pytest.raises(DatasetError, match=r"CUB_200_2011.tgz: .*bytes, but the official CUB_200_2011.tgz has "
                                           r"1,150,585,339: the file is truncated or another version"):
        sources.load("cub200", raw, params.data)
    assert not (raw / sources.EXTRACTED).exists()
    official = sources.SOURCES["cub200"]
    mini = dataclasses.replace(official.files[0], size=None, md5=_md5(archive), sha256=None)
    monkeypatch.setitem(sources.SOURCES, "cub200", dataclasses.replace(official, files=(mini,)))
    rec = sources.load("cub200", archive, params.data)  # the archive itself as data.root
    assert rec.ids.tolist() == [1, 2, 3, 4, 5, 6] and rec.root == raw / "extracted" / "CUB_200_2011"
    assert sources.load("cub200", raw, params.data).root == rec.root  # reused: checksums unchanged
    _pipeline(tmp_path, _params("cub200", archive))
    # a truncated archive with a matching (patched) checksum: the tar reader refuses it
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    trunc = dataclasses.replace(mini, md5=_md5(archive))
    monkeypatch.setitem(sources.SOURCES, "cub200", dataclasses.replace(official, files=(trunc,)))
    before = sorted(p.name for p in raw.iterdir())
    with pytest.raises(DatasetError, match=r"CUB_200_2011.tgz: truncated or corrupt archive .*nothing was extracted"):
        sources.load("cub200", raw, params.data)
    assert sorted(p.name for p in raw.iterdir()) == before  # the previous extraction is untouched
    # a changed archive with the wrong checksum
    monkeypatch.setitem(sources.SOURCES, "cub200", dataclasses.replace(official, files=(mini,)))
    with pytest.raises(DatasetError, match=r"md5 [0-9a-f]{32}, but the official CUB_200_2011.tgz has [0-9a-f]{32}"):
        sources.load("cub200", raw, params.data)


def test_missing_data_names_url_checksum_and_path(tmp_path):
    with pytest.raises(DatasetError) as err:
        sources.load("cub200", tmp_path / "raw" / "cub200", _params("cub200", tmp_path).data)
    msg = str(err.value)
    assert "CUB-200-2011: no data at" in msg and "CUB_200_2011.tgz" in msg
    assert "md5 97eceeb196236b17998738112f37df78" in msg and "https://data.caltech.edu/" in msg
    assert "python -m dsah.cli.data download cub200" in msg
    with pytest.raises(DatasetError, match=r"Stanford Dogs: no data at .*lists.tar: http://vision.stanford.edu"):
        (tmp_path / "dogs").mkdir()
        sources.load("stanford_dogs", tmp_path / "dogs", _params("stanford_dogs", tmp_path).data)


def test_unreadable_image_names_the_file(tmp_path):
    top = mini_flowers102(tmp_path / "f102")
    (top / "jpg" / "image_00004.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    layout = Layout(tmp_path / "work")
    with pytest.raises(DatasetError, match=r"image_00004.jpg: unreadable image"):
        prepare.run(_params("flowers102", top), layout, log=lambda s: None)
    assert not layout.tensors.exists()


def test_check_command(tmp_path, capsys):
    top = mini_cifar(tmp_path / "cifar")
    assert data_cli(["check", "cifar10", "--root", str(top), "--set", "protocol=official"]) == 0
    out = capsys.readouterr().out
    assert "images       120" in out and "query        20" in out and "database     100" in out
    (top / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert data_cli(["check", "cifar10", "--root", str(top), "--set", "protocol=official"]) == 1
    assert "missing data_batch_3" in capsys.readouterr().err
    assert data_cli(["check", "flowers17", "--root", str(tmp_path / "none")]) == 1
    assert "Oxford Flowers-17: no data at" in capsys.readouterr().err


def test_download_over_file_url(tmp_path, capsys):
    src = mini_cub(tmp_path / "src")
    archive = _tar(src, tmp_path / "CUB_200_2011.tgz", ["attributes.txt", "CUB_200_2011"])
    dest = tmp_path / "raw"
    # without a checksum for the mirror, the official one applies: refused, nothing left behind
    assert data_cli(["download", "cub200", "--dest", str(dest), "--url", archive.as_uri()]) == 1
    assert "but the official CUB_200_2011.tgz has" in capsys.readouterr().err
    assert not (dest / "cub200" / "CUB_200_2011.tgz").exists()
    assert data_cli(["download", "cub200", "--dest", str(dest), "--url", archive.as_uri(), "--md5", _md5(archive)]) == 0
    assert (dest / "cub200" / "extracted" / "CUB_200_2011" / "images.txt").is_file()
    assert data_cli(["check", "cub200", "--root", str(dest / "cub200" / "extracted")]) == 0


def test_records_reject_empty_sets_and_first_label():
    with pytest.raises(DatasetError, match="the query set of this protocol is empty"):
        records.split_sets(Path("x"), np.ones(3, bool), ids=np.arange(3), paths=[Path("a")] * 3,
                           labels=np.zeros(3, int), class_names=["a"])
    assert records.first_label(np.array([[0, 1, 1], [0, 0, 0]])).tolist() == [1, -1]


def test_check_decodes_every_image_and_lists_each_bad_one(tmp_path, capsys):
    from PIL import Image

    top = mini_folder(tmp_path / "mine", split=True)
    assert data_cli(["check", "folder", "--root", str(top)]) == 0
    assert "decoded      15 of 15" in capsys.readouterr().out
    truncated, fake = top / "train" / "alpha" / "cut.jpg", top / "test" / "beta" / "x.jpg"
    Image.effect_noise((64, 64), 60).convert("RGB").save(truncated, quality=95)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])  # a download cut short
    fake.write_text("not an image, only named like one\n")
    assert data_cli(["check", "folder", "--root", str(top), "--workers", "2"]) == 1
    captured = capsys.readouterr()
    assert "images       17" in captured.out and "decoded      15 of 17" in captured.out
    assert f"{truncated}: unreadable (" in captured.err and f"{fake}: not an image PIL can identify" in captured.err
    assert "error: 2 of 17 images under" in captured.err
    assert data_cli(["check", "folder", "--root", str(top), "--no-decode"]) == 0


# ---------------------------------------------------------------- class subsets and the high-resolution copy


def test_readable_class_names():
    assert records.readable_class("n02085620-Chihuahua") == "Chihuahua"
    assert records.readable_class("n02105855-Shetland_sheepdog") == "Shetland sheepdog"
    assert records.readable_class("001.Black_footed_Albatross") == "Black footed Albatross"
    assert records.readable_class("alpha") == "alpha"


@pytest.mark.parametrize("classes, names", [(2, ["alpha", "beta"]), (["gamma", "alpha"], ["gamma", "alpha"])])
def test_class_subset_of_an_image_folder(tmp_path, classes, names):
    top = mini_folder(tmp_path / "mine", True)
    params = _params("folder", top, classes=classes)
    prep = _pipeline(tmp_path, params)["prep"]
    assert prep.meta["class_names"] == names  # in the order asked for, renumbered 0..n-1
    assert sorted(set(prep.train.labels.tolist())) == [0, 1] and len(prep.train) == 8 and len(prep.test) == 2
    colours = {tuple(prep.train.images[i, :, 0, 0]) for i in np.flatnonzero(prep.train.labels == 0)}
    first = ["alpha", "beta", "gamma"].index(names[0])
    assert colours == {tuple(int(v) for v in _colour(first, k)) for k in range(4)}  # the right images kept


def test_class_subsets_of_official_loaders(tmp_path):
    top = mini_dogs(tmp_path / "dogs")
    rec = records.select_classes(sources.load("stanford_dogs", top, _params("stanford_dogs", top).data),
                                 ["standard poodle", "Chihuahua"])  # readable names work too
    assert rec.class_names == ["standard_poodle", "Chihuahua"] and rec.labels.tolist() == [1, 1, 1, 0, 0, 0, 1, 0]
    assert np.isfinite(rec.boxes).all() and "2 of its 3 classes" in rec.protocol
    cub_top = mini_cub(tmp_path / "cub")
    cub_rec = records.select_classes(sources.load("cub200", cub_top, _params("cub200", cub_top).data), 1)
    assert cub_rec.class_names == ["001.Black_footed_Albatross"] and set(cub_rec.labels.tolist()) == {0}
    assert cub_rec.part_locs.shape[0] == len(cub_rec)


def test_class_subset_errors_name_the_value(tmp_path):
    top = mini_folder(tmp_path / "mine", True)
    rec = sources.load("folder", top, _params("folder", top).data)
    with pytest.raises(DatasetError, match="data.classes = 5: the dataset has only 3 classes"):
        records.select_classes(rec, 5)
    with pytest.raises(DatasetError, match="no class named 'delta'.*alpha, beta, gamma"):
        records.select_classes(rec, ["alpha", "delta"])
    with pytest.raises(config.ConfigError, match="data.classes = 1: .*at least 2 classes"):
        _params("folder", top, classes=1)
    with pytest.raises(config.ConfigError, match="data.classes.*at least 2 distinct class names"):
        _params("folder", top, classes=["alpha", "alpha"])
    nus = mini_nuswide(tmp_path / "nus")
    with pytest.raises(DatasetError, match="single-label"):
        records.select_classes(sources.load("nuswide21", nus, _params("nuswide21", nus).data), 2)


def test_the_high_resolution_copy_has_the_view_field_of_view(tmp_path):
    """data.hires_size: the centre image_size crop of the store_size image, stored again at hires_size from
    the source pixels; its plain resize to image_size is the view (up to resampling)."""
    import torch
    import torch.nn.functional as F

    top = tmp_path / "grad"
    yy, xx = np.mgrid[0:90, 0:120]  # a smooth 120 x 90 (landscape) gradient per class
    for c, name in enumerate(["a", "b"]):
        for k in range(3):
            arr = np.stack([(xx * 2 + 40 * c) % 256, (yy * 2 + 30 * k) % 256, (xx + yy) % 256], -1).astype(np.uint8)
            (top / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(top / name / f"{k}.png")
    params = _params("folder", top, image_size=32, store_size=40, hires_size=64, test_share=0.34)
    prep = prepare.run(params, Layout(tmp_path / "work"), log=lambda s: None)
    assert prep.train.hires.shape == (len(prep.train), 3, 64, 64) and prep.meta["hires_size"] == 64
    view = torch.from_numpy(np.array(prep.test.images)).float()
    small = F.interpolate(torch.from_numpy(np.array(prep.test.hires)).float(), size=32, mode="bilinear",
                          antialias=True, align_corners=False)
    assert (small - view).abs().mean() < 2.0  # same field of view
    assert (small[..., 2:] - view[..., :-2]).abs().mean() > 4 * (small - view).abs().mean()  # a 2-px shift is not
    from dsah.data.prepared import holdout as holdout_split

    train, val = holdout_split(prep, 0.5).train, holdout_split(prep, 0.5).test
    assert train.hires.shape[0] == len(train) and val.hires.shape[0] == len(val)
