"""The web server that serves the test image for import tasks.

It runs as a child of `start` (`local_cloud.py serve-image`) and serves a
deterministic, random-looking 1 MiB raw image at /cirros-tiny.raw; every
other path answers 404, which tests use for a source that is missing.

``/cirros-tiny.raw?seconds=N`` streams the same image slowly, spread
evenly over N seconds (at most SLOWEST), so that an import task lasts
as long as a test needs.
"""

from __future__ import annotations

import hashlib
import http.server
import pathlib
import time
import urllib.parse

from localcloud.layout import HOST

IMAGE_SIZE = 1024 * 1024
IMAGE_SEED = b"osc-image-task local cloud test image"
# The longest a slow download may take, and in how many pieces it comes.
SLOWEST = 600.0
SLOW_CHUNKS = 100


def write_test_image(path: pathlib.Path) -> bytes:
    """Write the test image; return its bytes."""
    data = hashlib.shake_256(IMAGE_SEED).digest(IMAGE_SIZE)
    path.write_bytes(data)
    return data


def image_facts(image: bytes) -> dict[str, int | str]:
    """Size and hashes of the image, as Glance reports them."""
    md5 = hashlib.md5(image, usedforsecurity=False)
    return {
        "image_size": len(image),
        "image_checksum": md5.hexdigest(),
        "image_sha512": hashlib.sha512(image).hexdigest(),
    }


class ImageServer(http.server.ThreadingHTTPServer):
    """Serves one file at /NAME; every other path answers 404."""

    def __init__(self, port: int, image: pathlib.Path) -> None:
        super().__init__((HOST, port), ImageHandler)
        self.image_name = image.name
        self.image_data = image.read_bytes()


class ImageHandler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD for the test image."""

    server: ImageServer

    def do_GET(self) -> None:
        """Send the image."""
        self.respond(with_body=True)

    def do_HEAD(self) -> None:
        """Send the image's headers only."""
        self.respond(with_body=False)

    def respond(self, with_body: bool) -> None:
        """Answer with the image (slowly if asked to) or 404."""
        url = urllib.parse.urlsplit(self.path)
        if url.path != f"/{self.server.image_name}":
            self.send_error(404)
            return
        try:
            query = urllib.parse.parse_qs(url.query)
            seconds = min(float(query.get("seconds", ["0"])[0]), SLOWEST)
        except ValueError:
            self.send_error(400, "seconds must be a number")
            return
        data = self.server.image_data
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not with_body:
            return
        if seconds <= 0:
            self.wfile.write(data)
            return
        size = -(-len(data) // SLOW_CHUNKS)
        for start in range(0, len(data), size):
            time.sleep(seconds / SLOW_CHUNKS)
            self.wfile.write(data[start : start + size])
            self.wfile.flush()


def serve(port: int, image: pathlib.Path) -> None:
    """Serve the image until terminated."""
    with ImageServer(port, image) as server:
        server.serve_forever()
