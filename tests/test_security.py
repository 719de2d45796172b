"""Untrusted strings: URLs are fetched only on request, within a time and size limit, never through a redirect to
another host; a crafted gallery index cannot make re-ranking open files outside its root or contact a server.

A local HTTP server on 127.0.0.1 (a thread) plays the hostile server: it never answers, trickles a huge body,
declares a huge body, or redirects to another host ("localhost", whose requests it counts).
"""

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from PIL import Image
from transformers import pipeline

from fashionvl import FashionGalleryIndex
from fashionvl._safe_io import RemoteImageError, UnsafePathError, fetch_url, open_image, resolve_under_root

TIMEOUT = 1.0
GENEROUS = 6.0  # an upper bound on how long a refused fetch may take, far from TIMEOUT so the test is not flaky


def _png_bytes(colour="red", size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


class _HostileHandler(BaseHTTPRequestHandler):
    stop = threading.Event()
    requests: list[str] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        type(self).requests.append(f"{self.headers.get('Host')}{self.path}")
        port = self.server.server_address[1]
        if self.path == "/hang":
            self.stop.wait(10)
        elif self.path == "/trickle":  # a never-ending body, 1 KiB every 50 ms
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            while not self.stop.is_set():
                try:
                    self.wfile.write(b"\0" * 1024)
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)
        elif self.path == "/declared-huge":
            self.send_response(200)
            self.send_header("Content-Length", str(300 * 1024 * 1024))
            self.end_headers()
        elif self.path == "/fast-huge":  # no Content-Length, 2 MiB at full speed
            self.send_response(200)
            self.end_headers()
            with_errors_ignored(lambda: self.wfile.write(b"\0" * (2 * 1024 * 1024)))
        elif self.path == "/redirect-away":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/image.png")
            self.end_headers()
        elif self.path == "/redirect-here":
            self.send_response(302)
            self.send_header("Location", "/image.png")
            self.end_headers()
        elif self.path == "/image.png":
            body = _png_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.end_headers()


def with_errors_ignored(action):
    try:
        action()
    except OSError:
        pass


@pytest.fixture(scope="module")
def server():
    _HostileHandler.stop.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _HostileHandler.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def requests_seen():
    _HostileHandler.requests.clear()
    return _HostileHandler.requests


def _refused_within(limit, action, error=RemoteImageError, match=None):
    start = time.monotonic()
    with pytest.raises(error, match=match):
        action()
    assert time.monotonic() - start < limit


# ----------------------------------------------------------------------------------------------- fetching


def test_a_url_is_not_fetched_without_allow_remote(server, requests_seen):
    with pytest.raises(RemoteImageError, match=r"images\[0\] is a URL .*/image.png.*allow_remote=True"):
        open_image(f"{server}/image.png", "images[0]")
    assert requests_seen == []


def test_a_server_that_never_answers_times_out_within_the_limit(server, requests_seen):
    _refused_within(GENEROUS, lambda: fetch_url(f"{server}/hang", timeout=TIMEOUT), match="/hang.*timeout=1.0")


def test_a_slowly_trickled_endless_body_times_out_within_the_limit(server, requests_seen):
    _refused_within(GENEROUS, lambda: fetch_url(f"{server}/trickle", timeout=TIMEOUT, max_bytes=10**9),
                    match="/trickle.*timeout=1.0")


def test_a_slow_huge_body_hits_the_size_cap_before_the_timeout(server, requests_seen):
    _refused_within(GENEROUS, lambda: fetch_url(f"{server}/trickle", timeout=30, max_bytes=4096),
                    match="max_image_bytes=4096")


def test_a_declared_huge_body_is_refused_before_reading_it(server, requests_seen):
    _refused_within(GENEROUS, lambda: fetch_url(f"{server}/declared-huge", timeout=TIMEOUT),
                    match="314572800 bytes, more than max_image_bytes")


def test_an_undeclared_body_over_the_cap_is_refused(server, requests_seen):
    with pytest.raises(RemoteImageError, match="more than max_image_bytes=100000"):
        fetch_url(f"{server}/fast-huge", timeout=GENEROUS, max_bytes=100_000)


def test_a_redirect_to_another_host_is_refused_and_that_host_never_asked(server, requests_seen):
    with pytest.raises(RemoteImageError, match="redirects .* to another host"):
        fetch_url(f"{server}/redirect-away", timeout=TIMEOUT)
    assert all(not seen.startswith("localhost") for seen in requests_seen)


def test_a_redirect_within_the_same_host_is_followed(server, requests_seen):
    image = open_image(f"{server}/redirect-here", "query", allow_remote=True, timeout=GENEROUS)
    assert image.size == (8, 8)


# ----------------------------------------------------------------------------------------------- the pipeline


@pytest.fixture(scope="module")
def mfsr_folder(tmp_path_factory):
    from test_pipeline_retrieval import build_mfsr_checkpoint

    folder = tmp_path_factory.mktemp("mfsr-security")
    build_mfsr_checkpoint(folder)
    return str(folder)


def test_the_pipeline_refuses_urls_unless_asked(server, requests_seen, mfsr_folder):
    retriever = pipeline("fashion-retrieval", model=mfsr_folder)
    local = Image.new("RGB", (8, 8), "red")
    with pytest.raises(ValueError, match=r"images\[0\] is a URL .*allow_remote=True"):
        retriever("red dress", images=[f"{server}/image.png", f"{server}/image.png"])
    with pytest.raises(ValueError, match=r"query is a URL .*allow_remote=True"):
        retriever(f"{server}/image.png", texts=["red dress"])
    assert retriever("red dress", images=[local], top_k=1)[0]["index"] == 0
    assert requests_seen == []


def test_the_pipeline_times_out_on_a_server_that_never_answers(server, requests_seen, mfsr_folder):
    retriever = pipeline("fashion-retrieval", model=mfsr_folder)
    _refused_within(GENEROUS, lambda: retriever("red dress", images=[f"{server}/hang"], allow_remote=True,
                                                timeout=TIMEOUT), match=r"/hang.*timeout=1")
    _refused_within(GENEROUS, lambda: retriever(f"{server}/trickle", texts=["red dress"], allow_remote=True,
                                                timeout=TIMEOUT), match=r"query.*/trickle|/trickle.*timeout")


def test_allow_remote_given_to_pipeline_applies_to_every_call(server, requests_seen, mfsr_folder):
    retriever = pipeline("fashion-retrieval", model=mfsr_folder, allow_remote=True, timeout=GENEROUS)
    results = retriever("red dress", images=[f"{server}/image.png"], top_k=1)
    assert results[0]["index"] == 0
    with pytest.raises(ValueError, match="more than max_image_bytes=64"):
        retriever("red dress", images=[f"{server}/image.png"], max_image_bytes=64)


@pytest.mark.parametrize("option, value", [("allow_remote", "yes"), ("timeout", 0), ("timeout", -1.0),
                                           ("max_image_bytes", 0), ("max_image_bytes", 1.5)])
def test_bad_image_loading_options_name_the_value(mfsr_folder, option, value):
    with pytest.raises(ValueError, match=f"{option} must be"):
        pipeline("fashion-retrieval", model=mfsr_folder, **{option: value})


# ----------------------------------------------------------------------------------------------- crafted index


def _crafted_index(folder, items, server_url=None):
    index = FashionGalleryIndex(torch.randn(len(items), 4), items=[f"placeholder{i}.png" for i in range(len(items))])
    index.save(folder)
    description = json.loads((folder / "index.json").read_text())
    description["items"] = items
    (folder / "index.json").write_text(json.dumps(description))
    return FashionGalleryIndex.load(folder)


@pytest.mark.parametrize("item, error, match", [
    ("/etc/passwd", UnsafePathError, "absolute path"),
    ("../../../../etc/passwd", UnsafePathError, "leaves its root"),
    ("images/../../outside.png", UnsafePathError, "leaves its root"),
])
def test_a_crafted_index_cannot_open_paths_outside_its_root(tmp_path, item, error, match):
    (tmp_path / "outside.png").write_bytes(_png_bytes())
    index = _crafted_index(tmp_path / "gallery", [item, "fine.png"])
    with pytest.raises(error, match=rf"index.items\[0\] \('{item}'\) .*{match}"):
        index.open_item(0)


def test_a_crafted_index_cannot_make_reranking_contact_a_server(tmp_path, server, requests_seen):
    index = _crafted_index(tmp_path / "gallery", [f"{server}/image.png"] * 3)
    for position in range(3):
        with pytest.raises(RemoteImageError, match="allow_remote=True"):
            index.open_item(position)
    assert requests_seen == []


def test_index_items_resolve_under_the_root_given_at_load(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(_png_bytes("blue"))
    index = FashionGalleryIndex(torch.randn(1, 4), items=[str(tmp_path / "photos" / "a.png")])
    index.save(tmp_path / "gallery", items_root=tmp_path / "photos")
    assert json.loads((tmp_path / "gallery" / "index.json").read_text())["items"] == ["a.png"]
    loaded = FashionGalleryIndex.load(tmp_path / "gallery", root=tmp_path / "photos")
    assert loaded.open_item(0).getpixel((0, 0)) == (0, 0, 255)
    with pytest.raises(ValueError, match="no such file"):
        FashionGalleryIndex.load(tmp_path / "gallery").open_item(0)  # default root: the index folder


def test_mvlt_reranking_of_a_crafted_index_is_refused(tmp_path, server, requests_seen):
    from test_pipeline_retrieval import build_mvlt_checkpoint

    build_mvlt_checkpoint(tmp_path / "mvlt", itc_loss_weight=1.0)
    retriever = pipeline("fashion-retrieval", model=str(tmp_path / "mvlt"))
    index = FashionGalleryIndex.from_pipeline(retriever, images=[Image.new("RGB", (8, 8), c) for c in ("red", "blue")])
    index.items = ["/etc/passwd", f"{server}/image.png"]
    index.save(tmp_path / "gallery")
    loaded = FashionGalleryIndex.load(tmp_path / "gallery")
    with pytest.raises(ValueError, match=r"index.items\[\d\]"):
        retriever("red dress", index=loaded, first_stage_k=2, top_k=2)
    assert requests_seen == []


def test_resolve_under_root_accepts_inner_dot_dot(tmp_path):
    assert resolve_under_root("a/../b.png", tmp_path, "x") == str(tmp_path / "b.png")


def test_with_allow_remote_index_reranking_fetches_same_host_urls(tmp_path, server, requests_seen):
    from test_pipeline_retrieval import build_mvlt_checkpoint

    build_mvlt_checkpoint(tmp_path / "mvlt", itc_loss_weight=1.0)
    retriever = pipeline("fashion-retrieval", model=str(tmp_path / "mvlt"))
    index = FashionGalleryIndex.from_pipeline(retriever, images=[Image.new("RGB", (8, 8), c) for c in ("red", "blue")])
    index.items = [f"{server}/image.png", f"{server}/redirect-here"]
    index.save(tmp_path / "gallery")
    loaded = FashionGalleryIndex.load(tmp_path / "gallery")
    results = retriever("red dress", index=loaded, first_stage_k=2, top_k=2, allow_remote=True, timeout=GENEROUS)
    assert sorted(result["index"] for result in results) == [0, 1]
    assert sum(seen.endswith("/image.png") for seen in requests_seen) == 2


def test_relative_item_paths_are_stored_relative_to_items_root(tmp_path, monkeypatch):
    """Items given relative to the working directory (as the pipeline opened them) are stored relative to
    items_root, so the README's quickstart round trip works."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "a.png").write_bytes(_png_bytes("blue"))
    index = FashionGalleryIndex(torch.randn(1, 4), items=["shop/a.png"])
    index.save("gallery", items_root="shop")
    assert json.loads((tmp_path / "gallery" / "index.json").read_text())["items"] == ["a.png"]
    assert FashionGalleryIndex.load("gallery", root="shop").open_item(0).getpixel((0, 0)) == (0, 0, 255)
