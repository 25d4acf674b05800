"""The pedestrian navmesh: coverage of the map's walkable areas, the Detour file layout, the
wheel's Detour accepting (and refusing) files, the per-map store and the RPC handlers."""

from __future__ import annotations

import random
import struct
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import shapely

from carla_lite.maps.catalog import BUILTIN_DIR
from carla_lite.maps.rasters import SURFACE_SIDEWALK
from carla_lite.maps.road_map import RoadMap, load_road_map
from carla_lite.navigation import (
    AREA_CROSSWALK,
    AREA_ROAD,
    AREA_SIDEWALK,
    NavMeshFile,
    NavMeshFormatError,
    NavMeshStore,
    NavPolygons,
    build_polygons,
    read_navmesh,
    write_navmesh,
)
from carla_lite.navigation import files as nav_files
from carla_lite.navigation.check import detour_library, validate_file
from carla_lite.protocol.navigation_handlers import NavigationHandlers
from tests.conftest import SHARED_TOWNS

needs_wheel = pytest.mark.skipif(detour_library() is None, reason="carla wheel not installed")


def _map(name: str) -> RoadMap:
    path = BUILTIN_DIR / f"{name}.xodr"
    if not path.is_file():
        path = SHARED_TOWNS / f"{name}.xodr"
        if not path.is_file():
            pytest.skip(f"{path} absent")
    return load_road_map(name, path.read_text())


@pytest.fixture(scope="module")
def lite_town() -> RoadMap:
    return _map("LiteTown01")


@pytest.fixture(scope="module")
def lite_polygons(lite_town: RoadMap) -> NavPolygons:
    return build_polygons(lite_town)


def _shapes(nav: NavPolygons, area: int) -> shapely.Geometry:
    polys = [
        shapely.Polygon(nav.verts[list(p), :2])
        for p, a in zip(nav.polys, nav.areas, strict=True)
        if a == area
    ]
    return shapely.union_all(polys)


def _rectangle_file() -> bytes:
    verts = np.array([[0, 0, 0], [10, 0, 0], [10, 3, 0], [0, 3, 0]], dtype=float)
    return write_navmesh(verts, [(0, 1, 2, 3)], [AREA_SIDEWALK])


# -- coverage ---------------------------------------------------------------------------


def test_sidewalk_centre_lines_are_on_sidewalk_polygons(
    lite_town: RoadMap, lite_polygons: NavPolygons
) -> None:
    sidewalk = _shapes(lite_polygons, AREA_SIDEWALK)
    walkable = shapely.union(sidewalk, _shapes(lite_polygons, AREA_CROSSWALK))
    rng = random.Random(0)
    points = [lite_town.random_sidewalk_location(rng) for _ in range(500)]
    xs = np.array([p.x for p in points if p is not None])
    ys = np.array([p.y for p in points if p is not None])
    inside = shapely.contains_xy(walkable, xs, ys)
    assert inside.mean() > 0.97, "sidewalk centre lines lie on sidewalks or their crossings"


def test_sidewalk_polygons_lie_on_the_maps_sidewalks(
    lite_town: RoadMap, lite_polygons: NavPolygons
) -> None:
    sidewalk = _shapes(lite_polygons, AREA_SIDEWALK)
    points = shapely.get_coordinates(
        shapely.points(
            np.random.default_rng(1).uniform(
                lite_town.bounds[:2], lite_town.bounds[2:], size=(200_000, 2)
            )
        )
    )
    hit = points[shapely.contains_xy(sidewalk, points[:, 0], points[:, 1])]
    assert len(hit) > 1000
    surface = lite_town.surface(hit[:, 0], hit[:, 1])
    assert (surface == SURFACE_SIDEWALK).mean() > 0.98


def test_crossings_span_the_road_mouths_of_junctions(
    lite_town: RoadMap, lite_polygons: NavPolygons
) -> None:
    assert len(lite_polygons.crossings) >= 20
    crosswalk = _shapes(lite_polygons, AREA_CROSSWALK)
    sidewalk = _shapes(lite_polygons, AREA_SIDEWALK)
    for ring in lite_polygons.crossings[:20]:
        strip = shapely.Polygon(ring)
        assert shapely.intersection(strip, crosswalk).area > 0.5 * strip.area
        # Both ends of the strip touch sidewalk.
        pieces = shapely.get_parts(shapely.intersection(strip.buffer(0.05), sidewalk))
        assert len(pieces) >= 2


def test_polygons_are_convex_small_and_areas_are_carlas(lite_polygons: NavPolygons) -> None:
    nav = lite_polygons
    assert set(nav.areas) == {AREA_SIDEWALK, AREA_CROSSWALK, AREA_ROAD}
    for poly in nav.polys:
        assert 3 <= len(poly) <= 6
        shape = shapely.Polygon(nav.verts[list(poly), :2])
        assert shape.is_valid and shape.area > 0
        assert shapely.convex_hull(shape).area - shape.area < 1e-6
    assert len(nav.polys) < 4000, "large polygons keep routes under the 256-polygon cap"


def test_map_without_sidewalks_has_no_navigation() -> None:
    highway = _map("LiteHighway01")
    with pytest.raises(ValueError, match="LiteHighway01: no sidewalk"):
        build_polygons(highway)
    assert NavMeshStore(cache_dir=None).get(highway) is None


@pytest.mark.parametrize("town", ["Town01", "Town10HD"])
def test_carla_towns_get_connected_meshes(town: str, tmp_path: Path) -> None:
    road_map = _map(town)
    nav = build_polygons(road_map)
    assert AREA_CROSSWALK in nav.areas and AREA_SIDEWALK in nav.areas
    if detour_library() is not None:
        path = tmp_path / "nav.bin"
        path.write_bytes(write_navmesh(nav.verts, nav.polys, nav.areas))
        result = validate_file(path)
        assert result["ok"], result
        # Blocks are joined by crosswalks: cautious walkers reach any sidewalk.
        assert result["unreachable"] == {"walkable": 0, "no_road": 0}
        assert result["longest_path_polys"] < 256


# -- the file ---------------------------------------------------------------------------


def test_file_layout_round_trips(lite_polygons: NavPolygons) -> None:
    nav = lite_polygons
    data = write_navmesh(nav.verts, nav.polys, nav.areas)
    magic, version, tiles = struct.unpack_from("<iii", data)
    assert (magic, version, tiles) == (0x4D534554, 1, 1)
    assert data[48:52] == b"VAND"  # 'DNAV' little-endian, after the 8-byte tile entry
    orig = struct.unpack_from("<3f", data, 12)
    max_tiles, max_polys = struct.unpack_from("<ii", data, 32)
    tile_ref = struct.unpack_from("<I", data, 40)[0]
    assert max_tiles == 1
    assert max_polys >= len(nav.polys) and max_polys & (max_polys - 1) == 0
    assert tile_ref == max_polys  # 1 << polyBits: salt 1, tile 0
    assert orig[0] <= nav.verts[:, 0].min() and orig[2] <= nav.verts[:, 1].min()
    back = read_navmesh(data)
    assert len(back.polys) == len(nav.polys)
    assert back.areas == nav.areas
    assert back.flags == [{1: 0x02, 2: 0x04, 3: 0x08}[a] for a in nav.areas]
    np.testing.assert_allclose(back.verts, nav.verts, atol=1e-3)
    links = 0
    for p, neis in enumerate(back.neighbours):
        for j, q in enumerate(neis):
            if q < 0:
                continue
            links += 1
            a, b = back.polys[p][j], back.polys[p][(j + 1) % len(back.polys[p])]
            k = back.polys[q].index(b)
            assert back.polys[q][(k + 1) % len(back.polys[q])] == a, "shared edge, reversed"
            assert back.neighbours[q][k] == p
    assert links > len(nav.polys), "polygons are connected through shared edges"


def test_writer_rejects_what_detour_cannot_load() -> None:
    verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 2, 0]], dtype=float)
    with pytest.raises(NavMeshFormatError, match="no polygons"):
        write_navmesh(verts, [], [])
    with pytest.raises(NavMeshFormatError, match=r"need 3\.\.6"):
        write_navmesh(verts, [(0, 1)], [AREA_SIDEWALK])
    with pytest.raises(NavMeshFormatError, match="zero area"):
        write_navmesh(verts, [(0, 2, 4)], [AREA_SIDEWALK])
    with pytest.raises(NavMeshFormatError, match="unknown area"):
        write_navmesh(verts, [(0, 1, 2)], [9])
    with pytest.raises(NavMeshFormatError, match="finite"):
        write_navmesh(np.full((3, 3), np.nan), [(0, 1, 2)], [AREA_SIDEWALK])
    with pytest.raises(NavMeshFormatError, match="too short"):
        read_navmesh(b"TESM")


# -- Detour from the wheel ----------------------------------------------------------------


@needs_wheel
def test_wheels_detour_accepts_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rect.bin"
    path.write_bytes(_rectangle_file())
    result = validate_file(path)
    assert result["ok"] is True, result
    assert result["random_points"] == 200


@needs_wheel
def test_wheels_detour_check_fails_a_file_that_would_crash_the_client(tmp_path: Path) -> None:
    data = bytearray(_rectangle_file())
    # Clear the detail triangles' boundary-edge flags: Detour then dereferences null
    # pointers for points off the mesh (the client would die of SIGSEGV).
    header = 48
    poly_count, vert_count, link_count = struct.unpack_from("<iii", data, header + 24)
    tri_count = struct.unpack_from("<i", data, header + 44)[0]
    tris = header + 100 + 12 * vert_count + 32 * poly_count + 12 * link_count + 12 * poly_count
    for t in range(tri_count):
        data[tris + 4 * t + 3] = 0
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(NavMeshFormatError, match="edge flags"):
        read_navmesh(bytes(data))
    result = validate_file(path)
    assert result["ok"] is False, result


@needs_wheel
def test_wheels_detour_check_fails_a_tile_addtile_refuses(tmp_path: Path) -> None:
    data = bytearray(_rectangle_file())
    struct.pack_into("<i", data, 48 + 4, 6)  # tile version 6
    path = tmp_path / "old.bin"
    path.write_bytes(bytes(data))
    result = validate_file(path)
    assert result["ok"] is False and "addTile" in result["reason"]


# -- store and RPCs ---------------------------------------------------------------------


def test_store_builds_once_per_map_and_caches_on_disk(lite_town: RoadMap, tmp_path: Path) -> None:
    store = NavMeshStore(cache_dir=tmp_path)
    first = store.get(lite_town)
    assert first is not None
    assert store.get(lite_town) is first
    assert first.name.startswith("CarlaLite/Nav/LiteTown01_") and first.name.endswith(".bin")
    assert store.by_name(first.name) is first
    assert list(tmp_path.glob("*.bin"))
    again = NavMeshStore(cache_dir=tmp_path).get(lite_town)
    assert again is not None and again.data == first.data and again.name == first.name
    assert again.build_seconds == 0.0, "read from the disk cache"


def test_a_mesh_that_fails_validation_is_never_served(
    lite_town: RoadMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        nav_files, "validate_file", lambda path: {"ok": False, "reason": "test failure"}
    )
    store = NavMeshStore(cache_dir=None)
    assert store.get(lite_town) is None
    handlers = NavigationHandlers(lambda: SimpleNamespace(road_map=lite_town), store)
    assert handlers.get_required_files("Nav") == [[1, []]]
    assert handlers.get_navigation_mesh() == [[1, b""]]


def test_handlers_serve_the_current_maps_file(lite_town: RoadMap) -> None:
    world = SimpleNamespace(road_map=lite_town)
    handlers = NavigationHandlers(lambda: world)
    assert set(handlers.table()) == {"get_required_files", "request_file", "get_navigation_mesh"}
    assert handlers.get_required_files("") == [[1, []]]
    [[ok, names]] = handlers.get_required_files("Nav")
    assert ok == 1 and len(names) == 1
    [[ok, data]] = handlers.request_file(names[0])
    assert ok == 1 and isinstance(data, bytes) and data[:4] == b"TESM"
    assert handlers.get_navigation_mesh() == [[1, data]]
    [[ok, message]] = handlers.request_file("Carla/Maps/Nav/Town01.bin")
    assert ok == 0 and "Carla/Maps/Nav/Town01.bin" in message[0]
    # Another map: another name (clients cache files by name).
    world.road_map = _map("Town01") if SHARED_TOWNS.is_dir() else lite_town
    if world.road_map is not lite_town:
        [[_, other]] = handlers.get_required_files("Nav")
        assert other != names
        [[ok, _]] = handlers.request_file(names[0])
        assert ok == 1, "a file listed before is still served"


def test_handlers_release_the_simulator_lock_while_building(lite_town: RoadMap) -> None:
    lock = threading.RLock()
    seen: list[bool] = []

    class Probe(NavMeshStore):
        def get(self, road_map: RoadMap) -> NavMeshFile | None:
            # Another thread (the tick loop) can take the lock during the build.
            free: list[bool] = []

            def tick() -> None:
                if lock.acquire(timeout=1.0):
                    lock.release()
                    free.append(True)
                else:
                    free.append(False)

            other = threading.Thread(target=tick)
            other.start()
            other.join()
            seen.append(free[0])
            return super().get(road_map)

    handlers = NavigationHandlers(lambda: SimpleNamespace(road_map=lite_town), Probe(), lock)
    with lock:  # as the RPC server calls every handler
        [[ok, names]] = handlers.get_required_files("Nav")
        assert lock.acquire(blocking=False), "held again after the build"
        lock.release()
    assert ok == 1 and names
    assert seen == [True]
    with lock:
        handlers.get_required_files("Nav")  # decided: no second build
    assert seen == [True]


def test_a_map_whose_geometry_breaks_the_build_gets_no_navigation(
    lite_town: RoadMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(road_map: RoadMap) -> NavPolygons:
        raise shapely.errors.GEOSException("TopologyException: side location conflict")

    monkeypatch.setattr(nav_files, "build_polygons", broken)
    assert NavMeshStore(cache_dir=None).get(lite_town) is None
