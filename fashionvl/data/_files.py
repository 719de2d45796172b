"""Small shared helpers of the loaders: format errors that name the file and line, text decoding, image paths
that must stay inside the dataset root."""

from __future__ import annotations

import os
import re

from .._safe_io import UnsafePathError, resolve_under_root

#: A file name ends with one of these (case-insensitive); names may contain spaces (DeepFashion item titles).
IMAGE_NAME = re.compile(r"^(.*?\.(?:jpe?g|png|bmp|gif|webp|tiff?))(?=\s|$)", flags=re.IGNORECASE)


class DataFormatError(ValueError):
    """A data file does not have the expected format; the message names the file and line."""

    def __init__(self, path, line: int | None, message: str):
        location = f"{os.fspath(path)}" if line is None else f"{os.fspath(path)}, line {line}"
        super().__init__(f"{location}: {message}")
        self.path = os.fspath(path)
        self.line = line


def iter_text_lines(path):
    """Yield ``(1-based line number, line)`` of a UTF-8 text file (a leading BOM is dropped); a line that is not
    UTF-8 is a `DataFormatError` naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"expected the file {os.fspath(path)}, which does not exist")
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataFormatError(path, number, f"not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_lines(path) -> list[tuple[int, str]]:
    """Non-empty lines of a text file as ``(1-based line number, stripped text)``."""
    return [(number, line.strip()) for number, line in iter_text_lines(path) if line.strip()]


def split_image_name(text: str) -> tuple[str, list[str]]:
    """``"img/Red Dress/img_1.jpg 3 7"`` -> ``("img/Red Dress/img_1.jpg", ["3", "7"])``.

    The name runs to the first token ending in an image extension (so names may contain spaces); without such a
    token it is the first whitespace-separated token.
    """
    match = IMAGE_NAME.match(text)
    if match:
        return match.group(1), text[match.end():].split()
    tokens = text.split()
    return tokens[0], tokens[1:]


def image_path_under(root, name: str, path, line: int | None) -> str:
    """``root / name`` for an image name read from ``path`` (line ``line``); absolute names and names that leave
    ``root`` are a `DataFormatError`."""
    try:
        return resolve_under_root(name, root, "the image name")
    except UnsafePathError as error:
        raise DataFormatError(path, line, str(error)) from None


def parse_int(path, line: int, token: str, what: str, allowed=None) -> int:
    """``int(token)`` or a `DataFormatError` naming file, line and what the token should be."""
    try:
        value = int(token)
    except ValueError:
        raise DataFormatError(path, line, f"expected an integer {what}, got {token!r}") from None
    if allowed is not None and value not in allowed:
        raise DataFormatError(path, line, f"{what} must be in {sorted(allowed) if len(allowed) < 12 else f'[{min(allowed)}, {max(allowed)}]'}, got {value}")
    return value


def decode_text(raw) -> str:
    """Decode a byte string from a data file: UTF-8, falling back to Latin-1; NUL padding removed."""
    if isinstance(raw, str):
        return raw.strip("\x00").strip()
    raw = bytes(raw).rstrip(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1", errors="ignore")
    return text.strip()


def normalise_split(split: str, aliases: dict[str, str], allowed: tuple[str, ...]) -> str:
    """Map a split name through ``aliases`` and check it is one of ``allowed``."""
    name = aliases.get(split, split)
    if name not in allowed:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(set(allowed) | set(aliases))}")
    return name


def splits_to_write(catalog, names: dict[str, str]) -> list[tuple[str, object]]:
    """The splits a format writer writes: ``[(format split name, dataset)]`` for a DatasetDict, or for a single
    Dataset (its ``split``, else train); ``names`` maps our split names to the format's."""
    if hasattr(catalog, "column_names") and not isinstance(catalog.column_names, dict):
        return [(names.get(str(catalog.split or "train"), "train"), catalog)]
    unknown = sorted(set(catalog) - set(names))
    if unknown:
        raise ValueError(f"unknown split name(s) {unknown}; expected a subset of {sorted(names)}")
    return [(names[split], dataset) for split, dataset in catalog.items()]
