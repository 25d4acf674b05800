"""A slow tick must not look like a dead Traffic Manager to the official client.

The 0.9.16 client probes a remote Traffic Manager (carla_lite's) every 2 s with a 2 s
timeout; when a probe fails it drops the next world-state message, and a synchronous client
then waits for that frame until its own timeout. Here another client holds the world for
several seconds (one huge batch) while a synchronous client with a Traffic Manager ticks on.
"""

from __future__ import annotations

from tests.conftest import ServerProcess, run_client

#: Commands in the batch that holds the world: several seconds of server time.
HOLDING_BATCH = 600_000
#: The other client: one batch of commands for an actor that does not exist.
HOLDER = """
import time, carla
client = carla.Client("127.0.0.1", {port})
client.set_timeout(120.0)
commands = [carla.command.ApplyTargetVelocity(999999, carla.Vector3D())] * {count}
start = time.monotonic()
client.apply_batch_sync(commands, False)
print(round(time.monotonic() - start, 2), flush=True)
"""


def test_a_long_hold_of_the_world_does_not_lose_a_frame(server: ServerProcess) -> None:
    holder = HOLDER.format(port=server.port, count=HOLDING_BATCH)
    result = run_client(
        server.port,
        f"""
        import random, subprocess
        client.set_timeout(60.0)
        world = synchronous_world(client)
        tm = client.get_trafficmanager({server.port + 3})
        tm.set_synchronous_mode(True)
        lib = world.get_blueprint_library()
        points = world.get_map().get_spawn_points()
        for point in points[1:6]:
            car = world.spawn_actor(lib.find("vehicle.audi.tt"), point)
            car.set_autopilot(True, {server.port + 3})
        for _ in range(20):
            world.tick()
        other = subprocess.Popen(
            [sys.executable, "-c", {holder!r}], stdout=subprocess.PIPE, text=True
        )
        ticks, errors = 0, []
        while other.poll() is None:
            try:
                world.tick()
                ticks += 1
            except RuntimeError as error:
                errors.append(str(error))
                break
        result["held_s"] = float(other.communicate(timeout=120)[0])
        for _ in range(20):  # and it keeps going afterwards
            world.tick()
        result.update(ticks=ticks, errors=errors)
        """,
        timeout=300,
    )
    assert result["held_s"] > 4.5, "the batch must outlast a probe period plus its timeout"
    assert result["errors"] == [], result
    assert result["ticks"] > 0
