"""The map catalog: built-in maps plus user OpenDRIVE files, addressed by name.

A map's name is its file stem (``Town01.xodr`` -> ``Town01``). Sources, lowest priority first:

1. the built-in maps shipped in ``carla_lite/maps/builtin/``;
2. the folders listed in the ``CARLA_LITE_MAPS_DIR`` environment variable
   (``os.pathsep``-separated);
3. the folders given explicitly (the CLI's ``--maps-dir``).

A later source wins a name clash, so users can override a built-in map.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_MAP = "LiteTown01"
ENV_VAR = "CARLA_LITE_MAPS_DIR"
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
_GAME_PREFIX = "/Game/Carla/Maps/"


def _xodr_files(folder: Path) -> list[Path]:
    """The ``*.xodr`` files directly inside ``folder`` (none if it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.xodr") if p.is_file())


def normalize_map_name(name: str) -> str:
    """Strips CARLA's path forms down to the bare map name.

    ``"/Game/Carla/Maps/Town01"``, ``"Carla/Maps/Town01"``, ``"Town01.xodr"`` and ``"Town01"``
    all become ``"Town01"``, as the CARLA server accepts each of them in ``load_world``.

    Args:
        name: A map name or path as a client may send it.

    Returns:
        The bare name.
    """
    bare = name.strip().replace("\\", "/").rstrip("/")
    bare = bare.rsplit("/", 1)[-1]
    if bare.lower().endswith(".xodr"):
        bare = bare[: -len(".xodr")]
    return bare


class MapCatalog:
    """Lists the available maps and resolves names to files.

    Args:
        extra_dirs: Folders given explicitly (highest priority, later ones win).
        env: Environment to read ``CARLA_LITE_MAPS_DIR`` from (default ``os.environ``).
        builtin_dir: Folder of the built-in maps (tests may point it elsewhere).
    """

    def __init__(
        self,
        extra_dirs: Sequence[Path | str] = (),
        env: Mapping[str, str] | None = None,
        builtin_dir: Path = BUILTIN_DIR,
    ) -> None:
        environ = os.environ if env is None else env
        env_dirs = [Path(p) for p in environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
        self._dirs: list[Path] = [builtin_dir, *env_dirs, *(Path(p) for p in extra_dirs)]
        self._maps: dict[str, Path] = {}
        for folder in self._dirs:
            for path in _xodr_files(folder):
                self._maps[path.stem] = path  # later folders override earlier ones

    @property
    def search_dirs(self) -> list[Path]:
        """The folders scanned, lowest priority first."""
        return list(self._dirs)

    def names(self) -> list[str]:
        """All map names, sorted."""
        return sorted(self._maps)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.path(name)
        except KeyError:
            return False
        return True

    def path(self, name: str) -> Path:
        """The file of map ``name`` (bare name or a CARLA ``/Game/Carla/Maps/...`` path).

        Args:
            name: The map name in any form :func:`normalize_map_name` accepts.

        Returns:
            The ``.xodr`` path.

        Raises:
            KeyError: The map is unknown; the message lists the available maps.
        """
        bare = normalize_map_name(name)
        if bare in self._maps:
            return self._maps[bare]
        # Fall back to a case-insensitive match when it is unambiguous ("town01" -> "Town01").
        folded = [stem for stem in self._maps if stem.casefold() == bare.casefold()]
        if len(folded) == 1:
            return self._maps[folded[0]]
        available = ", ".join(self.names()) or "(none)"
        raise KeyError(f"unknown map {name!r}; available maps: {available}")

    def read(self, name: str) -> str:
        """The OpenDRIVE text of map ``name`` (see :meth:`path`)."""
        return self.path(name).read_text(encoding="utf-8")

    def game_path(self, name: str) -> str:
        """CARLA's asset path for a map, e.g. ``"/Game/Carla/Maps/LiteTown01"``.

        Args:
            name: The map name in any form :meth:`path` accepts.

        Returns:
            The path with the map's canonical (file stem) name.

        Raises:
            KeyError: The map is unknown.
        """
        return _GAME_PREFIX + self.path(name).stem
