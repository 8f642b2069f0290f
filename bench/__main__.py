"""`python -m bench` (`make bench`): the bot against bare echo bots, round-robin, one table.

Each round runs every configuration once, in turn (so a machine that slows down for a while
slows all of them down), each in a fresh process on fresh storage: warm-up, a saturated phase
(--users at once), then one paced phase per --paced rate. Figures are the median over the rounds
with (min-max); the JSON in bench/results/ keeps every round's whole measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.runner import (
    CONFIGS,
    FRAMEWORKS,
    ROOT,
    SINGLE_OF,
    Options,
    baseline_of,
    is_echo,
    run_config,
)

RESULTS = ROOT / "bench" / "results"


def parse(argv: list[str] | None) -> tuple[Options, Path | None]:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument(
        "--configs",
        default=",".join(defaults.configs),
        help="comma-separated, of: " + ", ".join(CONFIGS),
    )
    parser.add_argument(
        "--users", type=int, default=defaults.users, help="users at once (saturated)"
    )
    parser.add_argument(
        "--conversations",
        type=int,
        default=defaults.conversations,
        help="conversations in the saturated phase",
    )
    parser.add_argument(
        "--paced",
        default=",".join(f"{r:g}" for r in defaults.paced_rates),
        help='updates/s of the paced phases ("" for none)',
    )
    parser.add_argument("--paced-seconds", type=float, default=defaults.paced_seconds)
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument("--postgres-url", default=defaults.postgres_url)
    parser.add_argument("--redis-url", default=defaults.redis_url)
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile the bot; .prof files go there"
    )
    parser.add_argument("--log-level", default=defaults.log_level, help="the bot's LOG_LEVEL")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--no-json", action="store_true", help="write no JSON file")
    args = parser.parse_args(argv)
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip())
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(unknown)}")
    options = Options(
        rounds=args.rounds,
        configs=configs,
        users=args.users,
        conversations=args.conversations,
        paced_rates=tuple(float(r) for r in args.paced.split(",") if r.strip()),
        paced_seconds=args.paced_seconds,
        warmup=args.warmup,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        profile_dir=args.profile,
        log_level=args.log_level,
    )
    if args.no_json:
        return options, None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return options, args.json or RESULTS / f"bench-{stamp}.json"


async def run_all(options: Options) -> list[dict[str, Any]]:
    runs = []
    for round_no in range(1, options.rounds + 1):
        for key in options.configs:
            print(f"round {round_no}/{options.rounds}: {CONFIGS[key]} ...", file=sys.stderr)
            try:
                runs.append(await run_config(key, options, round_no))
            except Exception as error:  # one configuration failing does not lose the others
                print(f"  failed: {type(error).__name__}: {error}", file=sys.stderr)
                runs.append({"config": key, "round": round_no, "failed": str(error)})
            else:
                check = runs[-1]["check"]
                print(f"  {json.dumps(check)}", file=sys.stderr)
                for problem in runs[-1].get("first_errors", []):
                    print(f"  a conversation failed: {problem}", file=sys.stderr)
                if "bot_log_tail" in runs[-1]:
                    print(runs[-1]["bot_log_tail"], file=sys.stderr)
    return runs


def _spread(values: list[float], digits: int = 0) -> str:
    if not values:
        return "–"
    middle = statistics.median(values)
    text = f"{middle:,.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):,.{digits}f}–{max(values):,.{digits}f})"
    return text


def _values(runs: list[dict[str, Any]], phase: str, name: str) -> list[float]:
    found = [r["phases"].get(phase, {}).get(name) for r in runs if "phases" in r]
    return [float(v) for v in found if v is not None]


def summarize(options: Options, runs: list[dict[str, Any]]) -> dict[str, Any]:
    by_config: dict[str, Any] = {}
    for key in options.configs:
        mine = [r for r in runs if r["config"] == key and "phases" in r]
        entry: dict[str, Any] = {"label": CONFIGS[key], "rounds": len(mine)}
        if not mine:
            by_config[key] = entry
            continue
        sat = "saturated"
        entry["updates_per_s"] = _values(mine, sat, "updates_per_s")
        entry["conversations_per_s"] = _values(mine, sat, "conversations_per_s")
        entry["saturated_p50_ms"] = _values(mine, sat, "p50_ms")
        entry["saturated_p99_ms"] = _values(mine, sat, "p99_ms")
        entry["bot_cpu_ms_per_update"] = _values(mine, sat, "bot_cpu_ms_per_update")
        entry["bot_cpu_share"] = _values(mine, sat, "bot_cpu_share")
        entry["peak_rss_mb"] = [r["peak_rss_mb"] for r in mine if r.get("peak_rss_mb")]
        for rate in options.paced_rates:
            phase = f"paced_{rate:g}"
            entry[phase] = {
                "achieved_updates_per_s": _values(mine, phase, "updates_per_s"),
                "p50_ms": _values(mine, phase, "p50_ms"),
                "p99_ms": _values(mine, phase, "p99_ms"),
            }
            slowest: list[tuple[float, str]] = []
            for run in mine:
                steps = run["phases"].get(phase, {}).get("steps", {})
                slowest += [(s["p99_ms"], name) for name, s in steps.items() if s["p99_ms"]]
            if slowest:
                entry[phase]["slowest_step_p99"] = max(slowest)
        pg = [r["pg"] for r in mine if "pg" in r]
        if pg:
            entry["commits_per_update"] = [p["commits_per_update"] for p in pg]
            entry["rollbacks_per_update"] = [p["rollbacks_per_update"] for p in pg]
            entry["pg_sessions"] = [p["sessions"] for p in pg]
        checked = [r["integrity"] for r in mine if "integrity" in r]
        if checked:
            entry["integrity"] = {
                name: sum(c[name] for c in checked)
                for name in ("conversations", "updates", "lost", "duplicated", "out_of_order")
            }
            entry["integrity"]["clean"] = all(c["clean"] for c in checked)
            entry["integrity"]["examples"] = [e for c in checked for e in c["examples"]][:5]
        entry["processes"] = max(int(r.get("processes", 1)) for r in mine)
        entry["sponsors"] = not is_echo(key)
        entry["all_stored"] = all(r["check"]["all_stored"] for r in mine)
        entry["conversations"] = sum(r["check"]["conversations"] for r in mine)
        entry["stored_sponsorships"] = sum(r["check"].get("stored_sponsorships", 0) for r in mine)
        by_config[key] = entry
    for key, entry in by_config.items():
        single = by_config.get(SINGLE_OF.get(key, ""), {})
        single_rate = _median(single.get("updates_per_s"))
        if single_rate and entry.get("updates_per_s"):
            # Several processes against one, the same store, measured in the same run.
            entry["ratio_updates_vs_one_process"] = round(
                statistics.median(entry["updates_per_s"]) / single_rate, 3
            )
        # Each against the echo bot of its own framework, measured in the same run.
        echo = by_config.get(baseline_of(key), {})
        echo_rate = _median(echo.get("updates_per_s"))
        echo_cpu = _median(echo.get("bot_cpu_ms_per_update"))
        if echo_rate and entry.get("updates_per_s"):
            entry["ratio_updates_vs_echo"] = round(
                statistics.median(entry["updates_per_s"]) / echo_rate, 3
            )
        if echo_cpu and entry.get("bot_cpu_ms_per_update"):
            entry["ratio_cpu_vs_echo"] = round(
                statistics.median(entry["bot_cpu_ms_per_update"]) / echo_cpu, 2
            )
    return by_config


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


#: The paced rate at which `transport_table` compares latencies (README "Performance").
COMPARED_RATE = 100.0


def _ratio(mine: float | None, echo: float | None, digits: int) -> str:
    if mine is None or not echo:
        return "–"
    return f"{mine / echo:.{digits}f}"


def transport_table(options: Options, summary: dict[str, Any]) -> str | None:
    """Each bot configuration against the echo bot of its own framework, from the same run:
    updates/s saturated, and p50/p99 at COMPARED_RATE/s (or the highest paced rate run), each
    with its ratio to the echo's. None when no bot ran beside its framework's echo."""
    rate = COMPARED_RATE if COMPARED_RATE in options.paced_rates else None
    if rate is None and options.paced_rates:
        rate = max(options.paced_rates)
    at = f"{rate:g}/s" if rate is not None else "paced"
    head = [
        "transport: configuration",
        "updates/s",
        "echo updates/s",
        "x echo",
        f"p50 / p99 ms at {at} (achieved)",
        f"echo p50 / p99 ms at {at}",
        "x echo p50 / p99",
    ]
    rows = [head]
    for key, entry in summary.items():
        echo_key = baseline_of(key)
        echo = summary.get(echo_key)
        if is_echo(key) or echo is None:
            continue
        label = f"{FRAMEWORKS[key]}: {entry['label']}"
        if "updates_per_s" not in entry or "updates_per_s" not in echo:
            failed = key if "updates_per_s" not in entry else echo_key
            rows.append([label, f"failed ({failed})"] + [""] * (len(head) - 2))
            continue
        mine_rate, echo_rate = _median(entry["updates_per_s"]), _median(echo["updates_per_s"])
        row = [
            label,
            _spread(entry["updates_per_s"]),
            _spread(echo["updates_per_s"]),
            _ratio(mine_rate, echo_rate, 3),
        ]
        phase = f"paced_{rate:g}" if rate is not None else ""
        paced, echo_paced = entry.get(phase), echo.get(phase)
        if paced is None or echo_paced is None:
            row += ["–", "–", "–"]
        else:
            p50, p99 = _median(paced["p50_ms"]), _median(paced["p99_ms"])
            echo_p50, echo_p99 = _median(echo_paced["p50_ms"]), _median(echo_paced["p99_ms"])
            row += [
                f"{_spread(paced['p50_ms'], 1)} / {_spread(paced['p99_ms'], 1)} "
                f"({_spread(paced['achieved_updates_per_s'])}/s)",
                f"{_spread(echo_paced['p50_ms'], 1)} / {_spread(echo_paced['p99_ms'], 1)}",
                f"{_ratio(p50, echo_p50, 1)} / {_ratio(p99, echo_p99, 1)}",
            ]
        rows.append(row)
    if len(rows) == 1:
        return None
    return _layout(rows)


def _layout(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def table(options: Options, summary: dict[str, Any]) -> str:
    head = [
        "configuration",
        "updates/s sat.",
        "conv/s",
        "p50/p99 sat. ms",
        "CPU ms/update",
        "peak RSS MB",
    ]
    head += [f"paced {r:g}/s: achieved, p50/p99 ms" for r in options.paced_rates]
    head += ["commits/update", "x echo updates/s", "stored/played"]
    rows = [head]
    for entry in summary.values():
        if "updates_per_s" not in entry:
            rows.append([entry["label"], "failed"] + [""] * (len(head) - 2))
            continue
        row = [
            entry["label"],
            _spread(entry["updates_per_s"]),
            _spread(entry["conversations_per_s"], 2),
            f"{_spread(entry['saturated_p50_ms'])} / {_spread(entry['saturated_p99_ms'])}",
            _spread(entry["bot_cpu_ms_per_update"], 2),
            _spread(entry["peak_rss_mb"]),
        ]
        for rate in options.paced_rates:
            paced = entry[f"paced_{rate:g}"]
            row.append(
                f"{_spread(paced['achieved_updates_per_s'])}/s, "
                f"{_spread(paced['p50_ms'], 1)} / {_spread(paced['p99_ms'], 1)}"
            )
        row.append(_spread(entry.get("commits_per_update", []), 2))
        ratio = entry.get("ratio_updates_vs_echo")
        row.append("–" if ratio is None else f"{ratio:.3f}")
        stored = entry["stored_sponsorships"] if entry["sponsors"] else None
        played = entry["conversations"]
        row.append(f"{played}/{played} replies" if stored is None else f"{stored}/{played}")
        rows.append(row)
    return _layout(rows)


def main(argv: list[str] | None = None) -> int:
    options, json_path = parse(argv)
    started = time.monotonic()
    runs = asyncio.run(run_all(options))
    summary = summarize(options, runs)
    print()
    print(table(options, summary))
    compared = transport_table(options, summary)
    if compared is not None:
        print()
        print("Each transport against its own framework's echo bot, measured in this run:")
        print(compared)
    for key, entry in summary.items():
        for rate in options.paced_rates:
            slowest = entry.get(f"paced_{rate:g}", {}).get("slowest_step_p99")
            if slowest:
                print(f"{key}: slowest step at {rate:g}/s: {slowest[1]} p99 {slowest[0]:.1f} ms")
        if "pg_sessions" in entry:
            print(
                f"{key}: PostgreSQL per update {_spread(entry['commits_per_update'], 2)} commits, "
                f"{_spread(entry['rollbacks_per_update'], 2)} rollbacks; "
                f"sessions opened per run {_spread(entry['pg_sessions'])}"
            )
    for line in integrity_lines(summary):
        print(line)
    for run in runs:
        top = run.get("profile", {}).get("top", {})
        name = f"profile {run['config']} r{run['round']}"
        for spot in top.get("own", []):
            share, seconds = spot["share"], spot["tottime_s"]
            print(f"{name} own time: {share:6.1%} {seconds:8.2f} s {spot['function']}")
        for spot in top.get("loop", []):
            share, seconds = spot["share"], spot["tottime_s"]
            print(f"{name} event loop: {share:6.1%} {seconds:8.2f} s {spot['function']}")
        for key, where in (("packages", "all threads"), ("loop_packages", "event loop")):
            shares = ", ".join(f"{p['package']} {p['share']:.0%}" for p in top.get(key, [])[:8])
            if shares:
                print(f"{name} by package, {where}: {shares}")
        for spot in top.get("project", []):
            print(f"{name} bot, cumulative: {spot['cumtime_s']:8.2f} s {spot['function']}")
    total = time.monotonic() - started
    print(f"total {total:.0f} s; machine: {platform.machine()}, {_cpus()} CPU(s), shared")
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()},
        "summary": summary,
        "runs": runs,
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        print(f"results: {json_path}")
    complete = all(entry.get("all_stored") for entry in summary.values())
    if not complete:
        print("NOT every conversation completed with a stored sponsorship", file=sys.stderr)
    clean = all(entry.get("integrity", {}).get("clean", True) for entry in summary.values())
    if not clean:
        print("updates were lost, handled twice or answered out of order", file=sys.stderr)
    return 0 if complete and clean else 1


def integrity_lines(summary: dict[str, Any]) -> list[str]:
    """Per bot configuration: updates lost, handled twice, out of order (bench/integrity.py),
    and for several processes their updates/s against one process's in the same run."""
    lines = []
    for key, entry in summary.items():
        checked = entry.get("integrity")
        if checked is None:
            continue
        lines.append(
            f"{key}: {entry['processes']} process(es): {checked['updates']:,} updates of "
            f"{checked['conversations']} conversations: lost {checked['lost']}, handled twice "
            f"{checked['duplicated']}, out of order {checked['out_of_order']}, stored "
            f"{entry['stored_sponsorships']}/{entry['conversations']}"
        )
        lines += [f"  {example}" for example in checked["examples"]]
        ratio = entry.get("ratio_updates_vs_one_process")
        if ratio is not None:
            single = summary[SINGLE_OF[key]]
            lines.append(
                f"{key}: updates/s saturated {_spread(entry['updates_per_s'])} against one "
                f"process's {_spread(single['updates_per_s'])} ({SINGLE_OF[key]}): "
                f"{ratio:.2f} x; bot CPU per update {_spread(entry['bot_cpu_ms_per_update'], 2)}"
                f" ms against {_spread(single['bot_cpu_ms_per_update'], 2)} ms"
            )
    return lines


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
