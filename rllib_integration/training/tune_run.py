"""The Tune driver shared by the examples' ``*_train.py`` scripts.

``train(args, TrainingJob(...))`` does what every example does around its algorithm: checks
the env config before Ray (:mod:`preflight`), handles the experiment directory (restore,
overwrite), starts Ray with its output in ``<directory>/<name>/ray.log``
(:mod:`ray_logging`), TensorBoard, runs the Tuner with the stop criteria and one progress
line per iteration (:mod:`progress`), and finishes a trial: the example's export hook, then
the learning curve PNG (:mod:`curves`). The example supplies the algorithm, a function
building its ``AlgorithmConfig`` for the resources Ray sees, and its hooks.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rllib_integration.errors import ConfigError
from rllib_integration.training.progress import RETURN_KEY, STEPS_KEY, flat, progress_callback
from rllib_integration.training.ray_logging import LOG_FILE, RayOutput

RAM_STOP_PERCENT = 85.0  # the original's stop criterion (perf/ram_util_percent)
CURVE_FILE = "learning_curve.png"
DEFAULT_KEPT_CHECKPOINTS = 5  # the latest; ``--restore`` and the export need only the last
#: The curve's panels when the example names none: result key -> axis label.
DEFAULT_CURVE_METRICS: dict[str, str] = {RETURN_KEY: "episode return mean"}
#: The curve's driving panels (``callbacks.DrivingMetricsCallbacks``), drawn when logged.
DRIVING_CURVE_METRICS: dict[str, str] = {
    "env_runners/route_completion": "route completion [%]",
    "env_runners/driving_score": "driving score",
}


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 (keep all) or more")
    return value


def add_training_arguments(parser: argparse.ArgumentParser, default_name: str) -> None:
    """The options every ``*_train.py`` shares (directory, restore, TensorBoard, stops).

    Args:
        parser: gets ``-d/--directory``, ``-n/--name``, ``--restore``, ``--overwrite``,
            ``--tboff``, ``--stop-iters``, ``--stop-timesteps``, ``--stop-seconds`` and
            ``--keep-checkpoints``.
        default_name: the experiment name when ``-n`` is not given.
    """
    parser.add_argument(
        "-d",
        "--directory",
        default=os.path.expanduser("~/ray_results/carla_rllib"),
        help="where Tune writes the experiment (default: %(default)s)",
    )
    parser.add_argument("-n", "--name", default=default_name, help="experiment name")
    parser.add_argument(
        "--restore",
        action="store_true",
        help="start from the latest checkpoint of <directory>/<name>",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="delete <directory>/<name> before training"
    )
    parser.add_argument("--tboff", action="store_true", help="do not start TensorBoard")
    parser.add_argument("--stop-iters", type=int, default=None, help="stop after N iterations")
    parser.add_argument(
        "--stop-timesteps", type=int, default=None, help="stop after N sampled env steps"
    )
    parser.add_argument(
        "--stop-seconds", type=float, default=None, help="stop after N seconds of training"
    )
    parser.add_argument(
        "--keep-checkpoints",
        type=_non_negative_int,
        default=DEFAULT_KEPT_CHECKPOINTS,
        help="keep the latest N checkpoints, one per iteration; 0 keeps them all, as the "
        "original did (an hour of DQN writes 3.4 GB) (default: %(default)s)",
    )


@dataclass
class TrainingJob:
    """What an example hands to :func:`train`.

    Attributes:
        algorithm: the RLlib algorithm class (e.g. ``DQN``).
        label: its name in the curve's title (``"DQN"``).
        env_config: the CarlaEnv config, checked by :func:`preflight.preflight` before Ray.
        build_config: ``(num_cpus, num_gpus) -> AlgorithmConfig`` for the resources Ray sees
            (may print notes; raises ConfigError when the run does not fit).
        notes: lines printed before anything starts (from the yaml loader).
        connect: joins a running cluster instead of starting a local Ray (``--auto``);
            a ``RuntimeError`` it raises is printed as one error line.
        local: whether the simulators run on this machine (preflight checks ``$CARLA_ROOT``
            and an external server here only then).
        export: ``(trial_dir, checkpoint_path) -> lines`` after a successful trial (e.g. the
            exported network); the lines are printed.
        curve_metrics: result key -> axis label, one panel each; keys never reported are
            left out (the first one is always drawn).
        progress_note: an extra console line from a result, printed when it changes.
        config_file: the training yaml, named in preflight errors.
    """

    algorithm: Any
    label: str
    env_config: Mapping[str, Any]
    build_config: Callable[[float, float], Any]
    notes: Sequence[str] = ()
    connect: Callable[[], None] | None = None
    local: bool = True
    export: Callable[[Path, str], Sequence[str]] | None = None
    curve_metrics: Mapping[str, str] = field(
        default_factory=lambda: {**DEFAULT_CURVE_METRICS, **DRIVING_CURVE_METRICS}
    )
    progress_note: Callable[[Mapping[str, Any]], str | None] | None = None
    config_file: str | os.PathLike[str] | None = None


def run_script(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """A ``*_train.py`` entry point around its ``run(args)``; returns the exit status.

    A ``ConfigError`` (e.g. from loading the yaml) is one ``error:`` line and status 2,
    Ctrl-C stops training cleanly with status 130, and the output always ends with "done.".
    """
    status = 1
    try:
        status = run(args)
    except ConfigError as error:
        status = _error(error, 2)
    except KeyboardInterrupt:
        status = 130
    finally:
        print("\ndone.")
    return status


def train(args: argparse.Namespace, job: TrainingJob) -> int:
    """Train ``job`` as the command line ``args`` says; returns the exit status.

    Exit status 2 for a config error (printed as one ``error:`` line, before Ray starts
    where the config reveals it), 1 for other failures (a failed trial: one line plus where
    the traceback is), 0 on success. Ray's own output goes to ``<directory>/<name>/ray.log``.
    """
    from rllib_integration.helper import get_checkpoint
    from rllib_integration.training.preflight import preflight

    for note in job.notes:
        print(note)
    try:
        preflight(job.env_config, on_this_machine=job.local)
    except ConfigError as error:
        where = f"{Path(job.config_file).name}: " if job.config_file is not None else ""
        return _error(f"{where}{error}", 2)
    directory = os.path.abspath(os.path.expanduser(args.directory))
    try:
        checkpoint = get_checkpoint(args.name, directory, args.restore, args.overwrite)
    except (RuntimeError, FileNotFoundError) as error:
        return _error(error, 1)

    import ray

    with RayOutput() as output:
        try:
            try:
                with output.captured():
                    if job.connect is not None:
                        job.connect()
                    else:
                        # A local, single-user Ray: no token auth to set up.
                        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
                        ray.init(include_dashboard=False)
            except RuntimeError as error:
                return _error(error, 1)
            log_path = output.attach(Path(directory) / args.name / LOG_FILE)
            output.redirect_loggers()  # ray.init may have configured more
            output.redirect_workers()
            print(f"Ray's log: {log_path}", flush=True)
            return _run_tuner(args, job, directory, checkpoint, output)
        finally:
            # Inside the block: what Ray says while stopping goes to the log too.
            if ray.is_initialized():
                ray.shutdown()


def _run_tuner(
    args: argparse.Namespace,
    job: TrainingJob,
    directory: str,
    checkpoint: str | None,
    output: RayOutput,
) -> int:
    import ray
    from ray import tune

    if not args.tboff:
        _start_tensorboard(os.path.join(directory, args.name), output)
    available = ray.cluster_resources()
    try:
        config = job.build_config(available.get("CPU", 0.0), available.get("GPU", 0.0))
    except ConfigError as error:
        return _error(error, 2)
    if checkpoint is not None:
        print(f"Warm start from {checkpoint}")
        config.callbacks(on_algorithm_init=functools.partial(warm_start, checkpoint=checkpoint))

    tuner = tune.Tuner(
        job.algorithm,
        param_space=config,
        run_config=tune.RunConfig(
            name=args.name,
            storage_path=directory,
            stop=stopper(args),
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=1,
                checkpoint_at_end=True,
                num_to_keep=args.keep_checkpoints or None,
            ),
            callbacks=[progress_callback(output.console, job.progress_note)],
            verbose=0,
        ),
    )
    start = time.monotonic()
    with output.captured():
        results = tuner.fit()
    result = results[0]
    print(f"Training took {time.monotonic() - start:.1f} s")
    if result.error is not None:
        return _trial_failed(result, output)
    with output.captured():  # loading a checkpoint makes RLlib talk
        lines = finish(result, job)
    for line in lines:
        print(line)
    return 0


def _start_tensorboard(logdir: str, output: RayOutput) -> None:
    from rllib_integration.helper import launch_tensorboard

    try:
        # Loopback only, also on a cluster: reach it through an SSH tunnel, never an open port.
        with output.captured():  # its start-up NOTE about fast data loading goes to the log
            url = launch_tensorboard(logdir=logdir, host="localhost")
        print(f"TensorBoard: {url}")
    except ImportError:
        print(
            "TensorBoard is not installed: training goes on without it (pip install "
            "tensorboard, or pass --tboff to silence this)",
            file=sys.stderr,
        )


def _error(error: BaseException | str, status: int) -> int:
    print(f"error: {error}", file=sys.stderr)
    return status


def _trial_failed(result: Any, output: RayOutput) -> int:
    """One line for a failed trial: the error's last line and where the traceback is."""
    error = result.error
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    summary = lines[-1] if lines else type(error).__name__
    where = Path(result.path) / "error.txt" if result.path else None
    if where is None or not where.is_file():
        output.file.write(f"the trial failed:\n{error}\n")
        where = output.path
    return _error(f"the trial failed: {summary} (full traceback: {where})", 1)


def stopper(args: argparse.Namespace) -> Any:
    """A Tune stopper for the original's RAM criterion plus the command line's limits.

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
                value = flat(result, key)
                if value is not None and value >= limit:
                    return True
            return False

        def stop_all(self) -> bool:
            return False

    return Limits()


def warm_start(algorithm: Any, checkpoint: str, **kwargs: Any) -> None:
    """``on_algorithm_init``: load the learner (weights, target net, optimizer) of a checkpoint.

    Only the learner group is restored, as the original's ``restore`` started a new trial from
    the trained weights: the env-step counters start at 0 again (an off-policy algorithm
    refills its not checkpointed replay buffer before the first update).
    """
    from ray.rllib.core import COMPONENT_LEARNER_GROUP

    algorithm.restore_from_path(
        Path(checkpoint) / COMPONENT_LEARNER_GROUP, component=COMPONENT_LEARNER_GROUP
    )
    algorithm.env_runner_group.sync_weights(
        from_worker_or_learner_group=algorithm.learner_group, inference_only=True
    )
    print(f"Restored the learner from {checkpoint}", flush=True)


def finish(result: Any, job: TrainingJob) -> list[str]:
    """Export (the job's hook) and draw the learning curve of a finished trial.

    Returns:
        The lines to print: the final checkpoint, the hook's lines, the curve's path.
    """
    from rllib_integration.training.curves import curve_series, write_learning_curve

    trial_dir = Path(result.path)
    lines = []
    if result.checkpoint is not None:
        lines.append(f"Final checkpoint: {result.checkpoint.path}")
        if job.export is not None:
            lines += job.export(trial_dir, result.checkpoint.path)
    frame = result.metrics_dataframe
    metrics = {
        key: label
        for i, (key, label) in enumerate(job.curve_metrics.items())
        if i == 0 or (frame is not None and key in frame)
    }
    steps, series = curve_series(frame, STEPS_KEY, metrics)
    title = f"{job.label} {Path(result.path).parent.name}"
    write_learning_curve(trial_dir / CURVE_FILE, steps, series, title)
    lines.append(f"Learning curve: {trial_dir / CURVE_FILE}")
    return lines
