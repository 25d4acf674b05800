"""A broken map file in ``carla.maps_dirs``: the env's reset says which file and why."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO_ROOT, run_python

HIGHWAY = REPO_ROOT / "carla_lite" / "maps" / "builtin" / "LiteHighway01.xodr"


def test_a_broken_town_file_is_named_with_its_problem(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "Broken.xodr").write_text(HIGHWAY.read_text()[:3000])
    result = run_python(
        f"""
        from rllib_integration.carla_env import CarlaEnv
        from tests.rllib_integration.experiments import env_config
        config = env_config(maps_dirs=[{str(maps)!r}], retries_on_error=1, startup_timeout=20.0)
        config["experiment"]["town"] = "Broken"
        env = CarlaEnv(config)
        try:
            env.reset(seed=0)
            result["error"] = None
        except Exception as e:
            result["error"] = [type(e).__name__, str(e)]
        finally:
            env.close()
        """,
        timeout=110,
    )
    kind, message = result["error"]
    assert kind == "ServerStartError"
    assert f"{maps / 'Broken.xodr'}: Broken: malformed XML: unclosed token" in message
