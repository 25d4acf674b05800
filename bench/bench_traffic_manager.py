"""Traffic Manager benchmark: server-side TM (carla_lite's default) vs CARLA's client-side TM.

Synchronous ticks/s through the official client on LiteTown01 (``world.tick()`` loop,
fixed_delta_seconds 0.05, a parked hero vehicle with a collision sensor, as
bench_carla_lite.py's baseline) with no NPCs, with N NPCs driven by the server-side TM and with
N NPCs driven by the client-side TM (server started with ``--client-side-tm``) and, to tell
the TM's cost from the vehicles' own, N NPCs left parked (no TM); then CarlaEnv steps/s of the
DQN experiment (dqn_example/dqn_config.yaml's env_config) with 0 and 20 NPCs.
Prints JSON; ``--out`` also writes it to a file.

Every measurement runs in a child process against a fresh server. A child reports progress
every 100 ticks; one that makes no progress for ``--stall-timeout`` seconds is killed and
reported as a hang (CARLA's client-side TM can block for good at high tick rates: a lost
wake-up in its synchronous mode), then retried up to ``--attempts`` times; a hang records
whether the server still answers and the tick rate before it. Configurations are measured in
``--rounds`` interleaved rounds (the client-side TM in the first ``--client-tm-rounds`` only);
rates are medians over the rounds and ratios are taken between medians of the same run (the
machine is shared: compare ratios, not rates).

Usage: .venv/bin/python bench/bench_traffic_manager.py [--ticks 2000] [--rounds 5]
       [--out bench/results/traffic_manager.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import (  # noqa: E402
    connect_sync,
    free_port,
    git_head,
    start_server,
    stop_server,
)

TOWN = "LiteTown01"
DT = 0.05
PROGRESS_EVERY = 100
GOALS = {
    "server_tm_50_over_client_tm_50": 3.0,
    "server_tm_50_over_no_npcs": 0.70,
    "carla_env_20_npcs_over_carla_env_0_npcs": 0.80,
}
#: Figures without a goal that tell where the time goes.
INFO_RATIOS = (
    ("server_tm_100", "client_tm_100"),
    ("parked_50", "no_npcs"),
    ("server_tm_50", "parked_50"),
)


# -- children ---------------------------------------------------------------------------------
def _progress(done: int) -> None:
    print(f"progress {done}", flush=True)


def child_ticks(spec: dict[str, Any]) -> dict[str, Any]:
    """Ticks/s with a parked hero + collision sensor and ``spec['npcs']`` NPCs on autopilot.

    With ``spec['autopilot']`` false the NPCs are spawned the same way but left parked (no
    Traffic Manager): what the vehicles themselves cost the world, without the TM.
    """
    import carla

    port, n_npcs = spec["port"], spec["npcs"]
    tm_port = port + 3
    client, world = connect_sync(port, delta=DT)
    lib = world.get_blueprint_library()
    spawn = list(world.get_map().get_spawn_points())
    hero = world.spawn_actor(lib.find("vehicle.lincoln.mkz_2017"), spawn[0])
    sensor = world.spawn_actor(
        lib.find("sensor.other.collision"), carla.Transform(), attach_to=hero
    )
    hero_collisions: list[int] = []
    sensor.listen(lambda event: hero_collisions.append(event.frame))
    ids: list[int] = []
    spawn_errors: list[str] = []
    autopilot = spec.get("autopilot", True)
    if n_npcs:
        if autopilot:
            tm = client.get_trafficmanager(tm_port)
            tm.set_synchronous_mode(True)
            tm.set_random_device_seed(0)
        cars = [
            bp
            for bp in lib.filter("vehicle.*")
            if bp.get_attribute("number_of_wheels").as_int() == 4
        ]
        rng = random.Random(0)
        points = spawn[1:]
        rng.shuffle(points)
        batch = [carla.command.SpawnActor(rng.choice(cars), point) for point in points[:n_npcs]]
        if autopilot:
            batch = [
                command.then(carla.command.SetAutopilot(carla.command.FutureActor, True, tm_port))
                for command in batch
            ]
        for response in client.apply_batch_sync(batch, True):
            if response.error:
                spawn_errors.append(response.error)
            else:
                ids.append(response.actor_id)
    _progress(0)  # set-up done: from here on, a stall is a hang
    for i in range(spec["warmup"]):
        world.tick()
        if (i + 1) % PROGRESS_EVERY == 0:
            _progress(i + 1)

    def positions() -> dict[int, tuple[float, float]]:
        return {a.id: (a.get_location().x, a.get_location().y) for a in world.get_actors(ids)}

    before = positions()
    start = time.perf_counter()
    for i in range(spec["ticks"]):
        world.tick()
        if (i + 1) % PROGRESS_EVERY == 0:
            _progress(spec["warmup"] + i + 1)
    elapsed = time.perf_counter() - start
    result: dict[str, Any] = {
        "ticks": spec["ticks"],
        "ticks_per_s": round(spec["ticks"] / elapsed, 1),
        "npcs": len(ids),
    }
    if n_npcs and autopilot:
        after = positions()
        moved = [
            ((after[i][0] - x) ** 2 + (after[i][1] - y) ** 2) ** 0.5
            for i, (x, y) in before.items()
            if i in after
        ]
        speeds = [a.get_velocity().length() for a in world.get_actors(ids)]
        result["npc_spawn_failures"] = len(spawn_errors)
        result["npcs_moved_over_10m_share"] = round(sum(m > 10.0 for m in moved) / len(moved), 3)
        result["npc_mean_distance_m"] = round(statistics.fmean(moved), 1)
        result["npc_mean_speed_end_m_s"] = round(statistics.fmean(speeds), 2)
    result["hero_collision_events"] = len(hero_collisions)
    return result


def child_env(spec: dict[str, Any]) -> dict[str, Any]:
    """CarlaEnv steps/s of the DQN experiment with ``spec['npcs']`` background vehicles."""
    from dqn_example.env_config import load_env_config
    from rllib_integration.carla_env import CarlaEnv

    config = load_env_config(REPO / "dqn_example" / "dqn_config.yaml")
    config["experiment"]["background_activity"]["n_vehicles"] = spec["npcs"]
    env = CarlaEnv(config)
    rng = random.Random(0)
    n_actions = int(env.action_space.n)
    try:
        env.reset(seed=0)
        _progress(0)
        for i in range(spec["warmup"]):
            _, _, terminated, truncated, _ = env.step(rng.randrange(n_actions))
            if terminated or truncated:
                env.reset()
            if (i + 1) % PROGRESS_EVERY == 0:
                _progress(i + 1)
        episodes = 0
        start = time.perf_counter()
        for i in range(spec["ticks"]):
            _, _, terminated, truncated, _ = env.step(rng.randrange(n_actions))
            if terminated or truncated:
                episodes += 1
                env.reset()
            if (i + 1) % PROGRESS_EVERY == 0:
                _progress(spec["warmup"] + i + 1)
        elapsed = time.perf_counter() - start
        npcs = len(env.core.npc_ids)
    finally:
        print("closing", flush=True)
        env.close()
    return {
        "steps": spec["ticks"],
        "steps_per_s": round(spec["ticks"] / elapsed, 1),
        "npcs": npcs,
        "episodes_ended": episodes,
    }


def child_main(spec: dict[str, Any]) -> None:
    result = child_env(spec) if spec["kind"] == "env" else child_ticks(spec)
    print("result " + json.dumps(result), flush=True)
    # Leave at once: the client-side TM's threads can block the interpreter's exit.
    os._exit(0)


# -- parent -----------------------------------------------------------------------------------
def server_answers(port: int, timeout: float = 3.0) -> bool:
    """Whether the simulator answers a plain msgpack-rpc ``version`` call (its handlers run
    under the world's lock, so an answer also means no tick is stuck inside the server)."""
    import msgpack

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(msgpack.packb([0, 1, "version", []]))
            unpacker = msgpack.Unpacker(raw=False)
            while True:
                data = conn.recv(4096)
                if not data:
                    return False
                unpacker.feed(data)
                for message in unpacker:
                    return bool(isinstance(message, list) and message[1] == 1)
    except OSError:
        return False


def server_log_problems(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    keys = ("Traceback", "ERROR", "Error", "Exception")
    return [line[:200] for line in lines if any(k in line for k in keys)][:5]


def run_child(spec: dict[str, Any], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One measurement in a child process, with a stall watchdog. Never raises."""
    tag = f"{spec['name']}_{spec['round']}_{spec['attempt']}"
    server = None
    server_log = work / f"{tag}_server.log"
    started = time.perf_counter()
    try:
        if spec["kind"] == "ticks":
            spec["port"] = free_port()
            extra = ["--client-side-tm"] if spec["client_side_tm"] else []
            server, _ = start_server(spec["port"], *extra, log_path=server_log)
        child_err = (work / f"{tag}_child.err").open("w")
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=child_err,
            text=True,
            cwd=REPO,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        done, result, ticking = 0, None, False
        status = "error"
        timed_start: tuple[int, float] | None = None  # (ticks, time) when timing began
        last_progress = 0.0
        while True:
            timeout = args.stall_timeout if ticking else args.setup_timeout
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                status = "hang"
                break
            if line is None:
                break
            if line.startswith("progress "):
                done = int(line.split()[1])
                ticking = True
                last_progress = time.perf_counter()
                if timed_start is None and done >= spec["warmup"]:
                    timed_start = (done, last_progress)
            elif line.startswith("result "):
                result = json.loads(line[len("result ") :])
                status = "ok"
                break
        out: dict[str, Any] = {"status": status}
        if status == "hang":
            out["stalled_after_ticks"] = done
            out["stall_timeout_s"] = args.stall_timeout if ticking else args.setup_timeout
            if timed_start is not None and done - timed_start[0] >= 2 * PROGRESS_EVERY:
                # The rate of the timed ticks that ran before the hang.
                rate = (done - timed_start[0]) / (last_progress - timed_start[1])
                out["ticks_per_s_before_hang"] = round(rate, 1)
            if server is not None:
                # Asked while the client is still blocked: is the server stuck too?
                out["server_answers_during_hang"] = server_answers(spec["port"])
        stop_server(child)
        child_err.close()
        if status == "error":
            out["child_stderr_tail"] = (work / f"{tag}_child.err").read_text()[-1500:]
        if result is not None:
            out.update(result)
    except Exception as exc:  # report, keep measuring the rest
        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if server is not None:
            stop_server(server)
    problems = server_log_problems(server_log)
    if problems:
        out["server_log_problems"] = problems
    out["wall_s"] = round(time.perf_counter() - started, 1)
    return out


def measure(
    name: str, spec: dict[str, Any], args: argparse.Namespace, work: Path, rnd: int
) -> dict[str, Any]:
    attempts = []
    for attempt in range(1, args.attempts + 1):
        out = run_child({**spec, "name": name, "round": rnd, "attempt": attempt}, args, work)
        attempts.append(out)
        print(f"[{name} round {rnd} attempt {attempt}] {json.dumps(out)}", file=sys.stderr)
        if out["status"] == "ok":
            break
    final = dict(attempts[-1])
    if len(attempts) > 1:
        final["failed_attempts"] = [a for a in attempts[:-1]]
    return final


def summarise(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    attempts = [a for r in runs for a in [*r.get("failed_attempts", []), r]]
    ok = [r[key] for r in runs if r["status"] == "ok"]
    out: dict[str, Any] = {
        f"median_{key}": round(statistics.median(ok), 1) if ok else None,
        key: ok,
        "attempts": len(attempts),
        "hangs": sum(a["status"] == "hang" for a in attempts),
        "errors": sum(a["status"] == "error" for a in attempts),
    }
    before = [a["ticks_per_s_before_hang"] for a in attempts if "ticks_per_s_before_hang" in a]
    if before:
        out["ticks_per_s_before_hang"] = before
    answered = [a["server_answers_during_hang"] for a in attempts if a["status"] == "hang"]
    if answered:
        out["server_answered_during_hangs"] = f"{sum(answered)} of {len(answered)}"
    out["runs"] = runs
    return out


def ratio(table: dict[str, dict[str, Any]], num: str, den: str, key: str) -> dict[str, Any]:
    goal = GOALS.get(f"{num}_over_{den}")
    a, b = table[num][f"median_{key}"], table[den][f"median_{key}"]
    value = round(a / b, 2) if a and b else None
    out: dict[str, Any] = {"value": value}
    if goal is not None:
        out["goal"] = f">= {goal}"
        out["met"] = None if value is None else value >= goal
    out["numerator"] = f"{num} (median {a})"
    out["denominator"] = f"{den} (median {b})"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=2000, help="timed ticks per configuration")
    parser.add_argument("--warmup", type=int, default=100, help="ticks before timing")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--server-tm-vehicles", type=int, nargs="*", default=[50, 100])
    parser.add_argument("--client-tm-vehicles", type=int, nargs="*", default=[50, 100])
    parser.add_argument(
        "--parked-vehicles",
        type=int,
        nargs="*",
        default=[50],
        help="NPCs spawned without autopilot (the world's own cost of the vehicles)",
    )
    parser.add_argument("--env-steps", type=int, default=1000, help="timed CarlaEnv steps")
    parser.add_argument("--env-npcs", type=int, nargs="*", default=[0, 20])
    parser.add_argument(
        "--client-tm-rounds",
        type=int,
        default=3,
        help="rounds that include the client-side TM (its hangs cost --stall-timeout each)",
    )
    parser.add_argument("--attempts", type=int, default=2, help="tries per run (hangs)")
    parser.add_argument("--stall-timeout", type=float, default=10.0)
    parser.add_argument("--setup-timeout", type=float, default=30.0)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return

    configs: dict[str, dict[str, Any]] = {
        "no_npcs": {"kind": "ticks", "npcs": 0, "client_side_tm": False}
    }
    for n in args.server_tm_vehicles:
        configs[f"server_tm_{n}"] = {"kind": "ticks", "npcs": n, "client_side_tm": False}
    for n in args.client_tm_vehicles:
        configs[f"client_tm_{n}"] = {"kind": "ticks", "npcs": n, "client_side_tm": True}
    for n in args.parked_vehicles:
        configs[f"parked_{n}"] = {
            "kind": "ticks",
            "npcs": n,
            "client_side_tm": False,
            "autopilot": False,
        }
    env_configs = {f"carla_env_{n}_npcs": {"kind": "env", "npcs": n} for n in args.env_npcs}
    started = time.perf_counter()
    commit = git_head()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*configs, *env_configs]}
    with tempfile.TemporaryDirectory(prefix="bench_tm_") as tmp:
        work = Path(tmp)
        for rnd in range(1, args.rounds + 1):
            for name, spec in configs.items():
                if spec["client_side_tm"] and rnd > args.client_tm_rounds:
                    continue
                spec = {**spec, "ticks": args.ticks, "warmup": args.warmup}
                runs[name].append(measure(name, spec, args, work, rnd))
            for name, spec in env_configs.items():
                spec = {**spec, "ticks": args.env_steps, "warmup": args.warmup}
                runs[name].append(measure(name, spec, args, work, rnd))
    ticks = {name: summarise(runs[name], "ticks_per_s") for name in configs}
    env = {name: summarise(runs[name], "steps_per_s") for name in env_configs}
    ratios: dict[str, Any] = {}
    if "server_tm_50" in ticks and "client_tm_50" in ticks:
        ratios["server_tm_50_over_client_tm_50"] = ratio(
            ticks, "server_tm_50", "client_tm_50", "ticks_per_s"
        )
    if "server_tm_50" in ticks:
        ratios["server_tm_50_over_no_npcs"] = ratio(ticks, "server_tm_50", "no_npcs", "ticks_per_s")
    if "carla_env_20_npcs" in env and "carla_env_0_npcs" in env:
        ratios["carla_env_20_npcs_over_0_npcs"] = ratio(
            env, "carla_env_20_npcs", "carla_env_0_npcs", "steps_per_s"
        )
    for num, den in INFO_RATIOS:
        if num in ticks and den in ticks:
            ratios[f"{num}_over_{den}"] = ratio(ticks, num, den, "ticks_per_s")
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "commit_at_start": commit,
        "commit_at_end": git_head(),
        "setup": {
            "town": TOWN,
            "fixed_delta_seconds": DT,
            "timed_ticks": args.ticks,
            "warmup_ticks": args.warmup,
            "rounds": args.rounds,
            "client_tm_rounds": min(args.rounds, args.client_tm_rounds),
            "tick_loop": "world.tick() only; parked hero vehicle.lincoln.mkz_2017 with a "
            "collision sensor; NPCs: apply_batch_sync(SpawnActor.then(SetAutopilot(FutureActor, "
            "True, tm_port))), tm.set_synchronous_mode(True), tm.set_random_device_seed(0); "
            "parked_N: the same N vehicles spawned without autopilot",
            "carla_env": "dqn_example/dqn_config.yaml env_config (DQNExperiment, 64 px "
            "BirdView, embedded server: server-side TM), background_activity.n_vehicles "
            "varied, seeded random actions, reset on episode end",
            "timed_env_steps": args.env_steps,
            "hang_rule": f"no {PROGRESS_EVERY} ticks done in {args.stall_timeout} s (set-up: "
            f"{args.setup_timeout} s); up to {args.attempts} attempts per run",
        },
        "ratios": ratios,
        "sync_ticks_per_s": ticks,
        "carla_env_steps_per_s": env,
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
