"""Reader of ILSVRC-2012-style validation trees: the paper's data protocol (001, Sec 2.1).

Two layouts are read (``layout(root)`` tells which):

* ``flat``: images ``*.JPEG`` (``ILSVRC2012_val_00000001.JPEG`` ...) with, for each, the XML of
  ``ILSVRC2012_bbox_val_v3`` of the same stem, both in ``root``, ``root/val`` or
  ``root/ILSVRC2012_bbox_val_v3/val``; classes through ``fixtures/imagenet/LOC_synset_mapping.txt``
  (line ``i`` is torchvision's class ``i``);
* ``kaggle``: ``ILSVRC/Data/CLS-LOC/val/*.JPEG``, ``ILSVRC/Annotations/CLS-LOC/val/*.xml`` and the
  competition's ``LOC_synset_mapping.txt`` (which must list the same classes in the same order).

Each XML gives ``annotation/size`` and ``object/name`` (a WordNet id) with ``object/bndbox``
``xmin..ymax`` in pixels; a box touching the right or bottom edge may have ``xmax == width``
(PASCAL-VOC-style corners), which the reader accepts; a corner beyond the image is an error.
Classes map through the wnid, never the devkit's ids.

The paper's protocol (``Gullesh/VanillaVsARobust``, ``dataPrep.ipynb`` and ``eval.py``):

* eligible: exactly one box and ``(xmax - xmin) * (ymax - ymin) <= 0.5 * W * H`` in the original
  pixels (20,167 of the 50,000 validation images);
* maps and metrics on the image resized straight to 224 x 224 (no crop), boxes scaled by
  ``round(x * 224 / W)`` and ``round(y * 224 / H)``; amx clips a scaled corner to 223, the last
  pixel (``round`` can give 224 for a box on the right or bottom edge);
* Table 1's accuracies on Resize(256) + CenterCrop(224) (``load_image(..., crop=True)``).

A file that cannot be used is never dropped silently: ``read_index`` lists it in
``Index.skipped`` with its reason (no XML, malformed XML, unknown wnid, a box outside the image,
objects of several classes). Pixels are decoded when a stage reads them
(``amx.data.arrays.DecodedOnRead``): a JPEG that does not decode raises ``BadImageError`` naming
it, and the pipeline leaves that image out of the run with its reason (``amx.pipeline.run``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amx.attacks import PGDConfig
from amx.data.arrays import ImageFiles, UnreadableImage
from amx.files import FIXTURES

SYNSETS = FIXTURES / "imagenet" / "LOC_synset_mapping.txt"
SIZE = 224  # the paper's map and metric resolution
MAX_AREA = 0.5  # of the original image, the paper's eligibility
IMAGE_SUFFIXES = (".JPEG", ".jpeg", ".jpg", ".JPG")
FLAT_XML_DIRS = (".", "val", "ILSVRC2012_bbox_val_v3/val")
KAGGLE_IMAGES = "ILSVRC/Data/CLS-LOC/val"
KAGGLE_XML = "ILSVRC/Annotations/CLS-LOC/val"
PAPER_ATTACK = PGDConfig(eps=3.0, steps=7, step_size=0.5)  # Table 1: PGD-L2, eps 3, 7 steps of 0.5


class ImageNetDataError(ValueError):
    """A validation tree amx cannot read: names the path and what is wrong."""


class BadImageError(ImageNetDataError, UnreadableImage):
    """An image file that does not decode (truncated or corrupt JPEG)."""


@functools.cache
def synsets(path: Path = SYNSETS) -> tuple[tuple[str, str], ...]:
    """``(wnid, names)`` of the 1000 classes in torchvision's order (line ``i``: class ``i``)."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        wnid, _, names = line.partition(" ")
        if not (wnid.startswith("n") and wnid[1:].isdigit()):
            raise ImageNetDataError(f"{path}, line {number}: {line!r} does not start with a WordNet id")
        rows.append((wnid, names))
    return tuple(rows)


def class_index(path: Path = SYNSETS) -> dict[str, int]:
    """``{wnid: class}``."""
    return {wnid: i for i, (wnid, _) in enumerate(synsets(path))}


@dataclass(frozen=True)
class Annotation:
    """One validation image: its file, original ``width`` x ``height``, class and boxes
    (int ``[k, 4]``, inclusive ``xmin, ymin, xmax, ymax`` in original pixels)."""

    image: Path
    width: int
    height: int
    wnid: str
    label: int
    boxes: np.ndarray

    @property
    def eligible(self) -> bool:
        """The paper's rule: one box of at most half the image, ``(xmax-xmin)*(ymax-ymin)``."""
        if len(self.boxes) != 1:
            return False
        x0, y0, x1, y1 = self.boxes[0]
        return (x1 - x0) * (y1 - y0) <= MAX_AREA * self.width * self.height

    def scaled_boxes(self, size: int = SIZE) -> np.ndarray:
        """The boxes on the image resized to ``size`` x ``size``: ``round(x * size / W)``,
        ``round(y * size / H)`` (numpy rounds halves to even, as Python's ``round`` does),
        clipped to ``size - 1``."""
        scale = np.array([size / self.width, size / self.height] * 2)
        return np.clip(np.round(self.boxes * scale), 0, size - 1).astype(np.int64)


@dataclass(frozen=True)
class Skipped:
    """A file the index left out, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class Index:
    """A validation tree: every usable image (file-name order) and every skipped file."""

    root: Path
    layout: str
    annotations: tuple[Annotation, ...]
    skipped: tuple[Skipped, ...]

    @functools.cached_property
    def eligible(self) -> tuple[Annotation, ...]:
        return tuple(a for a in self.annotations if a.eligible)

    def summary(self, limit: int = 20) -> str:
        """What a user reads before a run: the counts, then the first ``limit`` skipped files."""
        lines = [f"{self.root} ({self.layout} layout): {len(self.eligible):,} eligible images (one box of "
                 f"<= 50% of the image) of {len(self.annotations):,} read; {len(self.skipped)} skipped"]
        lines += [f"  skipped {s.file}: {s.reason}" for s in self.skipped[:limit]]
        if len(self.skipped) > limit:
            lines.append(f"  ... and {len(self.skipped) - limit} more")
        return "\n".join(lines)


def layout(root: Path) -> str:
    """``kaggle`` or ``flat``; an error naming ``root`` if it is neither."""
    root = Path(root)
    if not root.is_dir():
        raise ImageNetDataError(f"ImageNet root {root} is not a directory")
    if (root / KAGGLE_IMAGES).is_dir():
        return "kaggle"
    if any(p.suffix in IMAGE_SUFFIXES for d in ("", "val") for p in _listdir(root / d)):
        return "flat"
    raise ImageNetDataError(
        f"ImageNet root {root}: found neither the Kaggle layout ({KAGGLE_IMAGES}/*.JPEG) nor a flat "
        f"directory of validation JPEGs (ILSVRC2012_val_*.JPEG in it or in its val/)")


def _listdir(path: Path) -> list[Path]:
    return sorted(path.iterdir()) if path.is_dir() else []


def _images_and_xml(root: Path, kind: str) -> tuple[list[Path], dict[str, Path]]:
    if kind == "kaggle":
        images, xml_dirs = _listdir(root / KAGGLE_IMAGES), [root / KAGGLE_XML]
    else:
        images = [p for d in ("", "val") for p in _listdir(root / d)]
        xml_dirs = [root / d for d in FLAT_XML_DIRS]
    xml = {p.stem: p for d in reversed(xml_dirs) for p in _listdir(d) if p.suffix == ".xml"}
    return sorted((p for p in images if p.suffix in IMAGE_SUFFIXES), key=lambda p: p.name), xml


def _kaggle_classes(root: Path) -> None:
    """The Kaggle tree's ``LOC_synset_mapping.txt`` must list amx's classes in amx's order."""
    theirs = root / "LOC_synset_mapping.txt"
    if theirs.is_file() and [w for w, _ in synsets(theirs)] != [w for w, _ in synsets()]:
        raise ImageNetDataError(f"{theirs} lists other classes, or another order, than {SYNSETS}")


def parse_annotation(image: Path, xml: Path, classes: dict[str, int]) -> Annotation:
    """The ``Annotation`` of ``image`` from its ILSVRC XML; ``ImageNetDataError`` says what is wrong."""
    try:
        tree = ET.parse(xml).getroot()
        width, height = int(tree.findtext("size/width")), int(tree.findtext("size/height"))
        objects = [(o.findtext("name"), [int(float(o.findtext(f"bndbox/{k}"))) for k in
                                         ("xmin", "ymin", "xmax", "ymax")]) for o in tree.iter("object")]
    except (ET.ParseError, TypeError, ValueError) as err:
        raise ImageNetDataError(f"malformed XML {xml.name} ({type(err).__name__}: {err})") from None
    if width < 1 or height < 1:
        raise ImageNetDataError(f"XML {xml.name}: image size {width}x{height}")
    if not objects:
        raise ImageNetDataError(f"XML {xml.name}: no object")
    wnids = sorted({w for w, _ in objects})
    if len(wnids) > 1:
        raise ImageNetDataError(f"XML {xml.name}: objects of several classes {wnids}")
    if wnids[0] not in classes:
        raise ImageNetDataError(f"XML {xml.name}: unknown wnid {wnids[0]!r} (not one of the 1000 classes)")
    for _, (x0, y0, x1, y1) in objects:  # a corner may equal the width or height (VOC-style)
        if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
            raise ImageNetDataError(f"XML {xml.name}: box {[x0, y0, x1, y1]} lies outside the "
                                    f"{width}x{height} image")
    return Annotation(image, width, height, wnids[0], classes[wnids[0]],
                      np.array([b for _, b in objects], dtype=np.int64))


@functools.cache
def read_index(root: Path) -> Index:
    """Every image of the tree at ``root`` with its annotation, in file-name order (cached per
    root for the process)."""
    root = Path(root).resolve()
    kind = layout(root)
    if kind == "kaggle":
        _kaggle_classes(root)
    images, xml = _images_and_xml(root, kind)
    classes = class_index()
    annotations, skipped = [], []
    for image in images:
        if image.stem not in xml:
            skipped.append(Skipped(image.name, "no annotation XML"))
            continue
        try:
            annotations.append(parse_annotation(image, xml[image.stem], classes))
        except ImageNetDataError as err:
            skipped.append(Skipped(image.name, str(err)))
    return Index(root, kind, tuple(annotations), tuple(skipped))


def load_image(path: Path, size: int = SIZE, crop: bool = False) -> np.ndarray:
    """uint8 ``[3, size, size]`` of the image at ``path``: resized straight to ``size`` (the
    maps' protocol), or with ``crop`` Resize(256 / 224 * size) of the shorter side then
    CenterCrop(size) (Table 1's). PIL bilinear with antialiasing, as torchvision's transforms on
    a PIL image."""
    from PIL import Image
    from torchvision.transforms import CenterCrop, Resize

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            if crop:
                rgb = CenterCrop(size)(Resize(round(256 * size / SIZE))(rgb))
            else:
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, SyntaxError, ValueError) as err:
        raise BadImageError(f"image {path} does not decode ({err}); replace or remove it") from None
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1).copy()


SPLITS = ("eval", "table1", "background")


def render_split(root: Path, split: str, n: int, size: int = SIZE) -> ImageFiles:
    """``World.render`` of an ILSVRC tree: the first ``n`` images (file order) of ``split`` as
    files decoded when read (``amx.data.arrays.DecodedOnRead``), their labels and boxes scaled
    to ``size``:

    * ``eval``: eligible images, resized straight (maps and metrics);
    * ``table1``: every image with an annotation, Resize + CenterCrop (Table 1; boxes unused there);
    * ``background``: images that are *not* eligible, resized straight, so that a method's
      background set (SHAP's) never holds an image a metric scores.

    Asking for more images than the split has is an error naming both counts and the skipped
    files; a file that does not decode is found when read (``BadImageError``, naming it).
    """
    index = read_index(Path(root))
    pools = {"eval": index.eligible, "table1": index.annotations,
             "background": tuple(a for a in index.annotations if not a.eligible)}
    if split not in pools:
        raise ValueError(f"ImageNet-style worlds have the splits {SPLITS}, not {split!r}")
    chosen = pools[split][:n]
    if len(chosen) < n:
        raise ImageNetDataError(f"{index.root}: {n} {split} images asked for, the tree has "
                                f"{len(pools[split])}\n{index.summary()}")
    return ImageFiles(tuple(a.image for a in chosen), np.array([a.label for a in chosen], dtype=np.int64),
                      tuple(a.scaled_boxes(size) for a in chosen),
                      functools.partial(load_image, size=size, crop=split == "table1"))


def all_eligible(boxes, image_size: int) -> np.ndarray:
    """``World.eligible`` of a world whose ``eval`` split is ``render_split``'s: the reader already
    kept only the images the paper's rule admits (on original pixels), so every rendered one counts."""
    return np.ones(len(boxes), dtype=bool)




# --- the ``imagenet`` world: the paper's real setup ----------------------------------------------
ROOT_ENV = "AMX_IMAGENET"
VERSION = 1  # of the reader's protocol: part of every cache key


def root() -> Path:
    """The user's ILSVRC-2012 validation tree: ``$AMX_IMAGENET`` (``--imagenet-root DIR``)."""
    value = os.environ.get(ROOT_ENV)
    if not value:
        raise ImageNetDataError(f"the imagenet world reads the ILSVRC-2012 validation set from a directory "
                                f"you have: pass --imagenet-root DIR or set ${ROOT_ENV}")
    return Path(value).expanduser()


def render(split: str, n: int, workers: int = 1) -> ImageFiles:
    """``World.render``: ``render_split`` of the user's tree (decoded when read)."""
    return render_split(root(), split, n)


@functools.cache
def data_digest(tree: Path) -> str:
    """sha256 of the names and sizes of the tree's images and XML files (``World.data_id``)."""
    tree = Path(tree).resolve()
    images, xml = _images_and_xml(tree, layout(tree))
    entries = [f"{p.name}:{p.stat().st_size}" for p in [*images, *sorted(xml.values())]]
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def data_id() -> str:
    """``World.data_id``: the digest of the user's tree."""
    return data_digest(root())


def n_eligible(_n: int = 0) -> int:
    """``World.pool_size``: every eligible image of the user's tree."""
    return len(read_index(root()).eligible)
