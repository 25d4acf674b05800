"""Each fault keeps its own class, and ``CarlaCore.start`` is all or nothing.

* A BirdView rendering fault is a ``SensorError`` (the sensor's), not a ``ServerLostError``
  (which would restart a healthy server on the next reset).
* A town the server refuses is a ``ConfigError``; a ``load_world`` that times out is a
  ``ServerLostError`` (the server's, retried by a restart).
* A failed start leaves nothing running and ``ready`` False; the next start launches one
  server, never a second beside a first.

Scenarios run in subprocesses through the official client (see tests/conftest.py).
"""

from __future__ import annotations

from tests.conftest import run_python

PRELUDE = """
        import os, random, signal
        from rllib_integration.carla_core import CarlaCore
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.errors import (
            ConfigError, SensorError, ServerConnectionError, ServerLostError,
        )
        from tests.rllib_integration.experiments import env_config

        from bench.servers import child_pids as children

        def experiment_config(town):
            env = CarlaEnv(env_config())
            config = dict(env.experiment.config, town=town)
            env.close()
            return config
"""


def test_a_birdview_fault_is_a_sensor_error_and_the_server_keeps_serving() -> None:
    result = run_python(
        PRELUDE
        + """
        env = CarlaEnv(env_config())
        try:
            env.reset(seed=0)
            server_pid = env.core.server.pid
            birdview = env.core.sensor_interface._sensors["birdview"]
            render = birdview.renderer.render

            def broken(*args, **kwargs):
                raise RuntimeError("GL context lost")

            birdview.renderer.render = broken
            try:
                env.step(1)
            except Exception as exc:
                result["error"] = type(exc).__name__
                result["message"] = str(exc)
            result["ready_after_fault"] = env.core.ready
            birdview.renderer.render = render
            env.step(1)
            env.reset()
            result["same_server"] = env.core.server.pid == server_pid
        finally:
            env.close()
        """
    )
    assert result["error"] == "SensorError"
    assert "BirdView 'birdview'" in result["message"]
    assert "GL context lost" in result["message"]
    assert result["ready_after_fault"] is True
    assert result["same_server"] is True, "a sensor fault must not restart the server"


def test_unknown_town_is_a_config_error_and_the_failed_start_leaves_nothing() -> None:
    result = run_python(
        PRELUDE
        + """
        core = CarlaCore({"server": "embedded", "timeout": 10.0})
        try:
            core.start(experiment_config("NoSuchTown07"), random.Random(0))
        except ConfigError as exc:
            result["message"] = str(exc)
        result["ready"] = core.ready
        result["server"] = core.server is not None
        result["children"] = children()
        core.start(experiment_config("LiteTown01"), random.Random(0))
        result["ready_after"] = core.ready
        result["children_after"] = len(children())
        core.close()
        result["children_closed"] = children()
        """
    )
    assert "experiment.town: cannot load 'NoSuchTown07'" in result["message"]
    assert result["ready"] is False and result["server"] is False
    assert result["children"] == [], "the failed start stopped the server it launched"
    assert result["ready_after"] is True
    assert result["children_after"] == 1, "one server after the retry"
    assert result["children_closed"] == []


def test_failed_connection_then_start_launches_one_server() -> None:
    result = run_python(
        PRELUDE
        + """
        core = CarlaCore({"server": "embedded", "timeout": 10.0, "retries_on_error": 1})
        connect = core.connect_client

        def refuse():
            raise ServerConnectionError("refused by the test")

        core.connect_client = refuse
        try:
            core.start(experiment_config("LiteTown01"), random.Random(0))
        except ServerConnectionError as exc:
            result["message"] = str(exc)
        result["children"] = children()
        result["ready"] = core.ready
        core.connect_client = connect
        core.start(experiment_config("LiteTown01"), random.Random(0))
        result["ready_after"] = core.ready
        result["children_after"] = len(children())
        core.close()
        """
    )
    assert result["message"] == "refused by the test"
    assert result["children"] == [] and result["ready"] is False
    assert result["ready_after"] is True and result["children_after"] == 1


def test_a_load_world_timeout_is_a_lost_server_not_a_config_error() -> None:
    result = run_python(
        PRELUDE
        + """
        core = CarlaCore({"server": "embedded", "timeout": 2.0})
        core.start(experiment_config("LiteTown01"), random.Random(0))
        server = core.server
        os.killpg(server.pid, signal.SIGSTOP)
        start = time.monotonic()
        try:
            core.setup_experiment(experiment_config("LiteHighway01"), random.Random(0))
        except Exception as exc:
            result["error"] = type(exc).__name__
            result["message"] = str(exc)
        result["seconds"] = time.monotonic() - start
        result["ready"] = core.ready
        os.killpg(server.pid, signal.SIGCONT)
        core.start(experiment_config("LiteHighway01"), random.Random(0))
        result["restarted"] = core.server.pid != server.pid and core.ready
        result["town"] = core.map.name
        core.close()
        result["children"] = children()
        """,
        timeout=180,
    )
    assert result["error"] == "ServerLostError", result["message"]
    assert "LiteHighway01" in result["message"] and "127.0.0.1:" in result["message"]
    assert result["seconds"] < 30.0
    assert result["ready"] is False
    assert result["restarted"] is True
    assert result["town"].endswith("LiteHighway01")
    assert result["children"] == []
