"""CarlaEnv end to end on the embedded server, through the official client.

Each scenario runs in a subprocess: the official client can abort the process it runs in.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_python

# Indented like the scenario bodies, which are dedented together.
PRELUDE = """
        import gymnasium
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.errors import CarlaServerError, ServerLostError
        from tests.rllib_integration.experiments import BirdViewExperiment, env_config
"""


def test_check_env_and_registered_id() -> None:
    result = run_python(
        PRELUDE
        + """
        from gymnasium.utils.env_checker import check_env
        env = gymnasium.make("CarlaEnv-v0", config=env_config())
        try:
            check_env(env.unwrapped, skip_render_check=True)
            result["checked"] = True
            result["spec"] = env.spec.id
        finally:
            env.close()
        """,
        timeout=300,
    )
    assert result == {"checked": True, "spec": "CarlaEnv-v0"}


def test_reset_step_contract_and_call_order() -> None:
    result = run_python(
        PRELUDE
        + """
        calls = []

        class Recording(BirdViewExperiment):
            def compute_action(self, action):
                calls.append("compute_action")
                return super().compute_action(action)
            def get_observation(self, sensor_data):
                calls.append("get_observation")
                return super().get_observation(sensor_data)
            def get_done_status(self, observation, core):
                calls.append("get_done_status")
                return super().get_done_status(observation, core)
            def compute_reward(self, observation, core):
                calls.append("compute_reward")
                return super().compute_reward(observation, core)

        config = env_config()
        config["experiment"]["type"] = Recording
        config["experiment"]["others"] = {"max_steps": 3, "size": 32}
        env = CarlaEnv(config)
        obs, info = env.reset(seed=0)
        result["reset"] = [list(obs.shape), str(obs.dtype), sorted(info)]
        frame0 = env.core.world.get_snapshot().frame
        calls.clear()
        steps = []
        for _ in range(3):
            out = env.step(1)
            frame = env.core.world.get_snapshot().frame
            steps.append([type(v).__name__ for v in out[1:4]] + [frame, out[4]["step"]])
        result["steps"] = steps
        result["frame0"] = frame0
        result["calls"] = calls[:4]
        result["truncated_last"] = out[3]
        try:
            env.step(99)
            result["bad_action"] = None
        except ValueError as e:
            result["bad_action"] = str(e)
        env.close()
        env.close()
        result["server_after_close"] = env.core.server is None
        """
    )
    assert result["reset"] == [[32, 32, 3], "uint8", ["step"]]
    assert [s[:3] for s in result["steps"]] == [["float", "bool", "bool"]] * 3
    frames = [s[3] for s in result["steps"]]
    assert frames == [result["frame0"] + 1, result["frame0"] + 2, result["frame0"] + 3]
    assert [s[4] for s in result["steps"]] == [1, 2, 3]
    assert result["calls"] == [
        "compute_action", "get_observation", "get_done_status", "compute_reward",
    ]  # fmt: skip
    assert result["truncated_last"] is True
    assert "99" in result["bad_action"] and "Discrete(4)" in result["bad_action"]
    assert result["server_after_close"] is True


def test_same_seed_same_rollout() -> None:
    result = run_python(
        PRELUDE
        + """
        def rollout(seed):
            config = env_config()
            config["experiment"]["background_activity"] = {"n_vehicles": 8}
            env = CarlaEnv(config)
            try:
                obs, _ = env.reset(seed=seed)
                trace = [int(obs.sum())]
                rewards = []
                for i in range(60):
                    obs, reward, term, trunc, _ = env.step([1, 1, 2, 3][i % 4])
                    trace.append(int(obs.sum()))
                    rewards.append(round(reward, 6))
                    if term or trunc:
                        break
                location = env.core.hero.get_location()
                return trace, rewards, [round(location.x, 5), round(location.y, 5)]
            finally:
                env.close()
        result["a"] = rollout(7)
        result["b"] = rollout(7)
        result["c"] = rollout(8)
        """,
        timeout=300,
    )
    assert result["a"] == result["b"], "same seed, same observations, rewards and pose"
    assert result["a"] != result["c"], "another seed gives another rollout"


@pytest.mark.slow
def test_200_resets_leave_no_actors_and_no_processes() -> None:
    result = run_python(
        PRELUDE
        + """
        import os
        config = env_config()
        config["experiment"]["background_activity"] = {"n_vehicles": 5}
        env = CarlaEnv(config)
        counts = set()
        for i in range(200):
            env.reset(seed=i if i % 50 == 0 else None)
            env.step(1)
            actors = env.core.world.get_actors()
            counts.add((len(actors.filter("vehicle.*")), len(actors.filter("sensor.*"))))
        server_pid = env.core.server.pid
        env.close()
        result["counts"] = sorted(counts)
        result["server_gone"] = not os.path.exists(f"/proc/{server_pid}")
        children = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                            children.append(pid)
                except OSError:
                    pass
        result["children"] = children
        """,
        timeout=600,
    )
    assert result["counts"] == [[6, 1]], "hero + 5 NPCs and the collision sensor, every reset"
    assert result["server_gone"] is True
    assert result["children"] == []


@pytest.mark.parametrize("n_envs", [2, 8])
def test_envs_in_parallel_processes_get_distinct_ports(n_envs: int) -> None:
    result = run_python(
        PRELUDE
        + f"""
        import multiprocessing as mp
        from tests.rllib_integration.experiments import parallel_worker

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=parallel_worker, args=(queue,)) for _ in range({n_envs})]
        for p in procs:
            p.start()
        result["ports"] = [queue.get(timeout=240) for _ in procs]
        for p in procs:
            p.join(60)
        """,
        timeout=400,
    )
    ports = result["ports"]
    assert all(isinstance(p, list) for p in ports), ports
    used = [port for rpc, tm in ports for port in (rpc, rpc + 1, rpc + 2, tm)]
    assert len(used) == len(set(used)) == 4 * n_envs


def test_server_killed_mid_episode_then_reset_recovers() -> None:
    result = run_python(
        PRELUDE
        + """
        env = CarlaEnv(env_config(timeout=3.0, retries_on_error=2, retry_delay=0.5))
        env.reset(seed=3)
        env.step(1)
        first_pid = env.core.server.pid
        env.core.server.kill()
        try:
            for _ in range(5):
                env.step(1)
            result["error"] = None
        except CarlaServerError as e:
            result["error"] = [type(e).__name__, "the next reset restarts it" in str(e)]
        obs, info = env.reset()
        for _ in range(5):
            obs, reward, term, trunc, info = env.step(1)
        result["recovered"] = [env.core.server.pid != first_pid, env.core.server.alive()]
        env.close()
        """,
        timeout=300,
    )
    assert result["error"] == ["ServerLostError", True]
    assert result["recovered"] == [True, True]


def test_no_free_spawn_point_is_a_clear_error() -> None:
    result = run_python(
        PRELUDE
        + """
        from rllib_integration.errors import SpawnError
        config = env_config()
        env = CarlaEnv(config)
        env.reset(seed=0)
        spot = env.core.map.get_spawn_points()[0]
        config["experiment"]["hero"] = {
            "spawn_points": [f"{spot.location.x},{spot.location.y},{spot.location.z},0,0,"
                             f"{spot.rotation.yaw}"]
        }
        env.close()
        env = CarlaEnv(config)
        env.reset(seed=0)
        world = env.core.world
        lib = world.get_blueprint_library()
        blocker = world.spawn_actor(lib.find("vehicle.audi.a2"), env.core.map.get_spawn_points()[5])
        blocker.set_transform(spot)
        world.tick()
        try:
            env.reset()
            result["error"] = None
        except SpawnError as e:
            result["error"] = str(e)
        env.close()
        """
    )
    assert result["error"] is not None
    assert "could not spawn the hero" in result["error"] and "occupied" in result["error"]
