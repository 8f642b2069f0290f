"""Run the emulator as a local playground: ``python -m emulator --port 8081``.

Point the bot at the printed base URL (same token), then open ``<base URL>/_emulator/`` to chat
with it as a fake user.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from emulator.server import BotApiEmulator


async def _serve(args: argparse.Namespace) -> None:
    emulator = BotApiEmulator(
        args.token, per_chat_rate=args.per_chat_rate or None, global_rate=args.global_rate or None
    )
    base_url = await emulator.start(args.host, args.port)
    print(f"Bot API emulator: {base_url}  (token {args.token})")
    print(f"Playground:       {base_url}/_emulator/")
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--per-chat-rate", type=float, default=1.0, help="0 disables")
    parser.add_argument("--global-rate", type=float, default=30.0, help="0 disables")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
