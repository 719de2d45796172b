"""Untrusted strings and interrupted writes: the one home of path containment, URL fetching and atomic folders.

Three things every part of the package that reads a path or URL it did not choose, or writes a folder that
must survive a ``kill -9``, does the same way:

- :func:`resolve_under_root`: a relative path from a data file (an annotation line, an index item) resolved
  against a root; absolute paths and ``..`` that leave the root are refused with an error naming the value.
  The check is lexical (``os.path.normpath``): a symbolic link inside the root is followed, as the root's owner
  put it there.
- :func:`fetch_url` / :func:`open_image`: http(s) images are fetched only when the caller opted in
  (``allow_remote=True``), with a total ``timeout`` (seconds, for the whole download), a size cap
  (``max_image_bytes``) and no redirect to another host. The pipeline and the gallery index's two-stage
  re-ranking both open images through :func:`open_image`. Images come back as opened (mode, alpha, bit depth
  untouched, EXIF orientation applied): the image processor does the conversion to RGB.
- :func:`atomic_folder`: write a folder into a temporary sibling and swap it into place with one rename
  (``renameat2(RENAME_EXCHANGE)`` on Linux when the folder exists), so a reader sees the old folder or the new
  one, never a mix. :func:`replace_files_in_order` is the fallback for folders shared with other content
  (weights first, ``config.json`` last). :func:`atomic_write_text` does the same for one file.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
URL_SCHEMES = ("http://", "https://")
_CHUNK_BYTES = 64 * 1024


class UnsafePathError(ValueError):
    """A path from untrusted data is absolute or leaves its root; the message names the value and the root."""


class RemoteImageError(ValueError):
    """A URL was not fetched: remote loading is off, the server timed out, redirected away, or sent too much."""


def is_url(source: Any) -> bool:
    """True for ``http://`` / ``https://`` strings (case-insensitive scheme)."""
    return isinstance(source, str) and source[:8].lower().startswith(URL_SCHEMES)


def resolve_under_root(relative: str | os.PathLike, root: str | os.PathLike, what: str) -> str:
    """``root / relative``, refusing absolute paths and ``..`` that leave ``root``.

    Args:
        relative: the untrusted path (an annotation's file name, an index item).
        root: the folder it must stay in.
        what: how the error names the value, e.g. ``"index.items[3]"`` or ``"dataset.json, images[2] filename"``.

    Raises:
        UnsafePathError: naming ``what``, the value and the root.
    """
    text = os.fspath(relative)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise UnsafePathError(f"{what} ({text!r}) is not a usable relative path.")
    if os.path.isabs(text) or (os.name == "nt" and os.path.splitdrive(text)[0]):
        raise UnsafePathError(f"{what} ({text!r}) is an absolute path; only paths relative to {os.fspath(root)!r} "
                              "are accepted.")
    root_text = os.path.abspath(os.fspath(root))
    resolved = os.path.normpath(os.path.join(root_text, text))
    if os.path.commonpath([root_text, resolved]) != root_text:
        raise UnsafePathError(f"{what} ({text!r}) leaves its root {root_text!r} (resolves to {resolved!r}).")
    return resolved


# ------------------------------------------------------------------------------------------------ URLs


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme + host + port as the original request."""

    def __init__(self, original_url: str):
        super().__init__()
        self.origin = urllib.parse.urlsplit(original_url)[:2]

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (target.scheme, target.netloc) != self.origin:
            raise RemoteImageError(
                f"{req.full_url!r} redirects ({code}) to another host, {newurl!r}; redirects are only followed "
                "within the same host."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _set_socket_timeout(response, seconds: float) -> None:
    """Best effort: bound the next blocking read of ``response`` by ``seconds``."""
    with contextlib.suppress(AttributeError, OSError):
        response.fp.raw._sock.settimeout(max(seconds, 0.01))


def fetch_url(url: str, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> bytes:
    """The body of an http(s) ``url``, at most ``max_bytes``, within ``timeout`` seconds in total.

    Raises:
        RemoteImageError: naming the URL, on a timeout, a too large body, a redirect to another host or an HTTP /
            network error.
    """
    if not is_url(url):
        raise RemoteImageError(f"{url!r} is not an http(s) URL.")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    if not (isinstance(max_bytes, int) and max_bytes > 0):
        raise ValueError(f"max_image_bytes must be a positive int, got {max_bytes!r}.")
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(_SameHostRedirects(url))
    try:
        with opener.open(urllib.request.Request(url, headers={"User-Agent": "fashionvl"}), timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise RemoteImageError(f"{url!r} sends {int(declared)} bytes, more than max_image_bytes={max_bytes}.")
            chunks, received = [], 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RemoteImageError(f"{url!r} did not finish within timeout={timeout} s ({received} bytes so far).")
                _set_socket_timeout(response, remaining)
                chunk = response.read1(_CHUNK_BYTES)
                if not chunk:
                    break
                received += len(chunk)
                if received > max_bytes:
                    raise RemoteImageError(f"{url!r} sends more than max_image_bytes={max_bytes} bytes.")
                chunks.append(chunk)
            return b"".join(chunks)
    except RemoteImageError:
        raise
    except TimeoutError as error:  # socket.timeout is TimeoutError
        raise RemoteImageError(f"{url!r} did not answer within timeout={timeout} s.") from error
    except urllib.error.HTTPError as error:
        raise RemoteImageError(f"{url!r} answered HTTP {error.code} ({error.reason}).") from error
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            raise RemoteImageError(f"{url!r} did not answer within timeout={timeout} s.") from error
        raise RemoteImageError(f"{url!r} could not be fetched: {reason}.") from error
    except OSError as error:
        raise RemoteImageError(f"{url!r} could not be fetched: {error}.") from error


# ------------------------------------------------------------------------------------------------ images


def _decode_image(data: bytes | str | os.PathLike, where: str, source: str):
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        image.load()
        if image.width == 0 or image.height == 0:
            raise ValueError(f"it is empty ({image.width}x{image.height} pixels)")
        return ImageOps.exif_transpose(image)  # orientation applied; mode, alpha and bit depth untouched
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(f"{where} ({source!r}) could not be read as an image: {error}") from error


def open_image(
    item: Any,
    where: str,
    root: str | os.PathLike | None = None,
    allow_remote: bool = False,
    timeout: float | None = None,
    max_image_bytes: int | None = None,
):
    """A PIL image from a PIL image, a file path, an http(s) URL (opt-in) or a ``data:image/...;base64,`` URI.

    Args:
        item: the image or its source.
        where: how errors name the item (``"images[3]"``, ``"index.items[7]"``).
        root: when given, ``item`` is an untrusted relative path and must stay inside ``root``
            (:func:`resolve_under_root`); ``None`` opens paths as given (the caller chose them).
        allow_remote: fetch http(s) URLs; off by default, so an untrusted string cannot make the process
            contact a server.
        timeout: seconds for a whole download (default 10).
        max_image_bytes: largest download accepted (default 20 MiB).

    Returns:
        The opened image with EXIF orientation applied and its mode unchanged (RGBA, LA, P, I;16, F ... are
        converted to RGB by the image processor, which composites transparency on white).

    Raises:
        ValueError: naming ``where`` and the value (:class:`RemoteImageError` for URLs, :class:`UnsafePathError`
            for paths outside ``root``).
    """
    from PIL import Image

    if isinstance(item, Image.Image):
        return item
    if not isinstance(item, (str, os.PathLike)):
        raise ValueError(f"{where} is a {type(item).__name__} ({item!r:.60}); expected a PIL image or a path / URL.")
    source = os.fspath(item)
    if is_url(source):
        if not allow_remote:
            raise RemoteImageError(
                f"{where} is a URL ({source!r}); fetching remote images is off: pass allow_remote=True (with "
                "timeout= and max_image_bytes=) to the pipeline or the call to fetch it."
            )
        data = fetch_url(source, timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                         max_bytes=DEFAULT_MAX_IMAGE_BYTES if max_image_bytes is None else max_image_bytes)
        return _decode_image(data, where, source)
    if source.startswith("data:image/"):
        header, _, payload = source.partition(",")
        if ";base64" not in header:
            raise ValueError(f"{where} ({source[:40]!r}...) is a data URI without ;base64 encoding.")
        limit = DEFAULT_MAX_IMAGE_BYTES if max_image_bytes is None else max_image_bytes
        if len(payload) * 3 // 4 > limit:
            raise ValueError(f"{where} is a data URI of about {len(payload) * 3 // 4} bytes, more than "
                             f"max_image_bytes={limit}.")
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError as error:
            raise ValueError(f"{where} ({source[:40]!r}...) is not valid base64: {error}") from error
        return _decode_image(data, where, source[:40] + "...")
    path = resolve_under_root(source, root, where) if root is not None else source
    if not os.path.isfile(path):
        raise ValueError(f"{where} ({source!r}) could not be read as an image: no such file"
                         + (f" under {os.fspath(root)!r}." if root is not None else "."))
    return _decode_image(path, where, source)


# ------------------------------------------------------------------------------------------------ atomic folders

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return result == 0


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def replace_folder(new: Path, final: Path) -> None:
    """Move the finished folder ``new`` to ``final`` in one step (``final`` may exist; its old content goes)."""
    new, final = Path(new), Path(final)
    if not final.exists():
        os.rename(new, final)
        return
    if not final.is_dir():
        raise NotADirectoryError(f"{final} exists and is not a folder.")
    if _exchange(new, final):
        shutil.rmtree(new, ignore_errors=True)  # now holds the old content
        return
    try:
        os.rename(new, final)  # POSIX replaces an empty folder atomically
        return
    except OSError:
        pass
    # Fallback (no renameat2): a short window in which `final` is missing, never one in which it is mixed.
    backup = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    os.rmdir(backup)
    os.rename(final, backup)
    os.rename(new, final)
    shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike, fsync: bool = True) -> Iterator[Path]:
    """Write a folder atomically: yields a temporary sibling folder; on success it replaces ``final``.

    A process killed inside the block leaves ``final`` as it was (plus a ``.<name>.tmp-*`` sibling, removed by
    the next successful write); an exception removes the temporary folder and re-raises.
    """
    final = Path(final).absolute()
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        _remove_if_abandoned(stale)
    temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    try:
        yield temporary
        if fsync:
            _fsync_tree(temporary)
        replace_folder(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and one ``os.replace``: a reader (or
    a kill mid-write) sees the old file or the new one, never a truncated one."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~_current_umask())  # what open() would give, not mkstemp's 0600
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_if_abandoned(folder: Path) -> None:
    """Remove a ``.<name>.tmp-<pid>-*`` folder whose writing process is gone."""
    try:
        pid = int(folder.name.split(".tmp-", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return
    if pid == os.getpid():
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        shutil.rmtree(folder, ignore_errors=True)
    except PermissionError:
        pass


def is_replaceable_folder(folder: Path, markers: Sequence[str]) -> bool:
    """True when ``folder`` is absent, empty, or holds one of ``markers`` (a folder this package wrote)."""
    folder = Path(folder)
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    return not entries or any((folder / marker).is_file() for marker in markers)


WEIGHTS_FIRST_ORDER = ("model.safetensors.index.json", "config.json")


def replace_files_in_order(source: Path, target: Path) -> list[str]:
    """Move every file of ``source`` into ``target`` with ``os.replace``, weights first and ``config.json`` last.

    For folders that hold other content too (a trainer's output folder), where the folder cannot be swapped
    whole: a kill leaves old config + old or new weights, the configuration never ahead of the weights.
    Returns the moved file names in order.
    """
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    names = sorted(path.name for path in source.iterdir() if path.is_file())
    last = [name for name in WEIGHTS_FIRST_ORDER if name in names]
    ordered = [name for name in names if name not in last] + last
    for name in ordered:
        os.replace(source / name, target / name)
    return ordered


__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_TIMEOUT",
    "RemoteImageError",
    "UnsafePathError",
    "atomic_folder",
    "fetch_url",
    "is_replaceable_folder",
    "is_url",
    "open_image",
    "replace_files_in_order",
    "replace_folder",
    "resolve_under_root",
]
