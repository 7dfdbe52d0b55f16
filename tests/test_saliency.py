"""Pointing game and map mass against ground truth, on hand-made maps."""
import numpy as np
import pytest

from dsah.saliency import part_indices, part_masks, score


def _parts(*xyv):
    return np.array([[list(p) for p in xyv]], dtype=float)


def test_part_square_covers_pixel_centres():
    m = part_masks(_parts((4.0, 4.0, 1)), 8, 2.0)[0]
    assert m.sum() == 4 and m[3:5, 3:5].all()  # centres 3.5 and 4.5 are within 1 px of 4.0
    assert not part_masks(_parts((4.0, 4.0, 0)), 8, 2.0).any(), "an invisible part scores nothing"


def test_pointing_game_hit_miss_and_chance():
    maps = np.zeros((2, 8, 8))
    maps[0, 4, 4] = 1.0  # peak on the part
    maps[1, 0, 7] = 1.0  # peak in a corner
    parts = np.array([[[4.0, 4.0, 1]], [[4.0, 4.0, 1]]])
    boxes = np.array([[2.0, 2.0, 4.0, 4.0]] * 2)
    sc = score(maps, parts, boxes, part_size=2.0)
    assert sc.pointing_game == 0.5 and sc.hits.tolist() == [True, False]
    assert sc.pointing_chance == pytest.approx(4 / 64)
    assert sc.mass_in_object == pytest.approx(0.5)  # all mass inside for the first, none for the second
    assert sc.mass_chance == pytest.approx(16 / 64)


def test_a_uniform_map_scores_chance_mass_and_the_first_pixel_as_peak():
    maps = np.ones((1, 8, 8))
    sc = score(maps, _parts((0.5, 0.5, 1)), np.array([[0.0, 0.0, 4.0, 8.0]]), part_size=1.0)
    assert sc.pointing_game == 1.0  # ties: the first pixel in raster order, documented
    assert sc.mass_in_object == pytest.approx(sc.mass_chance) == pytest.approx(0.5)


def test_images_without_visible_parts_are_not_scored():
    maps = np.random.default_rng(0).random((3, 8, 8))
    parts = np.array([[[4.0, 4.0, 1]], [[4.0, 4.0, 0]], [[1.0, 1.0, 1]]])
    sc = score(maps, parts, np.array([[0.0, 0.0, 8.0, 8.0]] * 3), part_size=3.0)
    assert sc.num_scored == 2 and len(sc.hits) == 2


def test_several_parts_any_hit_counts():
    maps = np.zeros((1, 16, 16))
    maps[0, 12, 2] = 1.0
    parts = _parts((8.0, 8.0, 1), (2.5, 12.5, 1))
    assert score(maps, parts, np.array([[0.0, 0.0, 16.0, 16.0]]), 2.0).pointing_game == 1.0


def test_scored_parts():
    assert part_indices(["discriminative_part", "object_centre"]) == [0]
    assert part_indices(["back", "beak", "belly"]) == [0, 1, 2]


def test_bad_map_shape():
    with pytest.raises(ValueError, match=r"\(N, S, S\)"):
        score(np.zeros((2, 8, 6)), np.zeros((2, 1, 3)), np.zeros((2, 4)), 2.0)
