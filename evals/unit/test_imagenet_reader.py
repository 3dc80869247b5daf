"""The ILSVRC reader (amx.data.imagenet) on small trees the tests write: both layouts, real JPEGs,
XML with one and several boxes, and every kind of bad file."""

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from amx.data import imagenet
from amx.data.arrays import DecodedOnRead, ImageFiles, readable

TABBY, ESPRESSO = "n02123045", "n07920052"  # classes 281 and 967


def _jpeg(path: Path, width: int, height: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path, quality=90)


def _xml(path: Path, width: int, height: int, objects) -> None:
    body = "".join(f"<object><name>{w}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for w, b in objects)
    path.write_text(f"<annotation><filename>{path.stem}</filename><size><width>{width}</width>"
                    f"<height>{height}</height><depth>3</depth></size>{body}</annotation>")


def _write_tree(images: Path, xml: Path) -> None:
    """Nine images: two eligible (one box on the edge), one too large a box, one with two boxes, one
    past the edge, one unknown wnid, one malformed XML, one without XML, and a corrupt JPEG with a
    good XML."""
    images.mkdir(parents=True, exist_ok=True)
    xml.mkdir(parents=True, exist_ok=True)
    rows = [
        ("ILSVRC2012_val_00000001", 500, 375, [(TABBY, (100, 50, 299, 249))]),          # 40000 <= 93750
        ("ILSVRC2012_val_00000002", 400, 300, [(ESPRESSO, (0, 0, 399, 299))]),          # > 50%
        ("ILSVRC2012_val_00000003", 300, 400, [(ESPRESSO, (10, 10, 50, 50)), (ESPRESSO, (60, 60, 90, 90))]),
        ("ILSVRC2012_val_00000004", 200, 200, [(TABBY, (10, 10, 201, 50))]),            # xmax > W
        ("ILSVRC2012_val_00000005", 200, 200, [("n99999999", (10, 10, 20, 20))]),
        ("ILSVRC2012_val_00000007", 640, 480, [(ESPRESSO, (320, 240, 640, 480))]),       # on the edge
    ]
    for k, (stem, w, h, objects) in enumerate(rows):
        _jpeg(images / f"{stem}.JPEG", w, h, k)
        _xml(xml / f"{stem}.xml", w, h, objects)
    _jpeg(images / "ILSVRC2012_val_00000006.JPEG", 100, 100)
    (xml / "ILSVRC2012_val_00000006.xml").write_text("<annotation><size><width>100</width>")
    _jpeg(images / "ILSVRC2012_val_00000008.JPEG", 100, 100)  # no XML
    (images / "ILSVRC2012_val_00000009.JPEG").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    _xml(xml / "ILSVRC2012_val_00000009.xml", 100, 100, [(TABBY, (0, 0, 10, 10))])


@pytest.fixture(params=["flat", "kaggle"])
def tree(request, tmp_path):
    if request.param == "flat":
        _write_tree(tmp_path / "val", tmp_path / "ILSVRC2012_bbox_val_v3" / "val")
    else:
        _write_tree(tmp_path / "ILSVRC/Data/CLS-LOC/val", tmp_path / "ILSVRC/Annotations/CLS-LOC/val")
        (tmp_path / "LOC_synset_mapping.txt").write_text(imagenet.SYNSETS.read_text())
    imagenet.read_index.cache_clear()
    return request.param, tmp_path


def test_synsets_are_torchvisions_classes_in_order():
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    rows = imagenet.synsets()
    assert len(rows) == 1000 and len({w for w, _ in rows}) == 1000
    assert [w for w, _ in rows] == sorted(w for w, _ in rows)
    assert imagenet.class_index()[TABBY] == 281 and imagenet.class_index()[ESPRESSO] == 967
    assert all(tv.split()[0].lower() in names.lower()  # the same class names, spelt alike
               for (_, names), tv in zip(rows, _IMAGENET_CATEGORIES, strict=True))


def test_reader_maps_classes_scales_boxes_and_lists_every_skipped_file(tree):
    kind, root = tree
    index = imagenet.read_index(root)
    assert index.layout == kind
    by_name = {a.image.stem[-1]: a for a in index.annotations}
    assert sorted(by_name) == ["1", "2", "3", "7", "9"]
    assert (by_name["1"].label, by_name["2"].label) == (281, 967)
    assert by_name["3"].boxes.shape == (2, 4)
    # round(x * 224 / W), round(y * 224 / H): 100*224/500 = 44.8 -> 45; 299*224/500 = 133.9 -> 134
    assert by_name["1"].scaled_boxes().tolist() == [[45, 30, 134, 149]]
    # a VOC-style corner on the edge, 640 * 224 / 640 = 224, is clipped to the last pixel, 223
    assert by_name["7"].scaled_boxes().tolist() == [[112, 112, 223, 223]]
    assert [a.image.stem[-1] for a in index.eligible] == ["1", "7", "9"]  # 9 only fails to decode
    reasons = {s.file[-6]: s.reason for s in index.skipped}
    assert set(reasons) == {"4", "5", "6", "8"}
    assert "outside the 200x200 image" in reasons["4"]
    assert "unknown wnid 'n99999999'" in reasons["5"]
    assert "malformed XML ILSVRC2012_val_00000006.xml" in reasons["6"]
    assert reasons["8"] == "no annotation XML"
    assert "3 eligible images" in index.summary() and "4 skipped" in index.summary()


def test_eligibility_is_the_papers_area_formula_on_original_pixels():
    def annotation(box, width=100, height=100):
        return imagenet.Annotation(Path("x.JPEG"), width, height, TABBY, 281, np.array([box]))

    assert annotation((0, 0, 50, 100)).eligible  # (50 - 0) * (100 - 0) = 5000 = 0.5 * 100 * 100
    assert not annotation((0, 0, 51, 100)).eligible
    two = imagenet.Annotation(Path("x.JPEG"), 100, 100, TABBY, 281, np.array([[0, 0, 9, 9]] * 2))
    assert not two.eligible


def test_render_splits_decode_real_jpegs_when_read_and_name_a_corrupt_one(tree):
    _, root = tree
    files = imagenet.render_split(root, "eval", 3)
    assert files.labels[:2].tolist() == [281, 967] and files.boxes[0].tolist() == [[45, 30, 134, 149]]
    images = DecodedOnRead(files)
    assert images[:2].shape == (2, 3, 224, 224) and images[:2].dtype == np.uint8
    background = DecodedOnRead(imagenet.render_split(root, "background", 2))  # the ineligible ones: 2, 3
    assert background[:].shape == (2, 3, 224, 224)
    table1 = DecodedOnRead(imagenet.render_split(root, "table1", 3))  # Resize(256) + CenterCrop(224)
    assert table1[:].shape == (3, 3, 224, 224)
    with pytest.raises(imagenet.BadImageError, match="ILSVRC2012_val_00000009.JPEG does not decode"):
        images[:]
    pixels, ok = readable(images, [0, 2, 1])  # the corrupt file is left out, with its reason
    assert ok.tolist() == [True, False, True] and np.array_equal(pixels, images[[0, 1]])
    assert list(images.unreadable) == [2] and "ILSVRC2012_val_00000009.JPEG" in images.unreadable[2]
    with pytest.raises(imagenet.ImageNetDataError, match="4 eval images asked for, the tree has 3"):
        imagenet.render_split(root, "eval", 4)


def test_table1_leaves_out_a_file_that_does_not_decode(tree):
    from amx.attacks import PGDConfig
    from amx.zoo.evaluate import evaluate_model

    _, root = tree
    files = imagenet.render_split(root, "eval", 3)  # the third does not decode
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
    attack = PGDConfig(eps=0.5, steps=1, step_size=0.5)
    row = evaluate_model(model, DecodedOnRead(files), files.labels, attack, batch_size=2)
    assert (row["n_images"], row["unreadable"], len(row["per_image"]["correct"])) == (2, 1, 2)


def test_resize_is_straight_and_crop_is_resize_then_center_crop(tmp_path):
    from torchvision.transforms import CenterCrop, Resize

    _jpeg(tmp_path / "a.JPEG", 320, 240, 3)
    with Image.open(tmp_path / "a.JPEG") as img:
        straight = np.asarray(img.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))
        cropped = np.asarray(CenterCrop(224)(Resize(256)(img.convert("RGB"))))
    assert np.array_equal(imagenet.load_image(tmp_path / "a.JPEG").transpose(1, 2, 0), straight)
    assert np.array_equal(imagenet.load_image(tmp_path / "a.JPEG", crop=True).transpose(1, 2, 0), cropped)


def test_decoding_in_threads_and_again_from_the_kept_images_gives_the_same_arrays(tmp_path):
    paths = []
    for k in range(70):
        _jpeg(tmp_path / f"{k:03d}.JPEG", 64 + k, 48, k)
        paths.append(tmp_path / f"{k:03d}.JPEG")
    files = ImageFiles(tuple(paths), np.zeros(70, dtype=np.int64), (np.zeros((1, 4), np.int64),) * 70,
                       functools.partial(imagenet.load_image, size=32))
    one = np.stack([imagenet.load_image(p, 32) for p in paths])
    threaded = DecodedOnRead(files, threads=2, capacity=16)
    assert np.array_equal(threaded[:], one) and len(threaded.kept) == 16  # the last 16 read are kept
    assert np.array_equal(threaded[[69, 3, 69]], one[[69, 3, 69]]) and np.array_equal(threaded[5], one[5])


def test_a_root_in_neither_layout_or_with_other_classes_is_named(tmp_path):
    with pytest.raises(imagenet.ImageNetDataError, match=f"{tmp_path}: found neither the Kaggle layout"):
        imagenet.layout(tmp_path)
    with pytest.raises(imagenet.ImageNetDataError, match="is not a directory"):
        imagenet.layout(tmp_path / "missing")
    (tmp_path / "ILSVRC/Data/CLS-LOC/val").mkdir(parents=True)
    lines = imagenet.SYNSETS.read_text().splitlines()
    (tmp_path / "LOC_synset_mapping.txt").write_text("\n".join([lines[1], lines[0], *lines[2:]]))
    imagenet.read_index.cache_clear()
    with pytest.raises(imagenet.ImageNetDataError, match="lists other classes, or another order"):
        imagenet.read_index(tmp_path)
