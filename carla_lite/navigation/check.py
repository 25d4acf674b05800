"""Validate a navmesh file with the Detour compiled into the ``carla==0.9.16`` wheel.

The client loads a navmesh without checking Detour's statuses, and some malformed tiles
crash it, so the server loads every file it would serve exactly as the client does
(``dtNavMesh::init(params)`` then ``addTile``) and exercises the queries the walkers use:
random sidewalk points, nearest polygon (inside and outside the mesh), heights and paths.
The wheel's Detour is reached through ctypes (its C++ symbols are exported), in a child
process so that a crash fails the check instead of the server.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["CheckResult", "detour_library", "validate_file"]

DT_SUCCESS = 1 << 30
DT_FAILURE = 1 << 31
SIDEWALK, CROSSWALK, ROAD, GRASS = 0x02, 0x04, 0x08, 0x10
WALKABLE = SIDEWALK | CROSSWALK | ROAD | GRASS
RANDOM_POINTS = 200
PATHS = 50
MAX_PATH = 256
CHECK_TIMEOUT = 60.0  # [s]

CheckResult = dict[str, Any]


def detour_library() -> Path | None:
    """The wheel's ``libcarla`` shared object, or None when the wheel is not installed."""
    spec = importlib.util.find_spec("carla")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("libcarla*.so"))
        if found:
            return found[0]
    return None


def validate_file(path: Path, timeout: float = CHECK_TIMEOUT) -> CheckResult:
    """Run the Detour checks on ``path`` in a child process.

    Returns:
        ``{"ok": bool, "reason": str, ...statistics}``; ``ok`` is False when the child
        crashed, timed out or found a failing query. When the wheel is missing, ``ok`` is
        None (nothing could be checked).
    """
    if detour_library() is None:
        return {"ok": None, "reason": "carla wheel not installed: Detour check skipped"}
    # Run this file as a script: only the standard library loads, not the package (shapely).
    cmd = [sys.executable, str(Path(__file__).resolve()), str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"Detour check of {path} timed out after {timeout} s"}
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-400:]
        return {
            "ok": False,
            "reason": f"Detour check of {path} exited with {done.returncode}: {tail}",
        }
    try:
        result: CheckResult = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "reason": f"Detour check printed no result: {done.stdout[-200:]}"}
    return result


class _Detour:
    """The few Detour calls the client makes, bound to the wheel's symbols."""

    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        vp, u32, i32, fp = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_void_p

        def bind(name: str, restype: Any, *argtypes: Any) -> Any:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, list(argtypes)
            return fn

        self.alloc_mesh = bind("_Z14dtAllocNavMeshv", vp)
        self.free_mesh = bind("_Z13dtFreeNavMeshP9dtNavMesh", None, vp)
        self.mesh_init = bind("_ZN9dtNavMesh4initEPK15dtNavMeshParams", u32, vp, vp)
        self.add_tile = bind("_ZN9dtNavMesh7addTileEPhiijPj", u32, vp, vp, i32, i32, u32, vp)
        self.poly_flags = bind("_ZNK9dtNavMesh12getPolyFlagsEjPt", u32, vp, u32, vp)
        self.poly_area = bind("_ZNK9dtNavMesh11getPolyAreaEjPh", u32, vp, u32, vp)
        self.alloc_query = bind("_Z19dtAllocNavMeshQueryv", vp)
        self.free_query = bind("_Z18dtFreeNavMeshQueryP14dtNavMeshQuery", None, vp)
        self.query_init = bind("_ZN14dtNavMeshQuery4initEPK9dtNavMeshi", u32, vp, vp, i32)
        self.filter_ctor = bind("_ZN13dtQueryFilterC1Ev", None, vp)
        self.random_point = bind(
            "_ZNK14dtNavMeshQuery15findRandomPointEPK13dtQueryFilterPFfvEPjPf",
            u32, vp, vp, fp, vp, vp,
        )  # fmt: skip
        self.nearest = bind(
            "_ZNK14dtNavMeshQuery15findNearestPolyEPKfS1_PK13dtQueryFilterPjPf",
            u32, vp, vp, vp, vp, vp, vp,
        )  # fmt: skip
        self.height = bind("_ZNK14dtNavMeshQuery13getPolyHeightEjPKfPf", u32, vp, u32, vp, vp)
        self.find_path = bind(
            "_ZNK14dtNavMeshQuery8findPathEjjPKfS1_PK13dtQueryFilterPjPii",
            u32, vp, u32, u32, vp, vp, vp, vp, vp, i32,
        )  # fmt: skip

    def query_filter(self, include: int, exclude: int = 0) -> ctypes.Array[ctypes.c_char]:
        """A ``dtQueryFilter`` with CARLA's costs (road 10, grass 1)."""
        buf = ctypes.create_string_buffer(1024)
        self.filter_ctor(ctypes.addressof(buf))
        base = 0 if struct.unpack_from("<f", buf.raw, 0)[0] == 1.0 else 8  # vtable or not
        if struct.unpack_from("<f", buf.raw, base)[0] != 1.0:
            raise RuntimeError("unexpected dtQueryFilter layout in the carla wheel")
        struct.pack_into("<f", buf, base + 4 * 3, 10.0)  # CARLA_AREA_ROAD
        struct.pack_into("<HH", buf, base + 4 * 64, include, exclude)
        return buf


def _vec(*values: float) -> ctypes.Array[ctypes.c_float]:
    return (ctypes.c_float * 3)(*values)


def run_checks(data: bytes, seed: int = 1) -> CheckResult:
    """Load ``data`` the way ``carla::nav::Navigation::Load`` does and query it."""
    library = detour_library()
    if library is None:
        return {"ok": None, "reason": "carla wheel not installed"}
    dt = _Detour(library)
    magic, version, tiles = struct.unpack_from("<iii", data, 0)
    if magic != 0x4D534554 or version != 1 or tiles < 1:
        return {"ok": False, "reason": "not an MSET v1 navmesh set"}
    params = ctypes.create_string_buffer(data[12:40], 28)
    mesh = dt.alloc_mesh()
    status = dt.mesh_init(mesh, ctypes.addressof(params))
    if status != DT_SUCCESS:
        return {"ok": False, "reason": f"dtNavMesh::init status {status:#x}"}
    offset, keep = 40, []
    for _ in range(tiles):
        ref, size = struct.unpack_from("<Ii", data, offset)
        offset += 8
        tile = ctypes.create_string_buffer(data[offset : offset + size], size)
        keep.append(tile)  # Detour points into it; flags 0: it does not free it
        offset += size
        status = dt.add_tile(mesh, ctypes.addressof(tile), size, 0, ref, None)
        if status != DT_SUCCESS:
            return {"ok": False, "reason": f"dtNavMesh::addTile status {status:#x}"}
    query = dt.alloc_query()
    status = dt.query_init(query, mesh, 2048)
    if status != DT_SUCCESS:
        return {"ok": False, "reason": f"dtNavMeshQuery::init status {status:#x}"}
    rng = random.Random(seed)
    frand = ctypes.CFUNCTYPE(ctypes.c_float)(rng.random)
    sidewalk = dt.query_filter(SIDEWALK)
    walkable = dt.query_filter(WALKABLE)
    no_road = dt.query_filter(WALKABLE, ROAD)
    ref = ctypes.c_uint32()
    flags = ctypes.c_uint16()
    point = _vec(0, 0, 0)
    points: list[tuple[int, tuple[float, float, float]]] = []
    bad_flags = 0
    for _ in range(RANDOM_POINTS):
        status = dt.random_point(query, ctypes.addressof(sidewalk), frand, ctypes.byref(ref), point)
        if status != DT_SUCCESS or ref.value == 0:
            return {"ok": False, "reason": f"findRandomPoint(sidewalk) status {status:#x}"}
        dt.poly_flags(mesh, ref.value, ctypes.byref(flags))
        bad_flags += flags.value != SIDEWALK
        points.append((ref.value, (point[0], point[1], point[2])))
    if bad_flags:
        return {"ok": False, "reason": f"{bad_flags} random sidewalk points off sidewalks"}
    extents = _vec(2.0, 4.0, 2.0)
    nearest = _vec(0, 0, 0)
    height = ctypes.c_float()
    for poly, (x, y, z) in points:
        for dx in (0.0, 1.5, -40.0):  # on the mesh, near it, far outside it
            status = dt.nearest(
                query, _vec(x + dx, y, z), extents, ctypes.addressof(walkable),
                ctypes.byref(ref), nearest,
            )  # fmt: skip
            if status & DT_FAILURE:
                return {"ok": False, "reason": f"findNearestPoly status {status:#x}"}
        status = dt.height(query, poly, _vec(x, y, z), ctypes.byref(height))
        if status != DT_SUCCESS or abs(height.value - y) > 0.05:
            return {"ok": False, "reason": f"getPolyHeight status {status:#x} at {x, y, z}"}
    path = (ctypes.c_uint32 * MAX_PATH)()
    count = ctypes.c_int()
    lengths = []
    partial = {"walkable": 0, "no_road": 0}
    for name, filt in (("walkable", walkable), ("no_road", no_road)):
        for i in range(PATHS):
            (ra, pa), (rb, pb) = points[i], points[-1 - i]
            status = dt.find_path(
                query, ra, rb, _vec(*pa), _vec(*pb), ctypes.addressof(filt), path,
                ctypes.byref(count), MAX_PATH,
            )  # fmt: skip
            if not status & DT_SUCCESS or count.value < 1 or path[0] != ra:
                return {"ok": False, "reason": f"findPath status {status:#x}"}
            lengths.append(count.value)
            partial[name] += path[count.value - 1] != rb  # the goal is not reachable
    dt.free_query(query)
    dt.free_mesh(mesh)
    return {
        "ok": True,
        "reason": "",
        "random_points": len(points),
        "paths": len(lengths),
        "longest_path_polys": max(lengths),
        "unreachable": partial,
    }


def main(argv: list[str]) -> int:
    """``python -m carla_lite.navigation.check FILE``: print the check's JSON result."""
    if len(argv) != 1:
        print("usage: python -m carla_lite.navigation.check NAVMESH_FILE", file=sys.stderr)
        return 2
    result = run_checks(Path(argv[0]).read_bytes())
    print(json.dumps(result))
    return 0 if result["ok"] is not False else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
