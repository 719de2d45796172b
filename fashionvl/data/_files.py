"""Small shared helpers of the loaders: format errors that name the file and line, text decoding."""

from __future__ import annotations

import os


class DataFormatError(ValueError):
    """A data file does not have the expected format; the message names the file and line."""

    def __init__(self, path, line: int | None, message: str):
        location = f"{os.fspath(path)}" if line is None else f"{os.fspath(path)}, line {line}"
        super().__init__(f"{location}: {message}")
        self.path = os.fspath(path)
        self.line = line


def read_lines(path) -> list[tuple[int, str]]:
    """Non-empty lines of a text file as ``(1-based line number, stripped text)``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"expected the file {os.fspath(path)}, which does not exist")
    with open(path, encoding="utf-8") as handle:
        return [(number, line.strip()) for number, line in enumerate(handle, start=1) if line.strip()]


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
