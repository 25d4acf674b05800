"""The Tune driver's parts that need no training: options, stopper, preflight, finish."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from rllib_integration.errors import ConfigError
from rllib_integration.training.tune_run import (
    CURVE_FILE,
    TrainingJob,
    add_training_arguments,
    finish,
    run_script,
    stopper,
    train,
)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, default_name="ppo_example")
    return parser.parse_args(argv)


def _job(**kwargs: object) -> TrainingJob:
    values: dict[str, object] = {
        "algorithm": "PPO",
        "label": "PPO",
        "env_config": {"carla": {"server": "embedded"}, "experiment": {"town": "LiteTown01"}},
        "build_config": lambda cpus, gpus: None,
    }
    return TrainingJob(**(values | kwargs))  # type: ignore[arg-type]


def test_shared_options() -> None:
    args = _args("--stop-iters", "3", "-d", "/tmp/x", "--tboff")
    assert (args.name, args.stop_iters, args.directory, args.tboff) == (
        "ppo_example",
        3,
        "/tmp/x",
        True,
    )
    assert args.stop_timesteps is None and not args.restore and not args.overwrite
    assert args.keep_checkpoints == 5
    assert _args("--keep-checkpoints", "0").keep_checkpoints == 0  # keep all


def test_negative_keep_checkpoints_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _args("--keep-checkpoints", "-1")
    assert "-1 is negative; give 0 (keep all) or more" in capsys.readouterr().err


def test_run_script_statuses_always_end_with_done(capsys: pytest.CaptureFixture[str]) -> None:
    def config_error(args: argparse.Namespace) -> int:
        raise ConfigError("a.yaml: training.lr: must be > 0")

    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("bug")

    args = _args()
    assert run_script(lambda a: 0, args) == 0
    assert capsys.readouterr().out == "\ndone.\n"
    assert run_script(config_error, args) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("\ndone.\n", "error: a.yaml: training.lr: must be > 0\n")
    assert run_script(interrupted, args) == 130
    assert capsys.readouterr().out == "\ndone.\n"
    with pytest.raises(RuntimeError, match="bug"):  # a bug keeps its traceback
        run_script(broken, args)
    assert capsys.readouterr().out == "\ndone.\n"


def test_stopper_ignores_missing_metrics() -> None:
    stop = stopper(_args("--stop-iters", "2", "--stop-timesteps", "500"))
    assert not stop("t", {"training_iteration": 1})  # no env steps reported yet: no error
    assert stop("t", {"training_iteration": 2})
    assert stop(
        "t", {"training_iteration": 1, "env_runners": {"num_env_steps_sampled_lifetime": 500}}
    )
    assert stop("t", {"perf": {"ram_util_percent": 90.0}})  # the original's RAM criterion


def test_preflight_error_is_one_line_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CARLA_ROOT", raising=False)
    job = _job(env_config={"carla": {"server": "carla"}}, config_file="a/ppo.yaml")
    status = train(_args("-d", str(tmp_path / "runs")), job)
    err = capsys.readouterr().err
    assert status == 2
    assert err.splitlines() == [
        "error: ppo.yaml: env_config.carla.server is 'carla' but $CARLA_ROOT is not set: point "
        "it at a CARLA 0.9.16 installation (the folder with CarlaUE4.sh), or set server: "
        "embedded to train on carla_lite"
    ]
    assert not (tmp_path / "runs").exists()


def test_finish_exports_and_draws_the_logged_panels(tmp_path: Path) -> None:
    trial = tmp_path / "exp" / "PPO_trial"
    trial.mkdir(parents=True)
    frame = {
        "env_runners/num_env_steps_sampled_lifetime": [100, 200],
        "env_runners/episode_return_mean": [math.nan, 1.0],
        "env_runners/route_completion": [5.0, 9.0],
    }
    result = SimpleNamespace(
        path=str(trial), checkpoint=SimpleNamespace(path="ckpt"), metrics_dataframe=frame
    )
    exported: list[tuple[Path, str]] = []

    def export(trial_dir: Path, checkpoint: str) -> list[str]:
        exported.append((trial_dir, checkpoint))
        return ["Policy: policy.pt"]

    lines = finish(result, _job(export=export))
    assert exported == [(trial, "ckpt")]
    assert lines == [
        "Final checkpoint: ckpt",
        "Policy: policy.pt",
        f"Learning curve: {trial / CURVE_FILE}",
    ]
    png = (trial / CURVE_FILE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # Two panels (return, route completion; no driving score logged): a taller figure.
    assert int.from_bytes(png[20:24], "big") == 100 * (2.2 + 2.6 * 2)


def test_a_failed_connect_is_one_line_and_leaves_no_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def connect() -> None:
        raise RuntimeError("--auto found no running Ray cluster; start one with `ray start`")

    status = train(_args("-d", str(tmp_path / "runs")), _job(connect=connect, local=False))
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.splitlines() == [
        "error: --auto found no running Ray cluster; start one with `ray start`"
    ]
    assert not (tmp_path / "runs").exists()  # Ray's lines were held, never written
