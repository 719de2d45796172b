"""A generated corpus of bad inputs, each with the outcome class it must have (issue 10, "Must show").

Every case is one bad (or odd but legitimate) input to one entry point: images and texts to the processors,
annotation files of every loader, HDF5 files, gallery indexes, pipeline arguments, checkpoints, configs and model
inputs. Its outcome is classified as

- ``clear_error``: an exception whose message names the bad value (matches the case's ``needle``);
- ``unclear_error``: an exception that does not (a traceback from inside torch / PIL / h5py, or the wrong error);
- ``handled``: it returned, and the result is right (the case's ``check``);
- ``silent``: it returned a wrong result, or accepted what it should have refused.

Each case asserts its expected class (``clear_error`` or ``handled``). Cases whose fix belongs to another owner's
files (configs, model ``forward``) are strict xfails naming the owner: when the fix lands they XPASS, and the marker
goes.

``python tests/test_bad_inputs.py`` prints the counts per family and class (for a before / after comparison, run
it with ``PYTHONPATH`` pointing at another checkout of the package).
"""

from __future__ import annotations

import atexit
import functools
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from PIL import Image

TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

SIDE = 16  # processor output size: small and fast


def scratch_folder(prefix: str) -> Path:
    """A temporary folder for the shared tiny checkpoints, removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@dataclass
class Case:
    family: str
    name: str
    run: Callable[[Path], Any]
    expected: str  # "clear_error" or "handled"
    needle: str | None = None  # regex an error message must match to be clear (case-insensitive)
    check: Callable[[Any], bool] | None = None  # for "handled": is the result right?
    owner: str | None = None  # whose files the fix belongs in, when not fixed here (strict xfail)

    @property
    def id(self) -> str:
        return f"{self.family}-{self.name}"


CASES: list[Case] = []


def error(family, name, needle, owner=None):
    def register(run):
        CASES.append(Case(family, name, run, "clear_error", needle=needle, owner=owner))
        return run
    return register


def handled(family, name, check, owner=None):
    def register(run):
        CASES.append(Case(family, name, run, "handled", check=check, owner=owner))
        return run
    return register


def classify(case: Case, folder: Path) -> tuple[str, str]:
    """(outcome class, detail) of running ``case`` in the empty folder ``folder``."""
    try:
        result = case.run(folder)
    except Exception as exception:  # every exception is classified, none escapes
        message = f"{type(exception).__name__}: {exception}"
        if case.needle is not None and re.search(case.needle, str(exception), flags=re.IGNORECASE | re.DOTALL):
            return "clear_error", message
        return "unclear_error", message
    if case.expected == "clear_error":
        return "silent", f"accepted, returned {type(result).__name__}"
    try:
        correct = bool(case.check(result))
    except Exception as exception:
        return "silent", f"check failed: {type(exception).__name__}: {exception}"
    return ("handled", "") if correct else ("silent", "wrong result")


# ================================================================================================ images

@functools.lru_cache(maxsize=1)
def image_processor():
    from fashionvl import MVLTImageProcessor

    return MVLTImageProcessor(size={"height": SIDE, "width": SIDE})


def pixels(image):
    return image_processor()(image, return_tensors="pt")["pixel_values"]


def looks_like(rgb):
    """Check: the processed image is the uniform 8-bit colour ``rgb`` (within one grey level)."""
    reference = pixels(np.full((4, 4, 3), rgb, dtype=np.uint8))

    def check(result):
        return torch.allclose(result, reference, atol=1.5 / 255 / 0.224)
    return check


for size in ((1, 1), (7, 5)):
    tag = f"{size[0]}x{size[1]}"
    width, height = size
    uniform_cases = {
        "rgba-transparent-is-white": (lambda w=width, h=height: Image.new("RGBA", (w, h), (0, 0, 0, 0)), 255),
        "la-transparent-is-white": (lambda w=width, h=height: Image.new("LA", (w, h), (0, 0)), 255),
        "palette-transparent-is-white": (
            lambda w=width, h=height: _palette_with_transparency(w, h), 255),
        "rgba-half-black": (lambda w=width, h=height: Image.new("RGBA", (w, h), (0, 0, 0, 128)), 127),
        "sixteen-bit-grey-32768": (
            lambda w=width, h=height: Image.fromarray(np.full((h, w), 32768, dtype=np.uint16)), 128),
        "int32-mode-grey-32768": (
            lambda w=width, h=height: Image.fromarray(np.full((h, w), 32768, dtype=np.int32)), 128),
        "float-tiff-0.5": (lambda w=width, h=height: Image.fromarray(np.full((h, w), 0.5, dtype=np.float32)), 128),
        "grey-L": (lambda w=width, h=height: Image.new("L", (w, h), 90), 90),
        "one-bit": (lambda w=width, h=height: Image.new("1", (w, h), 1), 255),
        "uint8-hwc": (lambda w=width, h=height: np.full((h, w, 3), 200, dtype=np.uint8), 200),
        "uint8-2d": (lambda w=width, h=height: np.full((h, w), 200, dtype=np.uint8), 200),
        "uint16-array-32768": (lambda w=width, h=height: np.full((h, w, 3), 32768, dtype=np.uint16), 128),
        "bool-array": (lambda w=width, h=height: np.ones((h, w), dtype=bool), 255),
        "float32-array-0.5": (lambda w=width, h=height: np.full((h, w, 3), 0.5, dtype=np.float32), 128),
        "float64-array-0.5": (lambda w=width, h=height: np.full((h, w, 3), 0.5, dtype=np.float64), 128),
        "torch-chw-0.5": (lambda w=width, h=height: torch.full((3, h, w), 0.5), 128),
        "torch-uint8-hwc": (lambda w=width, h=height: torch.full((h, w, 3), 200, dtype=torch.uint8), 200),
        "rgba-array-transparent": (lambda w=width, h=height: np.zeros((h, w, 4), dtype=np.uint8), 255),
    }
    for dtype in ("int16", "int32", "int64", "uint32"):
        uniform_cases[f"{dtype}-array-0-255"] = (
            lambda w=width, h=height, d=dtype: np.full((h, w, 3), 200, dtype=d), 200)
    for name, (make, value) in uniform_cases.items():
        handled("image", f"{name}-{tag}", looks_like((value,) * 3))(lambda folder, make=make: pixels(make()))

    image_errors = {
        "float-0-255": (lambda w=width, h=height: np.full((h, w, 3), 200.0, dtype=np.float32), r"\[0, 1\].*200"),
        "float-normalised": (lambda w=width, h=height: np.full((h, w, 3), -1.5, dtype=np.float32), r"normalis"),
        "int32-16-bit-data": (lambda w=width, h=height: np.full((h, w), 40000, dtype=np.int32), r"40000"),
        "int64-negative": (lambda w=width, h=height: np.full((h, w, 3), -5, dtype=np.int64), r"-5"),
        "float-nan": (lambda w=width, h=height: np.full((h, w, 3), np.nan, dtype=np.float32), r"nan"),
        "float-inf": (lambda w=width, h=height: np.full((h, w, 3), np.inf, dtype=np.float32), r"infinite"),
        "five-channels": (lambda w=width, h=height: np.zeros((h + 4, w + 4, 5), dtype=np.uint8), r"channels"),
        "complex-dtype": (lambda w=width, h=height: np.zeros((h, w, 3), dtype=np.complex64), r"dtype"),
    }
    for name, (make, needle) in image_errors.items():
        error("image", f"{name}-{tag}", needle)(lambda folder, make=make: pixels(make()))


def _palette_with_transparency(width, height):
    image = Image.new("P", (width, height), 0)
    image.putpalette([0, 0, 0] * 256)
    image.info["transparency"] = 0
    return image


@handled("image", "exif-orientation-applied", lambda result: result[0, 2, SIDE // 2, 1] > result[0, 0, SIDE // 2, 1])
def _exif_rotated(folder):
    image = Image.new("RGB", (8, 8), "red")
    image.paste((0, 0, 255), (4, 0, 8, 8))  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: displayed, the left half is blue
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    return pixels(Image.open(io.BytesIO(buffer.getvalue())))


for name, make, needle in [
    ("zero-by-zero-pil", lambda: Image.new("RGB", (0, 0)), r"empty"),
    ("zero-size-array", lambda: np.zeros((0, 5, 3), dtype=np.uint8), r"empty|\(0, 5, 3\)"),
    ("five-dimensions", lambda: np.zeros((1, 1, 4, 4, 3), dtype=np.uint8), r"dimensions"),
    ("string", lambda: "not an image", r"str"),
    ("none", lambda: None, r"None"),
    ("empty-list", lambda: [], r"empty"),
    ("list-with-none", lambda: [Image.new("RGB", (4, 4)), None], r"images\[1\]"),
    ("dict", lambda: {"image": 1}, r"dict"),
    ("object-array", lambda: np.array([[object()]], dtype=object), r"dtype"),
]:
    error("image", name, needle)(lambda folder, make=make: pixels(make()))


# ================================================================================================ texts

@functools.lru_cache(maxsize=1)
def mvlt_processor():
    from fashionvl import MVLTProcessor

    return MVLTProcessor.from_captions(["red floral dress", "black leather jacket"] * 5, vocab_size=60, image_size=SIDE,
                                       model_max_length=12)


def encode(**kwargs):
    return mvlt_processor()(return_tensors="pt", **kwargs)


for name, kwargs, needle in [
    ("int-text", {"text": 5}, r"int"),
    ("list-with-int", {"text": ["ok", 1]}, r"text\[1\]"),
    ("list-with-none", {"text": [None]}, r"text\[0\]"),
    ("empty-list", {"text": []}, r"empty"),
    ("bytes", {"text": b"red dress"}, r"bytes"),
    ("neither", {}, r"neither"),
    ("overlong-without-truncation", {"text": ["red dress " * 20], "truncation": False}, r"tokens long.*max_length"),
    ("captions-per-image", {"text": ["a", "b"], "images": [Image.new("RGB", (4, 4))]}, r"1 image.*2 caption"),
    ("image-options-without-images", {"text": "a", "mask_ratio": 0.5}, r"mask_ratio"),
]:
    error("text", name, needle)(lambda folder, kwargs=kwargs: encode(**kwargs))

for name, text, check in [
    ("empty-string", "", lambda batch: batch["input_ids"].tolist() == [[2, 3]]),
    ("whitespace", "   ", lambda batch: batch["input_ids"].tolist() == [[2, 3]]),
    ("accents", "café crème", lambda batch: batch["input_ids"].shape[0] == 1),
    ("emoji", "red 👗 dress", lambda batch: 1 in batch["input_ids"][0].tolist()),
    ("long-truncated", "red dress " * 40, lambda batch: batch["input_ids"].shape[1] == 12),
    ("upper-case", "RED DRESS", lambda batch: batch["input_ids"].tolist() == encode(text="red dress")["input_ids"].tolist()),
]:
    handled("text", name, check)(lambda folder, text=text: encode(text=text))


# ================================================================================================ Karpathy JSON

def _karpathy_entries():
    return [
        {"filepath": "train2014", "filename": "a.jpg", "imgid": 0, "split": "train",
         "sentences": [{"raw": f"a caption {k}"} for k in range(5)]},
        {"filepath": "val2014", "filename": "b.jpg", "imgid": 1, "split": "train",
         "sentences": [{"raw": f"b caption {k}"} for k in range(5)]},
    ]


def karpathy(folder, mutate=None, text=None, bom=False):
    from fashionvl.data import load_karpathy

    entries = _karpathy_entries()
    if mutate is not None:
        mutate(entries)
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("filename"), str) and not os.path.isabs(
                os.path.join(entry.get("filepath", "") if isinstance(entry.get("filepath", ""), str) else "", entry["filename"])):
            target = os.path.normpath(folder / "images" / entry.get("filepath", "") / entry["filename"])
            if target.startswith(str(folder)) and entry["filename"]:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                Image.new("RGB", (4, 4), "blue").save(target, format="JPEG")
    payload = text if text is not None else json.dumps({"images": entries}, ensure_ascii=False)
    path = folder / "dataset.json"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + payload.encode("utf-8"))
    return load_karpathy(path, folder / "images", "train")


def _set(index, key, value):
    def mutate(entries):
        entries[index][key] = value
    return mutate


def _remove(index, key):
    def mutate(entries):
        del entries[index][key]
    return mutate


for name, mutate, needle in [
    ("filename-escapes-root", _set(1, "filename", "../../../../etc/passwd"), r"etc/passwd.*leaves"),
    ("filename-absolute", _set(1, "filename", "/etc/passwd"), r"/etc/passwd.*absolute"),
    ("filepath-absolute", _set(1, "filepath", "/etc"), r"absolute"),
    ("filepath-escapes-root", _set(1, "filepath", "../../.."), r"leaves"),
    ("duplicate-filename", lambda e: e[1].update(filepath="train2014", filename="a.jpg"), r"images\[1\].*a\.jpg"),
    ("duplicate-imgid", _set(1, "imgid", 0), r"images\[1\].*imgid 0"),
    ("non-integer-imgid", _set(1, "imgid", "x1"), r"imgid.*x1"),
    ("entry-not-object", lambda e: e.__setitem__(1, "b.jpg"), r"images\[1\]"),
    ("sentences-not-list", _set(1, "sentences", "b caption"), r"images\[1\].*sentences"),
    ("missing-filename", _remove(1, "filename"), r"images\[1\].*filename"),
    ("unknown-split", _set(1, "split", "training"), r"images\[1\].*training"),
    ("too-few-sentences", lambda e: e[1].update(sentences=e[1]["sentences"][:2]), r"images\[1\].*2 sentences"),
    ("sentence-without-raw", lambda e: e[1].update(sentences=[{"tokens": []}] * 5), r"images\[1\].*raw"),
    ("empty-filename", _set(1, "filename", ""), r"images\[1\].*filename"),
]:
    error("karpathy", name, needle)(lambda folder, mutate=mutate: karpathy(folder, mutate))

error("karpathy", "invalid-json", r"dataset\.json.*line 1")(lambda folder: karpathy(folder, text="{\"images\": [}"))
error("karpathy", "top-level-list", r"dataset\.json.*images")(lambda folder: karpathy(folder, text="[]"))
handled("karpathy", "utf8-bom", lambda ds: ds["filename"] == ["a.jpg", "b.jpg"])(lambda folder: karpathy(folder, bom=True))
handled("karpathy", "filename-with-spaces", lambda ds: ds["filename"][1] == "b c.jpg" and ds[1]["image"].size == (4, 4))(
    lambda folder: karpathy(folder, _set(1, "filename", "b c.jpg")))
handled("karpathy", "unicode-filename", lambda ds: ds["filename"][1] == "bébé.jpg")(
    lambda folder: karpathy(folder, _set(1, "filename", "bébé.jpg")))
handled("karpathy", "flickr-without-filepath", lambda ds: len(ds) == 2 and ds[0]["image"].size == (4, 4))(
    lambda folder: karpathy(folder, lambda e: [entry.pop("filepath") for entry in e]))
handled("karpathy", "dot-dot-inside-root", lambda ds: ds[1]["image"].size == (4, 4))(
    lambda folder: karpathy(folder, _set(1, "filepath", "val2014/../val2014")))


# ================================================================================================ DeepFashion

_DF_IMAGES = [("img/Blouse_A/img_1.jpg", 1, "1 -1", "train"), ("img/Blouse_A/img_2.jpg", 1, "-1 1", "train"),
              ("img/Shorts_B/img_1.jpg", 2, "0 1", "test")]


def deepfashion(folder, images=_DF_IMAGES, overrides=None, bom=(), crlf=False, extra=None):
    from fashionvl.data import load_deepfashion

    def table(header, rows):
        return f"{len(rows)}\n{header}\n" + "\n".join(rows) + "\n"

    files = {
        "Anno_coarse/list_category_cloth.txt": table("category_name category_type", ["Blouse 1", "Shorts 2"]),
        "Anno_coarse/list_attr_cloth.txt": table("attribute_name attribute_type", ["floral 1", "long sleeve 3"]),
        "Anno_coarse/list_category_img.txt": table("image_name category_label", [f"{n} {c}" for n, c, _, _ in images]),
        "Anno_coarse/list_attr_img.txt": table("image_name attribute_labels", [f"{n} {a}" for n, _, a, _ in images]),
        "Eval/list_eval_partition.txt": table("image_name evaluation_status", [f"{n} {s}" for n, _, _, s in images]),
        "Anno_coarse/list_bbox.txt": table("image_name x_1 y_1 x_2 y_2", [f"{n} 1 1 3 3" for n, *_ in images]),
    }
    files.update(overrides or {})
    for relative, text in files.items():
        if extra and relative in extra:
            text = extra[relative](text)
        data = text.replace("\n", "\r\n" if crlf else "\n").encode("utf-8") if isinstance(text, str) else text
        if relative.split("/")[-1] in bom:
            data = b"\xef\xbb\xbf" + data
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    for name, *_ in images:
        target = os.path.normpath(folder / "Img" / name)
        if target.startswith(str(folder)) and not os.path.isabs(name):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Image.new("RGB", (4, 4), "red").save(target, format="JPEG")
    return load_deepfashion(folder, "train")


def _append_line(line):
    def edit(text):
        lines = text.rstrip("\n").split("\n")
        lines[0] = str(int(lines[0]) + 1)
        return "\n".join(lines + [line]) + "\n"
    return edit


for name, kwargs, needle in [
    ("category-extra-column", {"extra": {"Anno_coarse/list_category_img.txt": lambda t: t.replace("img_2.jpg 1", "img_2.jpg 1 7")}},
     r"list_category_img\.txt, line 4.*2 value"),
    ("conflicting-duplicate-label", {"extra": {"Anno_coarse/list_category_img.txt": _append_line("img/Blouse_A/img_1.jpg 2")}},
     r"list_category_img\.txt, line 6.*img_1\.jpg.*line 3"),
    ("image-in-two-partitions", {"extra": {"Eval/list_eval_partition.txt": _append_line("img/Blouse_A/img_1.jpg test")}},
     r"list_eval_partition\.txt, line 6.*img_1\.jpg"),
    ("name-escapes-root", {"images": _DF_IMAGES[:2] + [("../../../etc/passwd.jpg", 2, "0 1", "train")]},
     r"list_eval_partition\.txt, line 5.*etc/passwd.*leaves"),
    ("name-absolute", {"images": _DF_IMAGES[:2] + [("/etc/passwd.jpg", 2, "0 1", "train")]},
     r"list_eval_partition\.txt, line 5.*absolute"),
    ("label-out-of-range", {"images": _DF_IMAGES[:2] + [("img/Shorts_B/img_1.jpg", 9, "0 1", "train")]},
     r"list_category_img\.txt, line 5.*9"),
    ("label-not-integer", {"images": _DF_IMAGES[:2] + [("img/Shorts_B/img_1.jpg", "x", "0 1", "train")]},
     r"list_category_img\.txt, line 5.*'x'"),
    ("attribute-value-2", {"images": _DF_IMAGES[:2] + [("img/Shorts_B/img_1.jpg", 2, "2 1", "train")]},
     r"list_attr_img\.txt, line 5.*'2'"),
    ("attribute-count", {"images": _DF_IMAGES[:2] + [("img/Shorts_B/img_1.jpg", 2, "1", "train")]},
     r"list_attr_img\.txt, line 5.*2 attribute values"),
    ("unknown-status", {"images": _DF_IMAGES[:2] + [("img/Shorts_B/img_1.jpg", 2, "0 1", "training")]},
     r"list_eval_partition\.txt, line 5.*training"),
    ("count-line-wrong", {"extra": {"Anno_coarse/list_category_img.txt": lambda t: "7" + t[1:]}},
     r"list_category_img\.txt, line 1.*7"),
    ("count-line-not-a-number", {"extra": {"Anno_coarse/list_category_img.txt": lambda t: "three" + t[1:]}},
     r"list_category_img\.txt, line 1.*three"),
    ("partition-image-without-category", {"overrides": {"Anno_coarse/list_category_img.txt":
                                                         "2\nh\nimg/Blouse_A/img_1.jpg 1\nimg/Shorts_B/img_1.jpg 2\n"}},
     r"list_category_img\.txt.*img/Blouse_A/img_2\.jpg"),
    ("bbox-not-integer", {"extra": {"Anno_coarse/list_bbox.txt": lambda t: t.replace("img_2.jpg 1 1 3 3", "img_2.jpg 1 1 x 3")}},
     r"list_bbox\.txt, line 4.*'x'"),
    ("not-utf8", {"overrides": {"Anno_coarse/list_category_img.txt": b"3\nimage_name category_label\nimg/Blouse_A/img_1.jpg 1\n\xff\xfe 1\nimg/Shorts_B/img_1.jpg 2\n"}},
     r"list_category_img\.txt, line 4.*UTF-8"),
    ("category-type-invalid", {"overrides": {"Anno_coarse/list_category_cloth.txt": "2\nh\nBlouse 1\nShorts 7\n"}},
     r"list_category_cloth\.txt, line 4.*7"),
]:
    error("deepfashion", name, needle)(lambda folder, kwargs=kwargs: deepfashion(folder, **kwargs))

for file_name in ("list_category_img.txt", "list_attr_img.txt", "list_eval_partition.txt", "list_category_cloth.txt",
                  "list_attr_cloth.txt", "list_bbox.txt"):
    handled("deepfashion", f"utf8-bom-{file_name}", lambda ds: len(ds) == 2 and ds["category"] == [0, 0])(
        lambda folder, file_name=file_name: deepfashion(folder, bom=(file_name,)))
handled("deepfashion", "names-with-spaces",
        lambda ds: ds["image_name"] == ["img/Red Silk Blouse/img 1.jpg", "img/Blouse_A/img_2.jpg"] and ds[0]["image"].size == (4, 4))(
    lambda folder: deepfashion(folder, images=[("img/Red Silk Blouse/img 1.jpg", 1, "1 -1", "train")] + _DF_IMAGES[1:]))
handled("deepfashion", "crlf-line-endings", lambda ds: len(ds) == 2 and ds["attributes"][0] == [1, -1])(
    lambda folder: deepfashion(folder, crlf=True))
handled("deepfashion", "valid-files-load", lambda ds: len(ds) == 2 and ds["bbox"][0] == [1, 1, 3, 3])(
    lambda folder: deepfashion(folder))


# ================================================================================================ DARN

def darn(folder, files=None, split="train", bom=()):
    from fashionvl.data import load_darn, load_darn_retrieval_lists

    contents = {
        "filenames_train.txt": "img/a.jpg\nimg/b.jpg\n",
        "label_train.txt": "0 0 3 2 10\n1 0 5\n",
        "filenames_test.txt": "img/c.jpg\nimg/d.jpg\n",
        "query_test.txt": "0 2 7\n",
        "candidate_test.txt": "1 2 7\n",
    }
    contents.update(files or {})
    for name, text in contents.items():
        data = text.encode("utf-8") if isinstance(text, str) else text
        (folder / name).write_bytes((b"\xef\xbb\xbf" if name in bom else b"") + data)
    (folder / "img").mkdir(exist_ok=True)
    for name in "abcd":
        Image.new("RGB", (4, 4), "green").save(folder / "img" / f"{name}.jpg")
    if split == "lists":
        return load_darn_retrieval_lists(folder, "test")
    return load_darn(folder, split)


for name, files, split, needle in [
    ("empty-label-file", {"label_train.txt": ""}, "train", r"label_train\.txt.*no label"),
    ("blank-label-file", {"label_train.txt": "\n  \n"}, "train", r"label_train\.txt.*no label"),
    ("empty-query-file", {"query_test.txt": ""}, "lists", r"query_test\.txt.*no label"),
    ("filename-escapes-root", {"filenames_train.txt": "img/a.jpg\n../../../etc/passwd\n"}, "train",
     r"filenames_train\.txt, line 2.*leaves"),
    ("filename-absolute", {"filenames_train.txt": "img/a.jpg\n/etc/passwd\n"}, "train",
     r"filenames_train\.txt, line 2.*absolute"),
    ("duplicate-filename", {"filenames_train.txt": "img/a.jpg\nimg/a.jpg\n"}, "train",
     r"filenames_train\.txt, line 2.*img/a\.jpg"),
    ("empty-filenames", {"filenames_train.txt": ""}, "train", r"filenames_train\.txt.*no image"),
    ("attribute-index-out-of-range", {"label_train.txt": "0 9 3\n"}, "train", r"label_train\.txt, line 1.*attribute index"),
    ("value-out-of-range", {"label_train.txt": "0 3 99\n"}, "train", r"label_train\.txt, line 1.*value of attribute 3"),
    ("image-index-out-of-range", {"label_train.txt": "5 0 3\n"}, "train", r"label_train\.txt, line 1.*image index"),
    ("unknown-image-name", {"label_train.txt": "img/z.jpg 0 3\n"}, "train", r"label_train\.txt, line 1.*img/z\.jpg"),
    ("even-token-count", {"label_train.txt": "0 0\n"}, "train", r"label_train\.txt, line 1.*'0 0'"),
    ("conflicting-values", {"label_train.txt": "0 0 3\n0 0 4\n"}, "train", r"label_train\.txt, line 2.*elsewhere"),
    ("query-two-pairs", {"query_test.txt": "0 2 7 3 1\n"}, "lists", r"query_test\.txt, line 1"),
    ("not-utf8", {"label_train.txt": b"0 0 3\n\xff 1 2\n"}, "train", r"label_train\.txt, line 2.*UTF-8"),
]:
    error("darn", name, needle)(lambda folder, files=files, split=split: darn(folder, files, split))

error("darn", "invalid-meta-json", r"meta\.json.*JSON")(
    lambda folder: (folder.joinpath("meta.json").write_text("{"), darn(folder))[1])
handled("darn", "utf8-bom-filenames", lambda ds: ds["image_name"] == ["img/a.jpg", "img/b.jpg"] and ds[0]["image"].size == (4, 4))(
    lambda folder: darn(folder, bom=("filenames_train.txt",)))
handled("darn", "utf8-bom-labels", lambda ds: ds["attribute_values"][0][0] == 3)(
    lambda folder: darn(folder, bom=("label_train.txt",)))
handled("darn", "crlf", lambda ds: ds["image_name"] == ["img/a.jpg", "img/b.jpg"] and ds["attribute_values"][1][0] == 5)(
    lambda folder: darn(folder, {"filenames_train.txt": "img/a.jpg\r\nimg/b.jpg\r\n", "label_train.txt": "0 0 3\r\n1 0 5\r\n"}))
handled("darn", "labels-by-name", lambda ds: ds["attribute_values"][1][0] == 5)(
    lambda folder: darn(folder, {"label_train.txt": "img/b.jpg 0 5\n"}))


# ================================================================================================ Fashion-Gen HDF5

def fashiongen(folder, change=None, caption_field="input_description", raw=None):
    h5py = pytest.importorskip("h5py")
    from fashionvl.data import load_fashiongen

    path = folder / "fashiongen.h5"
    if raw is not None:
        path.write_bytes(raw)
        return load_fashiongen(path)
    fields = {
        "input_image": np.zeros((3, 8, 8, 3), dtype=np.uint8),
        "input_description": np.array([b"red dress", b"blue coat", b"black boots"]).reshape(-1, 1),
        "input_category": np.array([b"DRESSES", b"JACKETS & COATS", b"SHOES"]).reshape(-1, 1),
        "input_subcategory": np.array([b"DRESSES", b"COATS", b"BOOTS"]).reshape(-1, 1),
        "input_productID": np.array([10, 10, 11], dtype=np.int64).reshape(-1, 1),
    }
    if change is not None:
        change(fields)
    with h5py.File(path, "w") as handle:
        for key, value in fields.items():
            handle.create_dataset(key, data=value)
    return load_fashiongen(path, caption_field=caption_field)


def _field(key, value):
    def change(fields):
        if value is None:
            del fields[key]
        else:
            fields[key] = value
    return change


for name, change, needle in [
    ("integer-categories", _field("input_category", np.array([[1], [2], [3]])), r"input_category.*dtype"),
    ("nan-product-id", _field("input_productID", np.array([[10.0], [np.nan], [11.0]])), r"input_productID.*row 1.*nan"),
    ("fractional-product-id", _field("input_productID", np.array([[10.0], [10.5], [11.0]])), r"input_productID.*10\.5"),
    ("string-product-id", _field("input_productID", np.array([[b"a"], [b"b"], [b"c"]])), r"input_productID"),
    ("zero-by-zero-images", _field("input_image", np.zeros((3, 0, 0, 3), dtype=np.uint8)), r"input_image.*empty"),
    ("float-images", _field("input_image", np.zeros((3, 8, 8, 3), dtype=np.float32)), r"input_image.*uint8"),
    ("missing-subcategory", _field("input_subcategory", None), r"missing.*input_subcategory"),
    ("column-too-short", _field("input_category", np.array([[b"DRESSES"]])), r"input_category.*shape"),
]:
    error("fashiongen", name, needle)(lambda folder, change=change: fashiongen(folder, change))

error("fashiongen", "unknown-caption-field", r"caption_field.*input_title")(
    lambda folder: fashiongen(folder, caption_field="input_title"))
error("fashiongen", "missing-file", r"missing\.h5.*does not exist")(
    lambda folder: __import__("fashionvl.data", fromlist=["x"]).load_fashiongen(folder / "missing.h5"))
error("fashiongen", "not-hdf5", r"fashiongen\.h5")(lambda folder: fashiongen(folder, raw=b"this is not HDF5"))
handled("fashiongen", "latin1-description", lambda ds: ds["caption"][0] == "robe brodée")(
    lambda folder: fashiongen(folder, _field("input_description", np.array([["robe brodée".encode("latin-1")],
                                                                              [b"blue coat"], [b"black boots"]]))))
handled("fashiongen", "integral-float-product-ids", lambda ds: ds["product_id"] == [10, 10, 11])(
    lambda folder: fashiongen(folder, _field("input_productID", np.array([[10.0], [10.0], [11.0]]))))
handled("fashiongen", "one-dimensional-string-fields", lambda ds: ds["caption"] == ["red dress", "blue coat", "black boots"])(
    lambda folder: fashiongen(folder, _field("input_description", np.array([b"red dress", b"blue coat", b"black boots"]))))


# ================================================================================================ gallery index

def _unit(rows, dim=4, seed=0):
    return torch.nn.functional.normalize(torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)), dim=-1)


def crafted_index(folder, items=("a.png", "b.png", "c.png"), json_edit=None, embeddings=None, raw_json=None,
                  raw_embeddings=None, bom=False):
    from safetensors.torch import save_file

    from fashionvl import FashionGalleryIndex

    index_folder = folder / "gallery"
    FashionGalleryIndex(_unit(3), ids=["x", "y", "z"], items=list(items)).save(index_folder)
    if embeddings is not None:
        save_file(embeddings, str(index_folder / "embeddings.safetensors"))
    if raw_embeddings is not None:
        (index_folder / "embeddings.safetensors").write_bytes(raw_embeddings)
    description = json.loads((index_folder / "index.json").read_text())
    if embeddings is not None or raw_embeddings is not None:
        description.pop("embeddings_sha256", None)
    if json_edit is not None:
        json_edit(description)
    text = raw_json if raw_json is not None else json.dumps(description)
    (index_folder / "index.json").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return FashionGalleryIndex.load(index_folder)


def open_index_item(index, position):
    """Open an index item the way two-stage re-ranking does (this package's open_item, or the older pipeline's
    load_image on the raw item)."""
    if hasattr(index, "open_item"):
        return index.open_item(position)
    from fashionvl.pipelines.fashion_retrieval import load_image

    return load_image(index.items[position], f"index.items[{position}]")


def _write_png(path, colour="red"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), colour).save(path)


for name, item, needle in [
    ("item-absolute-path", "/etc/passwd", r"index\.items\[0\].*/etc/passwd.*absolute"),
    ("item-escapes-root", "../../../../etc/passwd", r"index\.items\[0\].*leaves"),
    ("item-escapes-to-sibling", "../outside.png", r"index\.items\[0\].*leaves"),
    ("item-url", "http://127.0.0.1:9/attacker.png", r"index\.items\[0\].*allow_remote"),
    ("item-https-url", "https://127.0.0.1:9/attacker.png", r"index\.items\[0\].*allow_remote"),
]:
    def run(folder, item=item):
        _write_png(folder / "outside.png")
        return open_index_item(crafted_index(folder, items=(item, "b.png", "c.png")), 0)
    error("index", name, needle)(run)

for name, kwargs, needle in [
    ("embeddings-scaled-by-ten", {"embeddings": {"embeddings": 10 * _unit(3)}}, r"norm 10"),
    ("embeddings-of-another-save", {"json_edit": lambda d: None, "embeddings": {"embeddings": _unit(3, seed=5)}},
     None),  # placeholder replaced below
    ("ids-count", {"json_edit": lambda d: d.update(ids=["x", "y"])}, r"2 ids for 3"),
    ("items-count", {"json_edit": lambda d: d.update(items=["a.png"])}, r"1 items for 3"),
    ("malformed-json", {"raw_json": "{\"num_items\": 3,"}, r"index\.json.*line 1"),
    ("format-version", {"json_edit": lambda d: d.update(format_version=2)}, r"format_version 2"),
    ("truncated-safetensors", {"raw_embeddings": b"\x10\x00\x00\x00\x00\x00\x00\x00{\"embeddings\""}, r"embeddings\.safetensors"),
    ("nan-embedding", {"embeddings": {"embeddings": torch.tensor([[float("nan")] * 4] * 3)}}, r"item 0.*not finite"),
    ("num-items-string", {"json_edit": lambda d: d.update(num_items="3")}, r"num_items"),
    ("ids-not-list", {"json_edit": lambda d: d.update(ids="xyz")}, r"ids"),
    ("items-not-strings", {"json_edit": lambda d: d.update(items=[1, 2, 3])}, r"items"),
    ("json-is-a-list", {"raw_json": "[1, 2]"}, r"index\.json.*object"),
    ("wrong-tensor-name", {"embeddings": {"vectors": _unit(3)}}, r"embeddings\.safetensors.*'embeddings'"),
    ("duplicate-ids", {"json_edit": lambda d: d.update(ids=["x", "x", "z"])}, r"unique"),
    ("dim-disagrees", {"json_edit": lambda d: d.update(dim=8)}, r"\(3, 4\).*\(3, 8\)"),
]:
    if name == "embeddings-of-another-save":
        def run(folder):
            from fashionvl import FashionGalleryIndex

            index_folder = crafted_index(folder) and folder / "gallery"
            other = folder / "other"
            FashionGalleryIndex(_unit(3, seed=5), ids=["x", "y", "z"], items=["a.png", "b.png", "c.png"]).save(other)
            shutil.copy(other / "embeddings.safetensors", index_folder / "embeddings.safetensors")  # kill mid-save
            return FashionGalleryIndex.load(index_folder)
        error("index", name, r"different saves")(run)
        continue
    error("index", name, needle)(lambda folder, kwargs=kwargs: crafted_index(folder, **kwargs))

error("index", "missing-embeddings-file", r"embeddings\.safetensors")(
    lambda folder: (crafted_index(folder), os.remove(folder / "gallery" / "embeddings.safetensors"),
                    __import__("fashionvl").FashionGalleryIndex.load(folder / "gallery"))[2])
handled("index", "utf8-bom-json", lambda index: index.ids == ["x", "y", "z"])(lambda folder: crafted_index(folder, bom=True))
handled("index", "index-without-checksum", lambda index: len(index) == 3)(
    lambda folder: crafted_index(folder, json_edit=lambda d: d.pop("embeddings_sha256", None)))


def _inside_root(folder):
    index = crafted_index(folder, items=("photos/a.png", "b.png", "c.png"))
    _write_png(folder / "gallery" / "photos" / "a.png", "blue")
    return open_index_item(index, 0)


handled("index", "item-inside-the-index-folder", lambda image: image.getpixel((0, 0))[:3] == (0, 0, 255))(_inside_root)


# ================================================================================================ pipeline


@functools.lru_cache(maxsize=1)
def mfsr_pipeline():
    from test_pipeline_retrieval import build_mfsr_checkpoint
    from transformers import pipeline

    folder = scratch_folder("bad-inputs-mfsr-")
    build_mfsr_checkpoint(folder)
    return pipeline("fashion-retrieval", model=str(folder))


GALLERY = [Image.new("RGB", (12, 12), colour) for colour in ("red", "blue", "white", (128, 128, 128))]


def retrieve(*args, **kwargs):
    return mfsr_pipeline()(*args, **kwargs)


for name, args, kwargs, needle in [
    ("top-k-zero", ("red dress",), {"images": GALLERY, "top_k": 0}, r"top_k.*0"),
    ("top-k-negative", ("red dress",), {"images": GALLERY, "top_k": -2}, r"top_k.*-2"),
    ("top-k-string", ("red dress",), {"images": GALLERY, "top_k": "3"}, r"top_k.*'3'"),
    ("top-k-float", ("red dress",), {"images": GALLERY, "top_k": 2.5}, r"top_k.*2\.5"),
    ("batch-size-string", ("red dress",), {"images": GALLERY, "batch_size": "4"}, r"batch_size.*'4'"),
    ("batch-size-negative", ("red dress",), {"images": GALLERY, "batch_size": -1}, r"batch_size.*-1"),
    ("images-empty", ("red dress",), {"images": []}, r"images is empty"),
    ("images-a-string", ("red dress",), {"images": "a.jpg"}, r"images must be a list"),
    ("images-with-int", ("red dress",), {"images": [GALLERY[0], 1]}, r"images\[1\]"),
    ("images-mixed", ("red dress",), {"images": [GALLERY[0], "a.jpg"]}, r"images\[1\].*mixed"),
    ("image-missing-file", ("red dress",), {"images": ["/nonexistent/a.jpg"]}, r"images\[0\].*no such file"),
    ("image-url-without-opt-in", ("red dress",), {"images": ["http://127.0.0.1:9/a.png"]}, r"images\[0\].*allow_remote"),
    ("texts-with-int", (GALLERY[0],), {"texts": ["red", 3]}, r"texts\[1\]"),
    ("both-candidates", ("red dress",), {"images": GALLERY, "texts": ["a"]}, r"not both"),
    ("no-candidates", ("red dress",), {}, r"needs candidates"),
    ("unknown-argument", ("red dress",), {"images": GALLERY, "topk": 3}, r"topk"),
    ("score-for-mfsr", ("red dress",), {"images": GALLERY, "score": "itm"}, r"score='itm'"),
    ("attributes-for-mfsr", ("red dress",), {"images": GALLERY, "attributes": ["floral"]}, r"attributes"),
    ("timeout-negative", ("red dress",), {"images": GALLERY, "timeout": -1}, r"timeout.*-1"),
    ("max-image-bytes-zero", ("red dress",), {"images": GALLERY, "max_image_bytes": 0}, r"max_image_bytes.*0"),
    ("allow-remote-string", ("red dress",), {"images": GALLERY, "allow_remote": "yes"}, r"allow_remote.*'yes'"),
    ("index-not-an-index", ("red dress",), {"index": "gallery/"}, r"FashionGalleryIndex.*str"),
    ("query-none", (None,), {"images": GALLERY}, r"query.*NoneType"),
    ("query-int", (5,), {"images": GALLERY}, r"query.*int"),
    ("queries-empty", ([],), {"images": GALLERY}, r"empty list of queries"),
    ("queries-with-int", (["red", 4],), {"images": GALLERY}, r"queries\[1\]"),
    ("image-query-missing-file", ("/nonexistent/q.jpg",), {"texts": ["red dress"]}, r"query.*q\.jpg.*no such file"),
]:
    error("pipeline", name, needle)(lambda folder, args=args, kwargs=kwargs: retrieve(*args, **kwargs))


def _file_candidate(folder, writer):
    path = folder / "candidate"
    writer(path)
    return str(path)


error("pipeline", "image-is-a-directory", r"images\[0\]")(lambda folder: retrieve("red", images=[str(folder)]))
error("pipeline", "image-is-a-text-file", r"images\[0\].*could not be read")(
    lambda folder: retrieve("red", images=[_file_candidate(folder, lambda p: p.write_text("hello"))]))
error("pipeline", "image-truncated-png", r"images\[0\].*could not be read")(
    lambda folder: retrieve("red", images=[_file_candidate(folder, lambda p: p.write_bytes(_png(_noise())[:2000]))]))


def _noise():
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def _png(image, **save):
    buffer = io.BytesIO()
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


def ranks_like(reference_image):
    """Check: the pipeline's scores for the odd image equal those of ``reference_image`` (as an RGB PIL image)."""
    def check(result):
        expected = retrieve("red dress", images=[reference_image], top_k=None)
        return abs(result[0]["score"] - expected[0]["score"]) < 1e-5
    return check


for name, writer, reference in [
    ("rgba-png-transparent", lambda p: Image.new("RGBA", (12, 12), (0, 0, 0, 0)).save(p, format="PNG"), "white"),
    ("la-png-transparent", lambda p: Image.new("LA", (12, 12), (0, 0)).save(p, format="PNG"), "white"),
    ("palette-png-transparent", lambda p: _palette_with_transparency(12, 12).save(p, format="PNG", transparency=0), "white"),
    ("sixteen-bit-png", lambda p: Image.fromarray(np.full((12, 12), 32768, dtype=np.uint16)).save(p, format="PNG"),
     (128, 128, 128)),
    ("float-tiff", lambda p: Image.fromarray(np.full((12, 12), 0.5, dtype=np.float32)).save(p, format="TIFF"),
     (128, 128, 128)),
    ("rgb-png", lambda p: Image.new("RGB", (12, 12), "blue").save(p, format="PNG"), "blue"),
    ("grey-jpeg", lambda p: Image.new("L", (12, 12), 128).save(p, format="JPEG", quality=100), (128, 128, 128)),
]:
    handled("pipeline", name, ranks_like(Image.new("RGB", (12, 12), reference)))(
        lambda folder, writer=writer: retrieve("red dress", images=[_file_candidate(folder, writer)], top_k=None))

for name, image, reference in [
    ("rgba-pil-transparent", Image.new("RGBA", (12, 12), (0, 0, 0, 0)), "white"),
    ("la-pil-transparent", Image.new("LA", (12, 12), (0, 0)), "white"),
    ("sixteen-bit-pil", Image.fromarray(np.full((12, 12), 32768, dtype=np.uint16)), (128, 128, 128)),
]:
    handled("pipeline", name, ranks_like(Image.new("RGB", (12, 12), reference)))(
        lambda folder, image=image: retrieve("red dress", images=[image], top_k=None))

handled("pipeline", "top-k-none-gives-all", lambda result: len(result) == len(GALLERY))(
    lambda folder: retrieve("red dress", images=GALLERY, top_k=None))
handled("pipeline", "top-k-above-candidates", lambda result: len(result) == len(GALLERY))(
    lambda folder: retrieve("red dress", images=GALLERY, top_k=50))


# ================================================================================================ checkpoints

@functools.lru_cache(maxsize=1)
def checkpoint_folders():
    from test_pipeline_retrieval import build_mfsr_checkpoint, build_mvlt_checkpoint

    root = scratch_folder("bad-inputs-checkpoints-")
    build_mvlt_checkpoint(root / "mvlt")
    build_mfsr_checkpoint(root / "mfsr")
    return root


def checkpoint_copy(folder, kind, edit=None):
    target = folder / kind
    shutil.copytree(checkpoint_folders() / kind, target)
    if edit is not None:
        edit(target)
    return target


def _pipeline_at(path):
    from transformers import pipeline

    return pipeline("fashion-retrieval", model=str(path))


def _load_checkpoint(path, **kwargs):
    from fashionvl.hub import load_checkpoint

    return load_checkpoint(path, **kwargs)


def _drop_tokenizer(folder):
    for name in ("tokenizer.json", "vocab.txt"):
        if (folder / name).exists():
            os.remove(folder / name)


error("checkpoint", "mvlt-without-tokenizer-files-pipeline", r"tokenizer.*vocab_size")(
    lambda folder: _pipeline_at(checkpoint_copy(folder, "mvlt", _drop_tokenizer)))
error("checkpoint", "mvlt-without-tokenizer-files-load", r"tokenizer.*vocab_size")(
    lambda folder: _load_checkpoint(checkpoint_copy(folder, "mvlt", _drop_tokenizer)))
error("checkpoint", "mvlt-weights-with-mfsr-config", r"weights .*(not in the checkpoint|another model)")(
    lambda folder: _pipeline_at(checkpoint_copy(folder, "mvlt", lambda f: shutil.copy(
        checkpoint_folders() / "mfsr" / "config.json", f / "config.json"))))
error("checkpoint", "load-as-another-architecture", r"MFSRConfig|another")(
    lambda folder: _load_checkpoint(checkpoint_copy(folder, "mvlt"), model_class="MFSRModel"))
error("checkpoint", "missing-weights", r"model\.safetensors|pytorch_model")(
    lambda folder: _load_checkpoint(checkpoint_copy(folder, "mvlt", lambda f: os.remove(f / "model.safetensors"))))
error("checkpoint", "unknown-class", r"NoSuchModel")(
    lambda folder: _load_checkpoint(checkpoint_copy(folder, "mvlt"), model_class="NoSuchModel"))
handled("checkpoint", "mvlt-loads", lambda loaded: type(loaded[0]).__name__ == "MVLTForImageTextRetrieval")(
    lambda folder: _load_checkpoint(checkpoint_copy(folder, "mvlt")))
handled("checkpoint", "mfsr-pipeline-builds", lambda retriever: retriever.model.config.model_type == "mfsr")(
    lambda folder: _pipeline_at(checkpoint_copy(folder, "mfsr")))


# ================================================================================================ configs



def _config(name, **kwargs):
    import fashionvl

    return getattr(fashionvl, name)(**kwargs)


for name, config, kwargs, needle, owner in [
    ("mvlt-negative-layer-norm-eps", "MVLTConfig", {"layer_norm_eps": -1e-6}, r"layer_norm_eps", None),
    ("mvlt-negative-initializer-range", "MVLTConfig", {"initializer_range": -0.1}, r"initializer_range", None),
    ("mvlt-all-loss-weights-zero", "MVLTConfig", {"mir_loss_weight": 0.0, "itm_loss_weight": 0.0, "mlm_loss_weight": 0.0,
                                                  "itc_loss_weight": 0.0}, r"loss_weight", None),
    ("mfsr-negative-margin", "MFSRConfig", {"margin": -0.2}, r"margin", None),
    ("mfsr-negative-initializer-range", "MFSRConfig", {"initializer_range": -0.5}, r"initializer_range", None),
    ("mfsr-all-loss-weights-zero", "MFSRConfig", {"modal_loss_weight": 0.0, "semantic_loss_weight": 0.0,
                                                  "specific_loss_weight": 0.0, "image_reconstruction_loss_weight": 0.0,
                                                  "caption_reconstruction_loss_weight": 0.0}, r"loss_weight", None),
]:
    error("config", name, needle, owner=owner)(lambda folder, config=config, kwargs=kwargs: _config(config, **kwargs))


def _mfsr_config_as_mvlt(folder):
    import fashionvl

    fashionvl.MFSRConfig.from_preset("tiny", vocab_size=50).save_pretrained(folder)
    return fashionvl.MVLTConfig.from_pretrained(folder)


error("config", "mfsr-config-json-as-mvlt", r"mfsr")(_mfsr_config_as_mvlt)


# ================================================================================================ model inputs



@functools.lru_cache(maxsize=1)
def tiny_mvlt():
    import fashionvl

    torch.manual_seed(0)
    config = fashionvl.MVLTConfig.from_preset("tiny", vocab_size=50)
    return fashionvl.MVLTForPreTraining(config).eval()


def mvlt_inputs(**changes):
    model = tiny_mvlt()
    size = model.config.image_size
    inputs = {
        "input_ids": torch.tensor([[2, 7, 9, 3], [2, 8, 3, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
        "token_type_ids": torch.zeros(2, 4, dtype=torch.long),
        "pixel_values": torch.zeros(2, 3, size, size),
    }
    inputs.update(changes)
    with torch.no_grad():
        return model(**inputs)


def _num_units():
    config = tiny_mvlt().config
    return (config.image_size // config.mask_unit_size) ** 2


for name, changes, needle in [
    ("nan-pixel-values", lambda: {"pixel_values": torch.full((2, 3, 64, 64), float("nan"))}, r"pixel_values.*NaN"),
    ("uint8-pixel-values", lambda: {"pixel_values": torch.zeros(2, 3, 64, 64, dtype=torch.uint8)}, r"pixel_values.*uint8"),
    ("size-not-multiple-of-stride", lambda: {"pixel_values": torch.zeros(2, 3, 70, 70)}, r"pixel_values.*70"),
    ("float-bool-masked-pos", lambda: {"bool_masked_pos": torch.rand(2, _num_units())}, r"bool_masked_pos.*float"),
    ("input-ids-out-of-range", lambda: {"input_ids": torch.tensor([[2, 70, 9, 3], [2, 8, 3, 0]])}, r"input_ids.*70"),
    ("token-type-ids-out-of-range", lambda: {"token_type_ids": torch.full((2, 4), 2)}, r"token_type_ids.*2"),
    ("mlm-labels-out-of-range", lambda: {"mlm_labels": torch.tensor([[-100, 60, -100, -100]] * 2)}, r"mlm_labels.*60"),
]:
    error("model", name, needle)(lambda folder, changes=changes: mvlt_inputs(**changes()))


def _mfsr_batch_of_one(folder):
    import fashionvl

    config = fashionvl.MFSRConfig.from_preset("tiny", vocab_size=30)
    model = fashionvl.MFSRForRetrieval(config).train()
    size = getattr(config, "image_size", None) or 64
    return model(pixel_values=torch.zeros(1, 3, size, size), input_ids=torch.tensor([[1, 5, 6, 2]]),
                 attention_mask=torch.ones(1, 4, dtype=torch.long))


error("model", "mfsr-training-batch-of-one", r"batch.*(one|1)\b")(_mfsr_batch_of_one)


# ================================================================================================ the tests

def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=f"fix belongs to {case.owner}")] if case.owner else []
    return pytest.param(case, id=case.id, marks=marks)


def test_the_corpus_has_at_least_200_cases_over_every_family():
    families = Counter(case.family for case in CASES)
    assert len(CASES) >= 200 and len({case.id for case in CASES}) == len(CASES)
    assert set(families) >= {"image", "text", "karpathy", "deepfashion", "darn", "fashiongen", "index", "pipeline",
                             "checkpoint", "config", "model"}


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input_has_its_expected_outcome(case, tmp_path):
    outcome, detail = classify(case, tmp_path)
    assert outcome == case.expected, detail


def summarise() -> dict:
    """{family: {outcome: count}} over every case, and the total."""
    counts: dict[str, Counter] = defaultdict(Counter)
    details = []
    torch.set_num_threads(1)
    for case in CASES:
        folder = Path(tempfile.mkdtemp(prefix="bad-input-"))
        try:
            outcome, detail = classify(case, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        counts[case.family][outcome] += 1
        counts["total"][outcome] += 1
        details.append({"case": case.id, "expected": case.expected, "outcome": outcome, "detail": detail[:300],
                        "owner": case.owner})
    return {"counts": {family: dict(values) for family, values in counts.items()}, "cases": details}


if __name__ == "__main__":
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    report = summarise()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(report, indent=1))
    classes = ("clear_error", "handled", "unclear_error", "silent")
    print(f"{'family':<12}" + "".join(f"{name:>15}" for name in classes))
    for family, values in sorted(report["counts"].items(), key=lambda item: item[0] == "total"):
        print(f"{family:<12}" + "".join(f"{values.get(name, 0):>15}" for name in classes))
