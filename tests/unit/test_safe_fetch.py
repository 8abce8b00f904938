"""The SSRF-guarded fetcher against real HTTP servers on loopback."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from connectors import net_guard
from connectors.errors import (
    FetchFailed,
    FetchRefused,
    FetchTimeout,
    ImageDecodeError,
    ImageTooLarge,
    NotAnImage,
)
from connectors.image_decode import decode_image
from connectors.local_images import is_local_ref
from connectors.safe_fetch import FetchConfig, SafeImageFetcher
from tests.hostile_images import Handler, huge, redirect, serve_bytes, slow_drip
from tests.unit.image_bytes import encoded, png_claiming_size, truncated_png

PNG = encoded("PNG")


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT
    port: int
    seen: list[str] = field(default_factory=list)  # paths requested
    hosts: list[str] = field(default_factory=list)  # Host headers received


async def _no_length_overflow(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "image/png"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(PNG[:12])
    for _ in range(40):
        await response.write(b"\0" * 4096)
    return response


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(base="", port=0)

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        state.seen.append(request.path)
        state.hosts.append(request.headers.get("Host", ""))
        return await handler(request)

    app = web.Application(middlewares=[record])
    routes: dict[str, Handler] = {
        "/img.png": serve_bytes(PNG),
        "/img.webp": serve_bytes(encoded("WEBP"), "image/webp"),
        "/page.html": serve_bytes(b"<html></html>", "text/html"),
        "/gif-as-png": serve_bytes(encoded("GIF")),
        "/bomb.png": serve_bytes(png_claiming_size(50_000, 50_000)),
        "/truncated.png": serve_bytes(truncated_png()),
        "/slow": slow_drip,
        "/huge": huge,
        "/overflow": _no_length_overflow,
        "/to": redirect("{u}"),
        "/relative": redirect("/img.png"),
        "/loop-a": redirect("/loop-b"),
        "/loop-b": redirect("/loop-a"),
        "/hop{n:\\d+}": redirect("/hop{n}"),
    }
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = runner.addresses[0][1]
    state.base = f"http://127.0.0.1:{state.port}"
    yield state
    await runner.cleanup()


def _fetcher(**overrides: object) -> SafeImageFetcher:
    config = dict(
        allow_private_hosts=("127.0.0.1",),
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
        total_timeout_s=1.0,
        max_bytes=64 * 1024,
        max_redirects=3,
    )
    config.update(overrides)
    return SafeImageFetcher(FetchConfig(**config))  # type: ignore[arg-type]


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeImageFetcher]:
    trusted = _fetcher()
    yield trusted
    await trusted.close()


async def test_loopback_is_refused_without_contacting_the_server(server: Server) -> None:
    untrusted = _fetcher(allow_private_hosts=())
    urls = [
        f"{server.base}/img.png",
        f"http://localhost:{server.port}/img.png",
        f"http://[::ffff:127.0.0.1]:{server.port}/img.png",
        f"http://2130706433:{server.port}/img.png",
        f"http://0x7f.1:{server.port}/img.png",
    ]
    for url in urls:
        with pytest.raises(FetchRefused):
            await untrusted.fetch(url)
    await untrusted.close()
    assert server.seen == []


async def test_trusted_test_host_happy_path(server: Server, fetcher: SafeImageFetcher) -> None:
    assert await fetcher.fetch(f"{server.base}/img.png") == PNG
    assert (await fetcher.fetch(f"{server.base}/img.webp"))[8:12] == b"WEBP"
    assert await fetcher.fetch(f"{server.base}/relative") == PNG


async def test_connects_to_the_checked_address_with_the_original_host(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fake_dns(host: str, port: int) -> list[net_guard.IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(net_guard, "_getaddrinfo", fake_dns)
    pinned = _fetcher(allow_private_hosts=("images.test",))
    # images.test does not exist in real DNS: success proves aiohttp used the pinned address.
    assert await pinned.fetch(f"http://images.test:{server.port}/img.png") == PNG
    await pinned.close()
    assert server.hosts == [f"images.test:{server.port}"]


async def test_any_private_answer_refuses_the_host(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def mixed_dns(host: str, port: int) -> list[net_guard.IPAddress]:
        return [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(net_guard, "_getaddrinfo", mixed_dns)
    with pytest.raises(FetchRefused, match="non-public"):
        await _fetcher().fetch(f"http://rebind.test:{server.port}/img.png")
    assert server.seen == []


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:{port}/img.png", "http://169.254.169.254/latest/meta-data/"]
)
async def test_redirect_to_private_address_is_refused(server: Server, target: str) -> None:
    # Trust only the name "localhost": a redirect to a literal private IP is a new host.
    via_name = _fetcher(allow_private_hosts=("localhost",))
    start = f"http://localhost:{server.port}/to"
    with pytest.raises(FetchRefused, match="non-public"):
        await via_name.fetch(f"{start}?u={target.format(port=server.port)}")
    await via_name.close()
    assert server.seen == ["/to"]


async def test_redirect_to_disallowed_scheme_is_refused(
    server: Server, fetcher: SafeImageFetcher
) -> None:
    with pytest.raises(FetchRefused, match="scheme"):
        await fetcher.fetch(f"{server.base}/to?u=file:///etc/passwd")


async def test_redirect_loop_and_limit(server: Server, fetcher: SafeImageFetcher) -> None:
    with pytest.raises(FetchRefused, match="loop"):
        await fetcher.fetch(f"{server.base}/loop-a")
    with pytest.raises(FetchRefused, match="more than 3 redirects"):
        await fetcher.fetch(f"{server.base}/hop0")
    assert server.seen.count("/loop-a") == 1
    assert "/hop4" not in server.seen


async def test_slow_drip_hits_the_total_deadline(server: Server, fetcher: SafeImageFetcher) -> None:
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        await fetcher.fetch(f"{server.base}/slow")
    assert 0.9 <= time.monotonic() - started < 1.5


async def test_huge_content_length_is_rejected_fast(
    server: Server, fetcher: SafeImageFetcher
) -> None:
    started = time.monotonic()
    with pytest.raises(ImageTooLarge, match="Content-Length"):
        await fetcher.fetch(f"{server.base}/huge")
    assert time.monotonic() - started < 0.5


async def test_streamed_body_over_the_cap(server: Server, fetcher: SafeImageFetcher) -> None:
    with pytest.raises(ImageTooLarge, match="body exceeds"):
        await fetcher.fetch(f"{server.base}/overflow")


@pytest.mark.parametrize(
    ("path", "error"),
    [("/page.html", NotAnImage), ("/gif-as-png", NotAnImage), ("/missing", FetchFailed)],
)
async def test_wrong_content_is_refused(
    server: Server, fetcher: SafeImageFetcher, path: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await fetcher.fetch(server.base + path)


async def test_bomb_and_truncated_images_fail_at_decode(
    server: Server, fetcher: SafeImageFetcher
) -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(await fetcher.fetch(f"{server.base}/bomb.png"), max_pixels=40_000_000)
    with pytest.raises(ImageDecodeError):
        decode_image(await fetcher.fetch(f"{server.base}/truncated.png"), max_pixels=40_000_000)


async def test_unreachable_port_fails(fetcher: SafeImageFetcher) -> None:
    with pytest.raises(FetchFailed):
        await fetcher.fetch("http://127.0.0.1:1/img.png")


@pytest.mark.parametrize("ref", ["", "   ", "ftp://example.com/a.png", "data:image/png;base64,AA"])
async def test_bad_references_are_refused(fetcher: SafeImageFetcher, ref: str) -> None:
    with pytest.raises(FetchRefused):
        await fetcher.fetch(ref)


def test_scheme_relative_urls_are_not_local_paths() -> None:
    assert is_local_ref("//cdn.example.com/a.png") is False
    assert is_local_ref("images/a.png") is True
    assert is_local_ref("file:///srv/images/a.png") is True


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(PNG)
    (root / "notes.txt").write_bytes(b"hello world, not an image")
    (tmp_path / "secret.png").write_bytes(PNG)
    (root / "escape.png").symlink_to(tmp_path / "secret.png")
    (root / "inner.png").symlink_to(root / "sub" / "a.png")
    return root


async def test_local_paths_inside_the_root(image_root: Path) -> None:
    local = _fetcher(local_root=str(image_root))
    for ref in ["sub/a.png", "./sub/../sub/a.png", str(image_root / "sub/a.png"), "inner.png"]:
        assert await local.fetch(ref) == PNG
    assert await local.fetch(f"file://{image_root}/sub/a.png") == PNG


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("../secret.png", FetchRefused),
        ("sub/../../secret.png", FetchRefused),
        ("escape.png", FetchRefused),
        ("/etc/passwd", FetchRefused),
        ("sub", FetchRefused),
        ("notes.txt", NotAnImage),
        ("nope.png", FetchFailed),
        ("file://otherhost/x.png", FetchRefused),
    ],
)
async def test_local_paths_outside_the_root_are_refused(
    image_root: Path, ref: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await _fetcher(local_root=str(image_root)).fetch(ref)


async def test_local_paths_need_a_configured_root(image_root: Path) -> None:
    with pytest.raises(FetchRefused, match="disabled"):
        await _fetcher().fetch(str(image_root / "sub/a.png"))


async def test_local_file_over_the_byte_cap(image_root: Path) -> None:
    with pytest.raises(ImageTooLarge):
        await _fetcher(local_root=str(image_root), max_bytes=10).fetch("sub/a.png")


@pytest.mark.parametrize("bad", [{"total_timeout_s": 0}, {"max_bytes": 0}, {"max_redirects": -1}])
def test_config_is_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FetchConfig(**bad)  # type: ignore[arg-type]
