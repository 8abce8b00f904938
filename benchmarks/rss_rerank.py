"""RSS of the sidecar over many `/api/rerank` calls with varied texts (issue 14, item 8).

Every call carries new text of a new length (random words, 1-30 per document, 1-10
documents), so each one brings new token sequences, new shapes and new allocations. The
sidecar runs in its own process (`python -m sidecar`, MiniLM); its RSS is read from /proc
after every `--every` calls and again after `--idle-s` seconds without requests.

    python benchmarks/rss_rerank.py [--calls 1200] [--concurrency 4] [--env KEY=VALUE ...]

Prints the RSS series (MB) and the growth after warm-up; exit status 1 when the growth
after warm-up passes --max-growth-pct.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loadtest import rss_kb  # noqa: E402
from sidecar.dev_services import opensearch_node, sidecar_process  # noqa: E402

_VOCABULARY = (
    "retro denim jacket waterproof hiking backpack ceramic coffee mug leather office chair "
    "wool socks running shoes merino cotton linen vintage slim fit dress shirt summer beach "
    "wedding outfit kids toy wooden puzzle stainless steel kettle induction pan nonstick "
    "bluetooth speaker noise cancelling headphones usb charger gaming mouse mechanical "
    "keyboard 4k monitor standing desk yoga mat dumbbell protein shaker water bottle"
)
WORDS = _VOCABULARY.split(" ")


def _text(rng: random.Random, words: int) -> str:
    # Some words get a random suffix: new tokens, not only new orders of known ones.
    return " ".join(
        rng.choice(WORDS) + (f"{rng.getrandbits(20):x}" if rng.random() < 0.2 else "")
        for _ in range(words)
    )


def _request(rng: random.Random) -> dict[str, object]:
    documents = [_text(rng, rng.randint(1, 30)) for _ in range(rng.randint(1, 10))]
    return {"query": _text(rng, rng.randint(1, 8)), "documents": documents}


async def _drive(url: str, pid: int, args: argparse.Namespace) -> list[tuple[int, float]]:
    series: list[tuple[int, float]] = [(0, rss_kb(pid) / 1024)]
    print(f"    0 calls: {series[0][1]:7.1f} MB", flush=True)
    rng = random.Random(args.seed)
    done = 0
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one() -> None:
            nonlocal done
            response = await client.post("/api/rerank", json=_request(rng))
            response.raise_for_status()
            done += 1

        while done < args.calls:
            await asyncio.gather(*(one() for _ in range(args.concurrency)))
            if done % args.every < args.concurrency:
                series.append((done, rss_kb(pid) / 1024))
                print(f"{done:5d} calls: {series[-1][1]:7.1f} MB", flush=True)
    await asyncio.sleep(args.idle_s)
    series.append((-1, rss_kb(pid) / 1024))
    print(f"after {args.idle_s:.0f} s idle: {series[-1][1]:7.1f} MB", flush=True)
    return series


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--warmup-calls", type=int, default=200)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--opensearch-url", help="a running OpenSearch (else one is started)")
    parser.add_argument("--max-growth-pct", type=float, default=10.0)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the sidecar")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    log = ROOT / ".run" / "rss-rerank-sidecar.log"
    log.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    with (
        opensearch_node(args.opensearch_url) as os_url,
        sidecar_process(os_url, env, log) as (
            url,
            pid,
        ),
    ):
        series = asyncio.run(_drive(url, pid, args))
    after_warmup = next(mb for calls, mb in series if calls >= args.warmup_calls)
    end = max(mb for calls, mb in series if calls >= args.warmup_calls or calls == -1)
    growth = (end - after_warmup) / after_warmup * 100
    print(
        f"start {series[0][1]:.1f} MB, after {args.warmup_calls} calls {after_warmup:.1f} MB, "
        f"max after {end:.1f} MB, idle {series[-1][1]:.1f} MB: growth {growth:+.1f}% "
        f"({time.monotonic() - started:.0f} s, env {env or 'default'})"
    )
    return 0 if growth <= args.max_growth_pct else 1


if __name__ == "__main__":
    sys.exit(main())
