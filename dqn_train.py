#!/usr/bin/env python
"""Train the DQN example (DQNExperiment on CarlaEnv) with Ray Tune and RLlib's DQN.

Checkpoints every iteration and at the end into <directory>/<name>/<trial>/checkpoint_NNNNNN,
exports the trained Q-network for Ray-free inference (<trial>/q_network.pt) and draws the
learning curve (<trial>/learning_curve.png). Without a stop option, training runs until the
machine's RAM use reaches 85 % (the original's only criterion) or Ctrl-C.

With --auto it joins a running Ray cluster (`ray start --head`, or `ray up
dqn_example/dqn_autoscaler.yaml`) and spreads the env runners over its nodes, each runner
starting its own simulator servers (see dqn_example/cluster.py).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RAM_STOP_PERCENT = 85.0  # the original's stop criterion (perf/ram_util_percent)
Q_NETWORK_FILE = "q_network.pt"
CURVE_FILE = "learning_curve.png"

STEPS_KEY = "env_runners/num_env_steps_sampled_lifetime"
RETURN_KEY = "env_runners/episode_return_mean"
EPISODES_KEY = "env_runners/num_episodes_lifetime"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (the original's options plus stop criteria)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "configuration_file", help="training yaml, e.g. dqn_example/dqn_config.yaml"
    )
    parser.add_argument(
        "-d",
        "--directory",
        default=os.path.expanduser("~/ray_results/carla_rllib"),
        help="where Tune writes the experiment (default: %(default)s)",
    )
    parser.add_argument("-n", "--name", default="dqn_example", help="experiment name")
    parser.add_argument(
        "--restore",
        action="store_true",
        help="start from the latest checkpoint of <directory>/<name>",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="delete <directory>/<name> before training"
    )
    parser.add_argument("--tboff", action="store_true", help="do not start TensorBoard")
    parser.add_argument(
        "--auto",
        action="store_true",
        help="join a running Ray cluster (ray.init(address='auto')) and spread the env "
        "runners over its nodes",
    )
    parser.add_argument(
        "--num-env-runners",
        type=_runner_count,
        default=None,
        metavar="N|cluster",
        help="override env_runners.num_env_runners of the yaml; 'cluster': as many as the "
        "CPUs Ray sees hold next to the main process",
    )
    parser.add_argument("--stop-iters", type=int, default=None, help="stop after N iterations")
    parser.add_argument(
        "--stop-timesteps", type=int, default=None, help="stop after N sampled env steps"
    )
    parser.add_argument(
        "--stop-seconds", type=float, default=None, help="stop after N seconds of training"
    )
    return parser.parse_args(argv)


def _runner_count(text: str) -> int | str:
    """``--num-env-runners``: an int >= 0 or ``cluster``."""
    if text == "cluster":
        return text
    try:
        count = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected an int >= 0 or 'cluster', got {text!r}"
        ) from error
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0 or 'cluster', got {count}")
    return count


def _flat(result: dict[str, Any], key: str) -> Any:
    """``result["a"]["b"]`` for ``key == "a/b"`` (None when absent)."""
    if key in result:  # already flattened
        return result[key]
    node: Any = result
    for part in key.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _stopper(args: argparse.Namespace) -> Any:
    """A Tune stopper for the original's RAM criterion plus the CLI's limits.

    A custom stopper rather than Tune's stop dict: a dict entry whose metric is missing from
    a result (e.g. before the first episode ends) is an error there.
    """
    from ray import tune

    limits = {
        "training_iteration": args.stop_iters,
        STEPS_KEY: args.stop_timesteps,
        "time_total_s": args.stop_seconds,
        "perf/ram_util_percent": RAM_STOP_PERCENT,
    }
    limits = {key: value for key, value in limits.items() if value is not None}

    class Limits(tune.Stopper):
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            for key, limit in limits.items():
                value = _flat(result, key)
                if value is not None and value >= limit:
                    return True
            return False

        def stop_all(self) -> bool:
            return False

    return Limits()


def _progress_callback() -> Any:
    """A Tune callback printing one line per iteration (and where the env runners are)."""
    from ray import tune

    from dqn_example.cluster import PLACEMENT_KEY, placement_summary

    class Progress(tune.Callback):
        def __init__(self) -> None:
            self._placement: str | None = None

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[Any, Any], **info: Any
        ) -> None:
            placement = result.get(PLACEMENT_KEY)
            if isinstance(placement, dict) and "runners" in placement:
                line = placement_summary(placement)
                if line != self._placement:  # again only when a runner moved or restarted a server
                    print(line, flush=True)
                    self._placement = line
            ret = _flat(result, RETURN_KEY)
            ret_text = "nan" if ret is None or math.isnan(ret) else f"{ret:9.2f}"
            print(
                f"iter {int(result.get('training_iteration') or 0):4d} | "
                f"env steps {int(_flat(result, STEPS_KEY) or 0):8d} | "
                f"return mean {ret_text} | "
                f"episodes {int(_flat(result, EPISODES_KEY) or 0):5d} | "
                f"time {float(result.get('time_total_s') or 0.0):7.1f} s",
                flush=True,
            )

    return Progress()


def warm_start(algorithm: Any, checkpoint: str, **kwargs: Any) -> None:
    """``on_algorithm_init``: load the learner (weights, target net, optimizer) of a checkpoint.

    Only the learner group is restored, as the original's ``restore`` started a new trial from
    the trained weights: the env-step counters start at 0 again, so ``learning_starts`` refills
    the (not checkpointed) replay buffer before the first update.
    """
    from ray.rllib.core import COMPONENT_LEARNER_GROUP

    algorithm.restore_from_path(
        Path(checkpoint) / COMPONENT_LEARNER_GROUP, component=COMPONENT_LEARNER_GROUP
    )
    algorithm.env_runner_group.sync_weights(
        from_worker_or_learner_group=algorithm.learner_group, inference_only=True
    )
    print(f"Restored the learner from {checkpoint}", flush=True)


def write_learning_curve(path: Path, steps: list[float], returns: list[float], title: str) -> None:
    """Episode return mean against env steps, as a PNG (matplotlib if present, else pillow)."""
    points = [(s, r) for s, r in zip(steps, returns, strict=True) if not math.isnan(r)]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _pillow_curve(path, points, title)
        return
    figure, axes = plt.subplots(figsize=(8, 4.5))
    if points:
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    axes.set_xlabel("env steps")
    axes.set_ylabel("episode return mean")
    axes.set_title(title)
    axes.grid(True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _pillow_curve(path: Path, points: list[tuple[float, float]], title: str) -> None:
    from PIL import Image, ImageDraw

    width, height, margin = 800, 450, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = margin, 30, width - 20, height - margin
    draw.rectangle((left, top, right, bottom), outline="black")
    draw.text((left, 8), title, fill="black")
    draw.text((width // 2 - 30, height - 25), "env steps", fill="black")
    draw.text((4, top - 20), "episode return mean", fill="black")
    if not points:
        draw.text((left + 10, top + 10), "no episode finished yet", fill="gray")
    else:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

        def to_px(x: float, y: float) -> tuple[float, float]:
            px = left + (x - x0) / (x1 - x0) * (right - left)
            py = bottom - (y - y0) / (y1 - y0) * (bottom - top)
            return px, py

        pixels = [to_px(x, y) for x, y in points]
        if len(pixels) > 1:
            draw.line(pixels, fill="blue", width=2)
        for px, py in pixels:
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill="blue")
        draw.text((left, bottom + 5), f"{x0:g}", fill="black")
        draw.text((right - 50, bottom + 5), f"{x1:g}", fill="black")
        draw.text((5, bottom - 10), f"{y0:.1f}", fill="black")
        draw.text((5, top), f"{y1:.1f}", fill="black")
    image.save(path)


def _finish(result: Any, name: str) -> None:
    """Export the Q-network and draw the curve of a finished trial."""
    from dqn_example.dqn_model import export_q_network, module_from_checkpoint

    trial_dir = Path(result.path)
    if result.checkpoint is not None:
        module = module_from_checkpoint(result.checkpoint.path)
        export_q_network(module, trial_dir / Q_NETWORK_FILE)
        print(f"Final checkpoint: {result.checkpoint.path}")
        print(f"Q-network for Ray-free inference: {trial_dir / Q_NETWORK_FILE}")
    frame = result.metrics_dataframe
    if frame is not None and STEPS_KEY in frame and RETURN_KEY in frame:
        steps = [float(v) for v in frame[STEPS_KEY]]
        returns = [float(v) for v in frame[RETURN_KEY]]
    else:
        steps, returns = [], []
    write_learning_curve(trial_dir / CURVE_FILE, steps, returns, f"DQN {name}")
    print(f"Learning curve: {trial_dir / CURVE_FILE}")


def _autoscaled(training_config: Any, num_cpus: float, num_gpus: float) -> tuple[float, float]:
    """The resources to check the yaml against on a cluster that may still grow.

    A cluster started by ``ray up`` adds worker nodes when a placement group waits for
    resources, so a run larger than the nodes up now is not an error there: say what is
    missing and let Tune wait (``ray status`` shows the pending demand).
    """
    from dqn_example.training_config import required_resources

    cpus, gpus = required_resources(training_config)
    if cpus > num_cpus or gpus > num_gpus:
        print(
            f"The cluster has {num_cpus:g} CPUs and {num_gpus:g} GPUs now; this run reserves "
            f"{cpus:g} CPUs and {gpus:g} GPUs. Waiting for the autoscaler to add worker nodes "
            "(`ray status` shows the pending demand). A cluster without one waits forever: "
            "add nodes (`ray start --address=...`) or lower env_runners.num_env_runners",
            flush=True,
        )
    return max(cpus, num_cpus), max(gpus, num_gpus)


def run(args: argparse.Namespace) -> int:
    """Train; returns the exit status."""
    from dqn_example.training_config import build_algorithm_config, load_training_config
    from rllib_integration.errors import ConfigError
    from rllib_integration.helper import get_checkpoint, launch_tensorboard

    try:
        training_config = load_training_config(args.configuration_file)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in training_config.notes:
        print(note)
    directory = os.path.abspath(os.path.expanduser(args.directory))
    try:
        checkpoint = get_checkpoint(args.name, directory, args.restore, args.overwrite)
    except (RuntimeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    import ray
    from ray import tune
    from ray.rllib.algorithms.dqn import DQN

    from dqn_example import cluster

    if args.auto:
        try:
            cluster.connect()
        except cluster.ClusterNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    else:
        # A local, single-user Ray: no token auth to set up.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(include_dashboard=False)

    if not args.tboff:
        try:
            # Loopback only, also on a cluster: reach it through an SSH tunnel
            # (`ray attach dqn_example/dqn_autoscaler.yaml -p 6006`), never an open port.
            url = launch_tensorboard(logdir=os.path.join(directory, args.name), host="localhost")
            print(f"TensorBoard: {url}")
        except ImportError:
            print(
                "TensorBoard is not installed: training goes on without it (pip install "
                "tensorboard, or pass --tboff to silence this)",
                file=sys.stderr,
            )

    try:
        available = ray.cluster_resources()
        num_cpus, num_gpus = available.get("CPU", 0.0), available.get("GPU", 0.0)
        if args.num_env_runners is not None:
            count = (
                cluster.runners_for_cluster(training_config, num_cpus)
                if args.num_env_runners == "cluster"
                else int(args.num_env_runners)
            )
            cluster.set_num_env_runners(training_config, count)
            print(f"Env runners: {count} (--num-env-runners {args.num_env_runners})")
        if args.auto:
            cluster.check_learner_placement(
                training_config, cluster.head_node_resources().get("GPU", 0.0)
            )
            num_cpus, num_gpus = _autoscaled(training_config, num_cpus, num_gpus)
        config = build_algorithm_config(
            training_config, num_cpus_available=num_cpus, num_gpus_available=num_gpus
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.auto:
        cluster.spread_over_cluster(config)
    if checkpoint is not None:
        print(f"Warm start from {checkpoint}")
        config.callbacks(on_algorithm_init=functools.partial(warm_start, checkpoint=checkpoint))

    tuner = tune.Tuner(
        DQN,
        param_space=config,  # type: ignore[arg-type]  # Tune accepts an AlgorithmConfig
        run_config=tune.RunConfig(
            name=args.name,
            storage_path=directory,
            stop=_stopper(args),
            checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1, checkpoint_at_end=True),
            callbacks=[_progress_callback()],
            verbose=0,
        ),
    )
    start = time.monotonic()
    results = tuner.fit()
    result = results[0]
    print(f"Training took {time.monotonic() - start:.1f} s")
    if result.error is not None:
        print(f"error: the trial failed: {result.error}", file=sys.stderr)
        return 1
    _finish(result, args.name)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: Ctrl-C stops training cleanly; always ends with "done."."""
    args = parse_args(argv)
    status = 1
    try:
        status = run(args)
    except KeyboardInterrupt:
        status = 130
    finally:
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        except Exception:
            pass
        print("\ndone.")
    return status


if __name__ == "__main__":
    sys.exit(main())
