"""Long socket fuzzing of carla_lite: the CI fuzz tests' strategies, many more examples.

Starts one ``python -m carla_lite`` server and fuzzes its RPC port, one Traffic Manager
port and the streaming port with the strategies of ``tests/carla_lite/fuzz/strategies.py``
(random bytes, random msgpack values, mutated and truncated requests, msgpack headers
claiming up to 4 GiB, wrong-typed arguments for every handler, garbage subscriptions). After
every example a fresh, well-behaved client must be served on that socket. Prints JSON:
per socket the examples run, replies, rpc errors answered and connections the server
closed; whether the server is alive; its RSS before and after (``VmRSS``, KiB) and the
largest seen; the tracebacks in its log. Exits 1 if the server died, stopped serving, grew
past the bound or logged a traceback.

Usage: .venv/bin/python bench/fuzz_sockets.py [--examples 20000] [--seconds 600]
       [--seed 0] [--out bench/results/fuzz_sockets.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hypothesis import given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.carla_lite.fuzz import strategies as fz  # noqa: E402


def _fuzz(
    name: str,
    strategy: st.SearchStrategy[tuple[str, bytes]],
    run_one: Callable[[str, bytes], fz.Outcome | None],
    check: Callable[[], bool],
    examples: int,
    stop_at: float,
    rng_seed: int,
    report: dict[str, Any],
) -> None:
    tally = fz.Tally()
    kinds: dict[str, int] = {}
    start = time.monotonic()

    @seed(rng_seed)
    @settings(fz.fuzz_settings(), max_examples=examples, derandomize=False)
    @given(example=strategy)
    def run(example: tuple[str, bytes]) -> None:
        if time.monotonic() > stop_at:
            return
        kind, payload = example
        outcome = run_one(kind, payload)
        if outcome is not None:
            tally.add(outcome)
        else:
            tally.examples += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        if not check():
            raise AssertionError(f"{name}: a fresh client is not served after {kind}")

    run()
    report[name] = {
        **vars(tally),
        "by_kind": kinds,
        "seconds": round(time.monotonic() - start, 1),
    }


def _tagged(kind: str, strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    return strategy.map(lambda payload: (kind, payload))


def _rpc_strategy(rpcs: list[fz.Rpc], with_meta: bool) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        _tagged("random_bytes", fz.random_bytes()),
        _tagged("random_values", fz.random_values()),
        _tagged("mutated", fz.mutated_requests(rpcs, with_meta)),
        _tagged("truncated", fz.truncated_frames(rpcs, with_meta)),
        _tagged("huge_header", fz.huge_headers()),
        _tagged("wrong_args", fz.handler_calls(rpcs, with_meta)),
        _tagged("deep", fz.deep_frames(rpcs, with_meta)),
    )


def _rpc_run(port: int) -> Callable[[str, bytes], fz.Outcome | None]:
    def run_one(kind: str, payload: bytes) -> fz.Outcome | None:
        if kind == "truncated":
            fz.send_and_close(port, payload)
            return None
        return fz.exchange(port, payload, expect=1 if kind == "wrong_args" else -1)

    return run_one


def _sweep(port: int, rpcs: list[fz.Rpc], with_meta: bool) -> dict[str, int]:
    calls = errors = internal = 0
    for rpc in rpcs:
        args = list(fz.sweep_args(rpc))
        payload = b"".join(
            fz.request(i, rpc.name, a, with_meta=with_meta) for i, a in enumerate(args)
        )
        outcome = fz.exchange(port, payload, idle=15.0, expect=len(args))
        if len(outcome.replies) != len(args):
            raise AssertionError(f"{rpc.name}: {len(outcome.replies)} of {len(args)} answered")
        calls += len(args)
        errors += outcome.errors
        internal += len(outcome.internal_errors)
    return {
        "rpcs": len(rpcs), "calls": calls, "errors_answered": errors, "internal_errors": internal,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000, help="per socket")
    parser.add_argument("--seconds", type=float, default=0.0, help="per socket (0: no limit)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    target = fz.start_target(Path(tempfile.mkdtemp(prefix="fuzz_sockets_")))
    report: dict[str, Any] = {"examples_asked": args.examples, "seed": args.seed}
    report["rss_before_kib"] = target.rss_before_kib
    peak = target.rss_before_kib
    failure = None
    try:
        sim, tm = fz.simulator_rpcs(), fz.traffic_manager_rpcs()
        report["sweep_rpc"] = _sweep(target.rpc_port, sim, with_meta=True)
        report["sweep_tm"] = _sweep(target.tm_port, tm, with_meta=False)

        def budget() -> float:
            return time.monotonic() + args.seconds if args.seconds > 0 else float("inf")

        def rpc_check() -> bool:
            nonlocal peak
            peak = max(peak, target.rss_kib())
            return target.process.alive() and fz.rpc_version_ok(target.rpc_port)

        _fuzz(
            "rpc", _rpc_strategy(sim, True), _rpc_run(target.rpc_port), rpc_check,
            args.examples, budget(), args.seed, report,
        )  # fmt: skip
        _fuzz(
            "traffic_manager", _rpc_strategy(tm, False), _rpc_run(target.tm_port),
            lambda: rpc_check() and fz.tm_ok(target.tm_port),
            args.examples, budget(), args.seed, report,
        )  # fmt: skip

        def stream_one(kind: str, payload: bytes) -> fz.Outcome:
            return fz.exchange(target.stream_port, payload, timeout=10.0, parse=False)

        _fuzz(
            "streaming",
            _tagged("subscription", fz.stream_payloads([target.world_stream])),
            stream_one,
            lambda: rpc_check() and fz.stream_ok(target.stream_port, target.world_stream),
            args.examples, budget(), args.seed, report,
        )  # fmt: skip
    except Exception as exc:  # reported in the JSON, then the exit status says it failed
        failure = f"{type(exc).__name__}: {exc}"[:2000]
    alive = target.process.alive()
    report["server_alive"] = alive
    report["still_serving"] = alive and fz.rpc_version_ok(target.rpc_port)
    report["rss_after_kib"] = target.rss_kib() if alive else None
    report["rss_peak_kib"] = peak
    report["rss_growth_limit_kib"] = fz.RSS_GROWTH_LIMIT_KIB
    report["failure"] = failure
    target.process.stop()
    # Refused calls log one warning line; a traceback is an internal error or a dead thread.
    report["tracebacks_in_server_log"] = target.process.log().count("Traceback")
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    grown = (report["rss_after_kib"] or 0) - target.rss_before_kib
    ok = (
        failure is None
        and report["still_serving"]
        and grown < fz.RSS_GROWTH_LIMIT_KIB
        and report["tracebacks_in_server_log"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
