#!/usr/bin/env python
"""Score a policy on a fixed, seeded benchmark of routes, as the CARLA Leaderboard does.

Each route is driven once (the NPCs of route i spawned with seed S + i, the routes drawn by
a generator seeded with S, so every policy meets the same routes and traffic) and scored
with the Leaderboard's criteria: route completion, infraction penalty, driving score and
infractions per km. Prints a table, writes the JSON (``--json``) and a bar chart (next to
it, ``.png``). Policies:

* ``random``: uniform actions of the PPO example's action space;
* ``autopilot``: the hero driven along the route by the Traffic Manager (the expert);
* ``ppo``: an exported PPO policy (``--network policy.pt``): its mean action, or with
  ``--sample`` actions drawn from its Gaussian as in training (seeded);
* ``dqn``: an exported Q-network (``--network q_network.pt``), greedy.

Ray is not needed. Example:
    evaluate.py --policy autopilot --town LiteTown01 --routes 10 --seed 1000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

POLICIES = ("random", "autopilot", "dqn", "ppo")
DEFAULT_CONFIGS = {
    "random": "ppo_example/ppo_config.yaml",
    "autopilot": "ppo_example/ppo_config.yaml",
    "ppo": "ppo_example/ppo_config.yaml",
    "dqn": "dqn_example/dqn_config.yaml",
}
#: The Leaderboard's route rules (training yamls may use shorter ones).
LEADERBOARD_ROUTE = {
    "end_on_infraction": False,
    "max_deviation": 30.0,
    "max_blocked_time": 180.0,
    "seconds_per_meter": 0.8,
    "file": None,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--policy", choices=POLICIES, required=True)
    parser.add_argument("--network", default=None, help="exported network (dqn, ppo)")
    parser.add_argument(
        "--config", default=None, help="training yaml for the env (default: the example's)"
    )
    parser.add_argument("--town", required=True, help="e.g. LiteTown01")
    parser.add_argument("--routes", type=_positive_int, required=True, help="how many routes")
    parser.add_argument("--seed", type=int, required=True, help="seed of routes and traffic")
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--length", type=float, default=500.0, help="route length [m]")
    parser.add_argument("--vehicles", type=int, default=None, help="NPC vehicles (yaml's)")
    parser.add_argument("--walkers", type=int, default=None, help="NPC walkers (yaml's)")
    parser.add_argument("--video", default=None, help="record the first route as this MP4")
    parser.add_argument(
        "--sample", action="store_true", help="ppo: sample actions instead of the mean"
    )
    args = parser.parse_args(argv)
    if args.policy in ("dqn", "ppo") and not args.network:
        parser.error(f"--policy {args.policy} needs --network (the exported file)")
    if args.sample and args.policy != "ppo":
        parser.error("--sample applies to --policy ppo only")
    return args


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value


def build_env_config(args: argparse.Namespace) -> dict[str, Any]:
    """The CarlaEnv config: the policy's experiment on the benchmark's routes and traffic."""
    from rllib_integration.route_experiment import on_routes
    from rllib_integration.training.env_config import load_env_config

    experiment_class = _experiment_class(args.policy)
    config_file = args.config or DEFAULT_CONFIGS[args.policy]
    env_config, _ = load_env_config(config_file, experiment_class, config_file)
    experiment = env_config["experiment"]
    experiment["type"] = on_routes(experiment_class)
    experiment["town"] = args.town
    route = {**dict(experiment.get("route") or {}), **LEADERBOARD_ROUTE}
    route.update(length=args.length, seed=args.seed)
    experiment["route"] = route
    activity = dict(experiment.get("background_activity") or {})
    if args.vehicles is not None:
        activity["n_vehicles"] = args.vehicles
    if args.walkers is not None:
        activity["n_walkers"] = args.walkers
    experiment["background_activity"] = activity
    if args.policy == "autopilot":
        experiment["hero"] = {**experiment.get("hero", {}), "sensors": {}}
    return env_config


def _experiment_class(policy: str) -> type:
    if policy == "autopilot":
        from rllib_integration.autopilot_experiment import AutopilotExperiment

        return AutopilotExperiment
    if policy == "dqn":
        from dqn_example.dqn_experiment import DQNExperiment

        return DQNExperiment
    from ppo_example.ppo_experiment import PPOExperiment

    return PPOExperiment


def build_policy(args: argparse.Namespace, env: Any) -> Callable[[Any], Any]:
    """``observation -> action`` for ``--policy``."""
    if args.policy == "ppo":
        from ppo_example.inference import TorchPolicy

        return TorchPolicy(args.network, sample=args.sample, seed=args.seed)
    if args.policy == "dqn":
        from dqn_example.q_network import greedy_action, load_exported

        height, width, channels = env.observation_space.shape
        network = load_exported(
            args.network,
            "cpu",
            expected_obs_shape=(height, width, channels),
            expected_num_actions=int(env.action_space.n),
        )
        return lambda obs: greedy_action(network, obs)
    if args.policy == "autopilot":
        return lambda obs: 0
    space = env.action_space
    space.seed(args.seed)
    return lambda obs: space.sample()


def drive_route(
    env: Any, policy: Callable[[Any], Any], seed: int, video: Any = None
) -> tuple[Any, dict[str, Any]]:
    """One episode on the next benchmark route: its ``RouteRecord`` and the row for the
    JSON (the record's dict, the route and the step count)."""
    observation, _ = env.reset(seed=seed)
    steps = 0
    while True:
        action = policy(observation)
        observation, reward, terminated, truncated, _ = env.step(action)
        steps += 1
        if video is not None:
            video.add(env, action, reward)
        if terminated or truncated:
            break
    task = env.experiment.task
    row = {**task.record.to_dict(), "route": task.route.to_dict(), "steps": steps}
    return task.record, row


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 on a config error."""
    args = parse_args(argv)
    from rllib_integration.carla_env import CarlaEnv
    from rllib_integration.drive_video import add_video_sensor
    from rllib_integration.driving_score import RouteRecord, summarize
    from rllib_integration.driving_score.report import format_table, write_bar_chart
    from rllib_integration.errors import ConfigError

    try:
        env_config = build_env_config(args)
        if args.video:
            add_video_sensor(env_config)
        env = CarlaEnv(env_config)
        policy = build_policy(args, env)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    routes: list[dict[str, Any]] = []
    records: list[RouteRecord] = []
    start = time.monotonic()
    try:
        for index in range(args.routes):
            video = _video(args.video) if args.video and index == 0 else None
            try:
                record, row = drive_route(env, policy, args.seed + index, video)
            finally:
                if video is not None:
                    video.close()
            records.append(record)
            routes.append(row)
            print(
                f"{row['name']}: {row['status']}, RC {row['route_completion']:.1f} %, "
                f"DS {row['driving_score']:.1f} ({row['steps']} steps)",
                flush=True,
            )
    except KeyboardInterrupt:
        print("\nstopped by user", file=sys.stderr)
        return 130
    finally:
        env.close()
    summary = summarize(records)
    print()
    print(format_table(routes, summary))
    result = {
        "policy": args.policy,
        "network": args.network,
        "sampled_actions": args.sample,
        "town": args.town,
        "seed": args.seed,
        "route_length_m": args.length,
        "wall_time_s": round(time.monotonic() - start, 1),
        **summary,
        "routes": routes,
    }
    json_path = Path(args.json)
    json_path.write_text(json.dumps(result, indent=2))
    chart = write_bar_chart(
        json_path.with_suffix(".png"),
        {args.policy: summary},
        f"{args.policy} on {args.town}: {args.routes} routes of {args.length:.0f} m",
    )
    print(f"\nresults: {json_path}\nchart: {chart}")
    return 0


def _video(path: str) -> Any:
    from rllib_integration.drive_video import DriveVideo

    return DriveVideo(path)


if __name__ == "__main__":
    sys.exit(main())
