"""CarlaEnv with NPCs on the embedded server: long runs and recovery from a killed server.

carla_lite serves the Traffic Manager, so the client's TM is a remote one: a server death
must surface as ``ServerLostError`` (never abort the env process) and the next reset must
restart the server, reconnect and respawn the NPCs under a new Traffic Manager.

Each scenario runs in a subprocess (see tests/conftest.py): an abort would show as a
non-zero exit status there instead of killing pytest.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_python

# Indented like the scenario bodies, which are dedented together.
PRELUDE = """
        import logging, os, signal, threading
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        from dqn_example.env_config import load_env_config
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.errors import ServerLostError

        def dqn_config(n_vehicles=20, **carla):
            config = load_env_config("dqn_example/dqn_config.yaml")
            config["experiment"]["background_activity"]["n_vehicles"] = n_vehicles
            config["carla"].update(carla)
            return config

        def npc_locations(env):
            hero_id = env.core.hero.id
            return {
                v.id: (v.get_location().x, v.get_location().y)
                for v in env.core.world.get_actors().filter("vehicle.*")
                if v.id != hero_id
            }

        def moved(before, after, metres=1.0):
            return sum(
                1 for i, (x, y) in after.items()
                if i in before and math.hypot(x - before[i][0], y - before[i][1]) > metres
            )

        from bench.servers import child_pids as children

        def gone(pid):
            return not os.path.exists(f"/proc/{pid}")

        def kill_and_wait(server):
            # SIGKILL is asynchronous, and a killed multi-threaded process is reaped only
            # once all its threads are gone: wait until the server's handle sees the exit.
            os.killpg(server.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while server.returncode is None:
                assert time.monotonic() < deadline, f"{server.pid} still running after SIGKILL"
                time.sleep(0.01)
"""

N_STEPS = 20_000
CHECK_EVERY = 1_000


@pytest.mark.slow
def test_dqn_env_with_20_npcs_runs_20000_steps() -> None:
    result = run_python(
        PRELUDE
        + f"""
        rng = np.random.default_rng(0)
        env = CarlaEnv(dqn_config())
        try:
            env.reset(seed=0)
            steps = episodes = 0
            slowest = 0.0
            checks = []
            before = npc_locations(env)
            start = time.monotonic()
            while steps < {N_STEPS}:
                t = time.monotonic()
                _, _, terminated, truncated, _ = env.step(int(rng.integers(29)))
                slowest = max(slowest, time.monotonic() - t)
                steps += 1
                if steps % {CHECK_EVERY} == 0:
                    after = npc_locations(env)
                    checks.append([len(after), moved(before, after)])
                    before = after
                if terminated or truncated:
                    episodes += 1
                    env.reset()
            result["seconds"] = time.monotonic() - start
            result["steps"] = steps
            result["episodes"] = episodes
            result["slowest_step"] = slowest
            result["checks"] = checks
            result["server_alive"] = env.core.server.alive()
        finally:
            env.close()
        result["children_after_close"] = children()
        """,
        timeout=900,
    )
    print(
        f"{result['steps']} steps, {result['episodes']} episodes in {result['seconds']:.1f} s "
        f"({result['steps'] / result['seconds']:.0f} steps/s), slowest step "
        f"{result['slowest_step']:.2f} s, NPCs [present, moved] per {CHECK_EVERY} steps: "
        f"{result['checks']}"
    )
    assert result["steps"] == N_STEPS
    assert result["episodes"] >= N_STEPS // 1001, "episodes end at the 1000-step time limit"
    assert result["server_alive"] is True, "one server for the whole run: no loss, no restart"
    assert result["slowest_step"] < 30.0, "no step waited for the client timeout"
    checks = result["checks"]
    assert len(checks) == N_STEPS // CHECK_EVERY
    assert all(present >= 15 for present, _ in checks), "the NPCs stay in the world"
    assert all(n_moved >= 1 for _, n_moved in checks), "NPCs drive during every stretch"
    assert sum(m for _, m in checks) >= sum(p for p, _ in checks) // 2, "not a gridlock"
    assert result["children_after_close"] == []


def test_sigkill_of_server_with_20_npcs_then_reset_recovers() -> None:
    result = run_python(
        PRELUDE
        + """
        # A short client timeout bounds how long a step killed mid-tick may wait.
        timeout = 5.0
        env = CarlaEnv(dqn_config(timeout=timeout, retries_on_error=3, retry_delay=0.5))
        try:
            env.reset(seed=1)
            before = npc_locations(env)
            for _ in range(100):
                env.step(22)
            result["npcs_before"] = [len(before), moved(before, npc_locations(env))]
            first_pid = env.core.server.pid

            # SIGKILL of the server's process group from another thread, while stepping.
            killed_at = []

            def kill():
                killed_at.append(time.monotonic())
                os.killpg(first_pid, signal.SIGKILL)

            killer = threading.Timer(0.2, kill)
            killer.start()
            error, raised_at = None, None
            try:
                for _ in range(20_000):
                    env.step(22)
            except ServerLostError as exc:
                raised_at = time.monotonic()
                error = [type(exc).__name__, "the next reset restarts it" in str(exc)]
            killer.join()
            result["error"] = error
            result["error_delay"] = raised_at - killed_at[0] if error else None
            result["broken_not_ready"] = not env.core.ready

            t = time.monotonic()
            env.reset()
            result["reset_seconds"] = time.monotonic() - t
            second_pid = env.core.server.pid
            before = npc_locations(env)
            for _ in range(100):
                env.step(22)
            result["npcs_after"] = [len(before), moved(before, npc_locations(env))]
            result["restarted"] = [second_pid != first_pid, env.core.server.alive()]
            result["first_gone"] = gone(first_pid)

            # Killed between episodes: the next reset sees the process has exited.
            kill_and_wait(env.core.server)
            t = time.monotonic()
            env.reset(seed=2)
            result["reset_after_idle_kill_seconds"] = time.monotonic() - t
            third_pid = env.core.server.pid
            before = npc_locations(env)
            for _ in range(50):
                env.step(22)
            result["npcs_third"] = [len(before), moved(before, npc_locations(env))]
            result["second_gone"] = [third_pid != second_pid, gone(second_pid)]

            # Killed just before a reset that cannot see it yet (the process is reaped only
            # once all its threads are gone): the reset's own server calls fail with the
            # client timeout, and it restarts the server once by itself.
            env.core._server_exited = lambda: False
            kill_and_wait(env.core.server)
            t = time.monotonic()
            env.reset(seed=3)
            result["reset_unnoticed_kill_seconds"] = time.monotonic() - t
            del env.core._server_exited
            last_pid = env.core.server.pid
            before = npc_locations(env)
            for _ in range(50):
                env.step(22)
            result["npcs_last"] = [len(before), moved(before, npc_locations(env))]
            result["third_gone"] = [last_pid != third_pid, gone(third_pid)]
        finally:
            t = time.monotonic()
            env.close()
            result["close_seconds"] = time.monotonic() - t
        result["last_gone"] = gone(last_pid)
        result["children_after_close"] = children()
        """,
        timeout=300,
    )
    print({k: v for k, v in result.items() if "seconds" in k or k == "error_delay"})
    assert result["npcs_before"][0] >= 15 and result["npcs_before"][1] >= 1
    assert result["error"] == ["ServerLostError", True]
    assert result["error_delay"] < 5.0 + 3.0, "lost within the client timeout"
    assert result["broken_not_ready"] is True
    assert result["restarted"] == [True, True]
    assert result["first_gone"] is True
    assert result["npcs_after"][0] >= 15, "NPCs respawned on the new server"
    assert result["npcs_after"][1] >= 1, "and driven by the new Traffic Manager"
    assert result["reset_seconds"] < 30.0
    assert result["reset_after_idle_kill_seconds"] < 30.0
    assert result["reset_unnoticed_kill_seconds"] < 5.0 + 30.0, "one timeout, then a restart"
    assert result["second_gone"] == [True, True]
    assert result["npcs_third"][0] >= 15 and result["npcs_third"][1] >= 1
    assert result["npcs_last"][0] >= 15 and result["npcs_last"][1] >= 1
    assert result["third_gone"] == [True, True]
    assert result["last_gone"] is True
    assert result["children_after_close"] == []
