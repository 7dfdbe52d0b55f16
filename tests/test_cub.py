"""The CUB-200-2011 loader on a hand-written miniature in the official layout."""
import numpy as np
import pytest
from PIL import Image

from dsah.data import cub, prepared
from dsah.data.cub import DatasetError


@pytest.fixture
def mini_cub(tmp_path):
    """Three classes, five images; images.txt deliberately not in id or file order; stray attributes.txt."""
    top = tmp_path / "extracted"
    root = top / "CUB_200_2011"
    (root / "parts").mkdir(parents=True)
    (top / "attributes.txt").write_text("1 has_bill_shape::dagger\n2 has_bill_shape::hooked\n")
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    files = {  # id -> (relative path, class id, is_train, colour, size)
        4: ("002.Laysan_Albatross/Laysan_0002.jpg", 2, 1, (0, 255, 0), (40, 20)),
        1: ("001.Black_footed_Albatross/Black_0046.jpg", 1, 1, (255, 0, 0), (20, 20)),
        5: ("003.Sooty_Albatross/Sooty_0001.png", 3, 0, (0, 0, 255), (20, 40)),
        2: ("001.Black_footed_Albatross/Black_0009.jpg", 1, 0, (250, 0, 0), (20, 20)),
        3: ("002.Laysan_Albatross/Laysan_0001.jpg", 2, 0, (0, 250, 0), (20, 20)),
    }
    for rel, _, _, colour, size in files.values():
        (root / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        mode = "L" if rel.endswith("Black_0009.jpg") else "RGB"  # CUB holds a few grayscale images
        img = Image.new("RGB", size, colour).convert(mode)
        img.save(root / "images" / rel)
    order = [4, 1, 5, 2, 3]
    (root / "images.txt").write_text("".join(f"{i} {files[i][0]}\n" for i in order))
    (root / "image_class_labels.txt").write_text("".join(f"{i} {files[i][1]}\n" for i in sorted(files)))
    (root / "train_test_split.txt").write_text("".join(f"{i} {files[i][2]}\n" for i in reversed(sorted(files))))
    (root / "classes.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(classes)))
    (root / "bounding_boxes.txt").write_text("".join(f"{i} {i}.0 2.0 10.0 8.0\n" for i in order))
    (root / "parts" / "parts.txt").write_text("1 back\n2 beak\n")
    (root / "parts" / "part_locs.txt").write_text(
        "".join(f"{i} {p} {10.0 * p} {float(i)} {int(p == 1)}\n" for i in order for p in (1, 2))
    )
    return top, files


def test_joins_on_image_id_not_line_order(mini_cub):
    top, files = mini_cub
    rec = cub.load(top)  # the folder above CUB_200_2011, with the stray attributes.txt
    assert rec.root.name == "CUB_200_2011"
    assert rec.ids.tolist() == [1, 2, 3, 4, 5]
    for n, i in enumerate(rec.ids):
        rel, cls, train, *_ = files[int(i)]
        assert rec.paths[n] == rec.root / "images" / rel
        assert rec.labels[n] == cls - 1  # 1-based in the files, 0-based here
        assert rec.train[n] == bool(train) and rec.query[n] != bool(train)
        assert rec.boxes[n].tolist() == [float(i), 2.0, 10.0, 8.0]
        assert rec.part_locs[n, 1].tolist() == [20.0, float(i), 0.0]
    assert rec.class_names[1] == "002.Laysan_Albatross"
    assert rec.part_names == ["back", "beak"]


def test_prepared_splits_follow_the_split_file(mini_cub):
    top, files = mini_cub
    prep = prepared.from_records(cub.load(top / "CUB_200_2011"), 16, "cub200")
    assert prep.train.ids.tolist() == [1, 4] and prep.test.ids.tolist() == [2, 3, 5]
    assert prep.train.images.shape == (2, 3, 16, 16) and prep.train.images.dtype == np.uint8
    assert prep.test.images[0].std(axis=0).max() == 0  # the grayscale image became 3 equal channels
    # Image 4 is 40 x 20: its shorter side becomes 16 (x 0.8, 32 x 16), then the centre 16 x 16 (x from 8):
    # aspect kept, boxes and parts mapped alike, the box clipped to what is left of it (x 4..14 -> -4.8..3.2).
    assert prep.train.boxes[1].tolist() == pytest.approx([0, 2 * 0.8, 4 * 0.8 - 8 + 10 * 0.8, 8 * 0.8])
    assert prep.train.parts[1, 0, :2].tolist() == pytest.approx([10 * 0.8 - 8, 4 * 0.8])
    # Mean colour: one red and one green training image.
    assert prep.meta["mean"][2] == pytest.approx(0.0, abs=0.02)


def test_round_trip_through_the_prepared_folder(mini_cub, tmp_path):
    top, _ = mini_cub
    prep = prepared.from_records(cub.load(top), 16, "cub200")
    prepared.save(prep, tmp_path / "prepared")
    back = prepared.load(tmp_path / "prepared")
    assert np.array_equal(back.test.images, prep.test.images)
    assert back.meta == prep.meta


def test_missing_root_says_where_to_put_the_files(tmp_path):
    with pytest.raises(DatasetError, match=r"extract CUB_200_2011.tgz so that .*CUB_200_2011/images.txt exists"):
        cub.load(tmp_path)


def test_missing_label_line_names_the_file(mini_cub):
    top, _ = mini_cub
    f = top / "CUB_200_2011" / "image_class_labels.txt"
    f.write_text("\n".join(f.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DatasetError, match=r"image_class_labels.txt: no line for image id\(s\) \[5\]"):
        cub.load(top)


def test_bad_line_names_file_and_line(mini_cub):
    top, _ = mini_cub
    f = top / "CUB_200_2011" / "train_test_split.txt"
    f.write_text(f.read_text() + "6 yes\n")
    with pytest.raises(DatasetError, match=r"train_test_split.txt:6: cannot parse '6 yes'"):
        cub.load(top)


def test_missing_and_unreadable_images_name_the_file(mini_cub):
    top, files = mini_cub
    root = top / "CUB_200_2011"
    (root / "images" / files[5][0]).write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"Sooty_0001.png: unreadable image"):
        prepared.from_records(cub.load(top), 16, "cub200")
    (root / "images" / files[5][0]).unlink()
    with pytest.raises(DatasetError, match=r"Sooty_0001.png: image listed in the dataset.s index is missing"):
        prepared.from_records(cub.load(top), 16, "cub200")


def test_pointing_game_on_cub_parts(mini_cub, fast_params):
    """CUB's parts are points: scored inside squares of eval.part_box x the image side, visible parts only."""
    import torch

    from dsah.saliency import part_masks
    from dsah.stages.evaluate import part_side, saliency_scores

    top, _ = mini_cub
    prep = prepared.from_records(cub.load(top), 16, "cub200")
    assert prep.meta["part_size"] is None and part_side(prep, fast_params) == 0.125 * 16

    class PeakAt:  # a "method" whose map peaks at one pixel
        device = torch.device("cpu")
        uses_attention = True

        def __init__(self, row, col):
            self.row, self.col = row, col

        def input_stats(self, meta):
            return meta["mean"], meta["std"]

        def saliency(self, x):
            m = torch.zeros(len(x), 1, *x.shape[-2:])
            m[..., self.row, self.col] = 1.0
            return m

    # Test images 2, 3, 5: only part 1 ("back") is visible, at x = 10 px (in original pixels); image 5 is
    # 20 x 40, and its back (y = 5) lies outside the centre crop that keeps its aspect: no longer visible.
    back = prep.test.parts[:, 0]
    assert (prep.test.parts[:, 1, 2] == 0).all() and back[:, 2].tolist() == [1, 1, 0]
    row, col = int(back[0, 1]), int(back[0, 0])
    scores = saliency_scores(PeakAt(row, col), prep, fast_params)
    pm = part_masks(prep.test.parts, 16, 2.0)
    scored = pm.any(axis=(1, 2))
    hits = pm[:, row, col][scored]
    assert scores["pointing_game"] == pytest.approx(hits.mean()) and hits[0]
    assert scores["pointing_chance"] == pytest.approx(pm[scored].mean(axis=(1, 2)).mean())
    assert scores["pointing_scored_images"] == 2


def test_build_writes_to_disk_and_reads_back_memory_mapped(mini_cub, tmp_path):
    top, _ = mini_cub
    rec = cub.load(top)
    mem = prepared.from_records(rec, 16, "cub200")
    disk = prepared.build(rec, 16, "cub200", tmp_path / "prepared")
    assert isinstance(disk.train.images, np.memmap) and not disk.train.images.flags.writeable
    for name in ("train", "test"):
        a, b = getattr(mem, name), getattr(disk, name)
        for field in ("images", "labels", "boxes", "parts", "ids"):
            assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=field == "boxes")
    assert disk.meta == mem.meta and disk.database is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
