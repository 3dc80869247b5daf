"""The embedded world: determinism, exact boxes, box-area bounds, disjoint splits, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amx.data import mini
from amx.data.arrays import load_split
from amx.data.worlds import get_world


def _bytes(s: mini.Sample) -> bytes:
    return s.image.tobytes() + s.box.tobytes() + s.mask.tobytes() + bytes([s.label])


def test_same_seed_and_index_give_identical_bytes():
    assert _bytes(mini.generate(11, "eval")) == _bytes(mini.generate(11, "eval"))


def test_different_index_split_or_seed_give_different_images():
    base = mini.generate(3, "eval").image
    assert not np.array_equal(base, mini.generate(4, "eval").image)
    assert not np.array_equal(base, mini.generate(3, "train").image)
    assert not np.array_equal(base, mini.generate(3, "eval", seed=1).image)


def test_image_format_is_quantised_rgb_in_unit_range():
    s = mini.generate(0, "val")
    assert s.image.shape == (3, mini.SIZE, mini.SIZE) and s.image.dtype == np.float32
    assert s.image.min() >= 0.0 and s.image.max() <= 1.0
    np.testing.assert_allclose(s.image * 255, np.round(s.image * 255), atol=1e-3)


@given(index=st.integers(0, 10**7), split=st.sampled_from(sorted(mini.SPLITS)))
def test_box_is_the_masks_tight_box_and_covers_5_to_50_percent(index, split):
    s = mini.generate(index, split)
    np.testing.assert_array_equal(mini.tight_box(s.mask), s.box)
    x0, y0, x1, y1 = s.box.tolist()
    area = (x1 - x0 + 1) * (y1 - y0 + 1) / mini.SIZE**2
    assert 0 <= x0 <= x1 < mini.SIZE and 0 <= y0 <= y1 < mini.SIZE
    assert mini.MIN_AREA <= area <= mini.MAX_AREA
    assert 0 <= s.label < mini.N_CLASSES


def test_boxes_skew_small_and_all_classes_occur():
    samples = [mini.generate(i, "eval") for i in range(400)]
    areas = [(s.box[2] - s.box[0] + 1) * (s.box[3] - s.box[1] + 1) / mini.SIZE**2 for s in samples]
    assert np.median(areas) < 0.2  # skewed towards small objects
    assert max(areas) > 0.35  # but large ones occur too
    assert set(s.label for s in samples) == set(range(mini.N_CLASSES))


def test_object_pixels_show_exactly_two_fill_colours_up_to_noise():
    s = mini.generate(21, "eval")
    pixels = s.image[:, s.mask].T  # [n, 3]
    from scipy.cluster.vq import kmeans2

    centroids, assignment = kmeans2(pixels.astype(np.float64), 2, seed=0, minit="++")
    spread = np.abs(pixels - centroids[assignment]).max()
    assert spread < 0.1  # Gaussian pixel noise (sd 0.015) around two colours, nothing else


def test_render_matches_generate(tmp_path, monkeypatch):
    monkeypatch.setenv("AMX_CACHE", str(tmp_path))
    arrays = load_split(get_world("mini"), "val", 12)
    for i in (0, 5, 11):
        s = mini.generate(i, "val")
        np.testing.assert_array_equal(arrays.images[i], np.round(s.image * 255).astype(np.uint8))
        assert arrays.labels[i] == s.label
        np.testing.assert_array_equal(arrays.boxes[i], s.box[None])
    again = load_split(get_world("mini"), "val", 12)  # from the on-disk cache
    np.testing.assert_array_equal(again.images, arrays.images)
    assert len(again.boxes) == 12
    assert all(np.array_equal(a, b) for a, b in zip(again.boxes, arrays.boxes, strict=True))


def test_unknown_split_and_world_name_the_valid_ones():
    with pytest.raises(ValueError, match="valid: .*'eval'.*'train'"):
        mini.generate(0, "test")
    with pytest.raises(KeyError, match="Valid worlds: imagenet, mini, photos"):
        get_world("imagenette")
