"""Camera images by rasterisation: moderngl on a headless EGL context (Mesa llvmpipe on CPU).

One renderer per process (``renderer()``), created on first use. The static scene of the
loaded map (``scene.static_scene``) lives in one GPU buffer, sorted into 80 m tiles: each
image draws the tiles inside the camera's frustum, nearest first, in one multi-draw call.
The bodies of a frame are two instanced draws (vehicle and walker shapes) whose per-body
transforms are uploaded once per frame. Back faces are culled; framebuffers are reused per
image size. llvmpipe rasterises in the calling thread unless ``LP_NUM_THREADS`` is set.

Every output is rendered straight into the byte layout the wire wants, so a readback is
the whole post-processing: rows come out top-down (the projection flips y) and colours as
BGRA. Modes (``MODES``):

* ``rgb``: base colours lit by the weather's sun and sky light, fog, a sky gradient;
* ``depth``: CARLA's depth encoding, planar distance along the camera's forward axis,
  ``(R + G*256 + B*65536) / (256**3 - 1) * 1000`` m (the sky reads 1000 m);
* ``semantic``: the semantic tag in red (``carla.ColorConverter.CityScapesPalette`` works);
* ``instance``: red = semantic tag, green = actor id low byte, blue = actor id high byte;
* ``normals``: surface normals in the camera frame (red right, green up, blue towards the
  camera), encoded ``(n + 1) / 2``;
* ``flow``: (H, W, 2) float32 optical flow from the previous frame to this one, in image
  fractions (x right, y up), as CARLA's optical flow camera reports it.

OpenGL runs on one thread at a time: ``render`` takes a lock and makes the context current
for the duration of the call, so any thread may call it.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps import RoadMap
from carla_lite.sensors.frame import Bodies
from carla_lite.sensors.scene import (
    TAG_SKY,
    VEHICLE_TAGS,
    UnitShape,
    body_transforms,
    static_scene,
    unit_shapes,
)

__all__ = ["MODES", "Lighting", "RenderError", "Renderer", "camera_matrices", "renderer"]

log = logging.getLogger(__name__)

MODES = ("rgb", "depth", "semantic", "instance", "normals", "flow")
NEAR_CLIP = 0.1  # [m] as CARLA's cameras (10 cm)
FAR_CLIP = 3000.0  # [m] beyond the terrain plane's edge seen from inside the map
MAX_FRAMEBUFFERS = 8  # image sizes kept ready at once
_EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"


class RenderError(RuntimeError):
    """The renderer cannot run (no EGL/OpenGL on this machine) or a render failed."""


# ---------------------------------------------------------------------------------- shaders

_VS_COMMON = """
uniform mat4 u_vp;
uniform mat4 u_prev_vp;
uniform vec3 u_cam;
uniform vec3 u_fwd;
uniform vec3 u_sun_dir;
uniform vec3 u_sun_rgb;
uniform vec3 u_ambient_rgb;
uniform mat3 u_view_rot;  // world -> camera (right, up, backwards)
#ifdef NEED_LIT
flat out vec3 v_lit;
#endif
#ifdef NEED_NORMAL
flat out vec3 v_normal;
#endif
#ifdef NEED_DEPTH
out float v_depth;
#endif
#ifdef NEED_FLOW
out vec4 v_clip;
out vec4 v_prev;
#endif
#ifdef NEED_COLOR
flat out vec4 v_color;
#endif
#ifdef NEED_ID
flat out uint v_id;
#endif
void emit(vec3 w, vec3 prev, vec3 n, vec4 color, uint id) {
    vec4 c = u_vp * vec4(w, 1.0);
#ifdef NEED_LIT
    // Flat shading: every vertex of a triangle has the face's normal.
    float sun = max(dot(n, u_sun_dir), 0.0);
    v_lit = color.rgb * (u_ambient_rgb * (0.8 + 0.2 * n.z) + u_sun_rgb * sun);
#endif
#ifdef NEED_NORMAL
    v_normal = u_view_rot * n * 0.5 + 0.5;
#endif
#ifdef NEED_FLOW
    v_clip = c;
    v_prev = u_prev_vp * vec4(prev, 1.0);
#endif
#ifdef NEED_DEPTH
    v_depth = dot(w - u_cam, u_fwd);
#endif
#ifdef NEED_COLOR
    v_color = color;
#endif
#ifdef NEED_ID
    v_id = id;
#endif
    gl_Position = vec4(c.x, -c.y, c.z, c.w);  // y flipped: rows read back top-down
}
"""

_VS_STATIC = """
in vec3 in_pos;
in vec4 in_color;   // rgb, tag / 255
in vec4 in_normal;  // (n + 1) / 2
void main() {
    emit(in_pos, in_pos, in_normal.xyz * 2.0 - 1.0, in_color, 0u);
}
"""

_VS_BODIES = """
in vec3 in_pos;
in float in_shade;
in vec3 in_normal;  // box units, along an axis
in vec4 in_m0;
in vec4 in_m1;
in vec4 in_m2;
in vec4 in_q0;
in vec4 in_q1;
in vec4 in_q2;
in vec4 in_color;  // rgb, tag / 255
in uint in_id;
void main() {
    vec4 p = vec4(in_pos, 1.0);
    vec3 w = vec3(dot(in_m0, p), dot(in_m1, p), dot(in_m2, p));
#ifdef NEED_FLOW
    vec3 prev = vec3(dot(in_q0, p), dot(in_q1, p), dot(in_q2, p));
#else
    vec3 prev = w;
#endif
    // Axis-aligned normals map to the scaled axes: normalising undoes the scale.
    vec3 n = normalize(vec3(dot(in_m0.xyz, in_normal), dot(in_m1.xyz, in_normal),
                            dot(in_m2.xyz, in_normal)));
    emit(w, prev, n, vec4(in_color.rgb * in_shade, in_color.a), in_id);
}
"""

_FS = """
#ifdef NEED_LIT
flat in vec3 v_lit;
#endif
#ifdef NEED_NORMAL
flat in vec3 v_normal;
#endif
#ifdef NEED_DEPTH
in float v_depth;
#endif
#ifdef NEED_FLOW
in vec4 v_clip;
in vec4 v_prev;
#endif
#ifdef NEED_COLOR
flat in vec4 v_color;
#endif
#ifdef NEED_ID
flat in uint v_id;
#endif
uniform vec3 u_fog_rgb;
uniform float u_fog_density;
uniform float u_fog_start;
out vec4 f_out;

void main() {
#if defined(MODE_RGB)
    float fog = 1.0 - exp(-u_fog_density * max(v_depth - u_fog_start, 0.0));
    vec3 c = mix(v_lit, u_fog_rgb, fog);
    f_out = vec4(c.b, c.g, c.r, 1.0);
#elif defined(MODE_DEPTH)
    float q = floor(clamp(v_depth / 1000.0, 0.0, 1.0) * 16777215.0 + 0.5);
    float r = mod(q, 256.0);
    float g = mod(floor(q / 256.0), 256.0);
    float b = floor(q / 65536.0);
    f_out = vec4(b, g, r, 255.0) / 255.0;
#elif defined(MODE_SEMANTIC)
    f_out = vec4(0.0, 0.0, v_color.a, 1.0);
#elif defined(MODE_INSTANCE)
    f_out = vec4(float((v_id >> 8u) & 255u) / 255.0, float(v_id & 255u) / 255.0, v_color.a, 1.0);
#elif defined(MODE_NORMALS)
    f_out = vec4(v_normal.b, v_normal.g, v_normal.r, 1.0);
#elif defined(MODE_FLOW)
    vec2 now = v_clip.xy / v_clip.w;
    vec2 before = v_prev.xy / v_prev.w;
    f_out = vec4((now - before) * 0.5, 0.0, 1.0);
#endif
}
"""

SKY_BANDS = 24  # horizontal bands of the sky gradient (colours per vertex)

_VS_SKY = """
uniform mat3 u_inv_rot;  // camera (GL eye axes) -> world
uniform vec2 u_tan;      // tan of the half fov, x and y
uniform vec3 u_zenith;
uniform vec3 u_horizon;
uniform vec3 u_fog_rgb;
uniform float u_fog_amount;
uniform float u_bands;
out vec3 v_rgb;
void main() {
    // A strip of horizontal bands over the screen, at the far plane.
    float row = float(gl_VertexID / 2);
    vec2 ndc = vec2((gl_VertexID % 2) == 0 ? -1.0 : 1.0, -1.0 + 2.0 * row / u_bands);
    // Screen y is flipped like the geometry's, so undo it to get the view direction.
    vec3 dir = u_inv_rot * vec3(ndc.x * u_tan.x, -ndc.y * u_tan.y, -1.0);
    float e = max(normalize(dir).z, 0.0);
    v_rgb = mix(mix(u_horizon, u_zenith, sqrt(e)), u_fog_rgb, u_fog_amount);
    gl_Position = vec4(ndc, 1.0, 1.0);
}
"""

_FS_SKY = """
in vec3 v_rgb;
out vec4 f_out;
void main() {
    f_out = vec4(v_rgb.b, v_rgb.g, v_rgb.r, 1.0);
}
"""

#: Clear colour (and so the sky) of the modes without a sky pass, as the shader writes it.
_CLEAR = {
    "depth": (1.0, 1.0, 1.0, 1.0),  # 1000 m
    "semantic": (0.0, 0.0, TAG_SKY / 255.0, 1.0),
    "instance": (0.0, 0.0, TAG_SKY / 255.0, 1.0),
    "normals": (0.5, 0.5, 0.5, 1.0),
    "flow": (0.0, 0.0, 0.0, 0.0),
}

#: The varyings each mode needs (fewer varyings: less work per triangle in llvmpipe).
_NEEDS = {
    "rgb": ("LIT", "DEPTH"),
    "depth": ("DEPTH",),
    "semantic": ("COLOR",),
    "instance": ("COLOR", "ID"),
    "normals": ("NORMAL",),
    "flow": ("FLOW",),
}


def _source(body: str, mode: str, vertex: bool) -> str:
    defines = "".join(f"#define NEED_{need}\n" for need in _NEEDS.get(mode, ()))
    head = f"#version 330 core\n#define MODE_{mode.upper()}\n{defines}"
    return head + (_VS_COMMON if vertex else "") + body


# ---------------------------------------------------------------------------------- maths


def _rotation(pitch: float, yaw: float, roll: float) -> NDArray[np.float64]:
    """3x3 with columns forward, right, up (Unreal's rotation convention), degrees."""
    p, y, r = math.radians(pitch), math.radians(yaw), math.radians(roll)
    cp, sp, cy, sy, cr, sr = (
        math.cos(p),
        math.sin(p),
        math.cos(y),
        math.sin(y),
        math.cos(r),
        math.sin(r),
    )
    return np.array(
        [
            [cp * cy, sr * sp * cy - cr * sy, -(cr * sp * cy + sr * sy)],
            [cp * sy, sr * sp * sy + cr * cy, cy * sr - cr * sp * sy],
            [sp, -sr * cp, cr * cp],
        ]
    )


@dataclass(frozen=True, slots=True)
class CameraMatrices:
    """The matrices of one camera pose (row-major numpy; transpose for OpenGL)."""

    view_proj: NDArray[np.float64]  # world -> clip (y not flipped)
    eye_rot: NDArray[np.float64]  # world -> GL eye axes (right, up, backwards)
    position: NDArray[np.float64]
    forward: NDArray[np.float64]
    tan_half: tuple[float, float]


def camera_matrices(
    pose: NDArray[np.float64], width: int, height: int, fov: float
) -> CameraMatrices:
    """Projection of a CARLA camera (looking along its +x, z up) with horizontal ``fov``."""
    x, y, z, pitch, yaw, roll = (float(v) for v in pose)
    rot = _rotation(pitch, yaw, roll)
    forward, right, up = rot[:, 0], rot[:, 1], rot[:, 2]
    eye_rot = np.stack((right, up, -forward))
    position = np.array([x, y, z])
    view = np.eye(4)
    view[:3, :3] = eye_rot
    view[:3, 3] = -eye_rot @ position
    tan_x = math.tan(math.radians(fov) * 0.5)
    tan_y = tan_x * height / width
    n, f = NEAR_CLIP, FAR_CLIP
    proj = np.zeros((4, 4))
    proj[0, 0] = 1.0 / tan_x
    proj[1, 1] = 1.0 / tan_y
    proj[2, 2] = -(f + n) / (f - n)
    proj[2, 3] = -2.0 * f * n / (f - n)
    proj[3, 2] = -1.0
    return CameraMatrices(proj @ view, eye_rot, position, forward, (tan_x, tan_y))


def _gl(matrix: NDArray[np.float64]) -> bytes:
    return np.ascontiguousarray(matrix.T, dtype=np.float32).tobytes()


@dataclass(frozen=True, slots=True)
class Lighting:
    """The RGB camera's light from ``carla.WeatherParameters`` (wire order, 14 floats).

    Uses cloudiness, precipitation, sun azimuth and altitude, fog density and distance.
    """

    sun_dir: tuple[float, float, float]
    sun_rgb: tuple[float, float, float]
    ambient_rgb: tuple[float, float, float]
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    fog_rgb: tuple[float, float, float]
    fog_density: float  # [1/m]
    fog_start: float  # [m]

    @staticmethod
    def from_weather(weather: tuple[float, ...]) -> Lighting:
        w = tuple(weather) + (0.0,) * (14 - len(weather))
        cloud = min(max(w[0] / 100.0, 0.0), 1.0)
        rain = min(max(w[1] / 100.0, 0.0), 1.0)
        azimuth, altitude = math.radians(w[4]), w[5]
        fog = min(max(w[6] / 100.0, 0.0), 1.0)
        alt = math.radians(altitude)
        sun_dir = (
            math.cos(alt) * math.cos(azimuth),
            math.cos(alt) * math.sin(azimuth),
            math.sin(alt),
        )
        day = _smoothstep(-8.0, 6.0, altitude)  # twilight to full daylight
        sun_power = 0.8 * min(max(math.sin(alt) * 4.0, 0.0), 1.0) * (1.0 - 0.8 * cloud)
        sun_power *= 1.0 - 0.5 * rain
        overcast = 0.15 * cloud * day
        ambient = (0.1 + 0.45 * day + overcast) * (1.0 - 0.25 * rain)
        grey = 0.75 * day + 0.05
        clear_zenith = (0.25 * day + 0.02, 0.45 * day + 0.03, 0.85 * day + 0.08)
        clear_horizon = (0.70 * day + 0.05, 0.80 * day + 0.05, 0.92 * day + 0.08)
        overcast_mix = max(cloud, rain)
        zenith = _mix(clear_zenith, (grey * 0.8,) * 3, overcast_mix)
        horizon = _mix(clear_horizon, (grey,) * 3, overcast_mix)
        fog_rgb = _mix(horizon, (0.7 * day + 0.1,) * 3, 0.5)
        return Lighting(
            sun_dir=sun_dir,
            sun_rgb=(sun_power * 1.0, sun_power * 0.96, sun_power * 0.88),
            ambient_rgb=(ambient * 0.95, ambient * 0.98, ambient * 1.05),
            zenith=zenith,
            horizon=horizon,
            fog_rgb=fog_rgb,
            # A light haze always; fog_density 100 hides everything beyond ~50 m.
            fog_density=0.0008 + 0.06 * fog**1.5,
            fog_start=max(w[7], 0.0),
        )


@functools.lru_cache(maxsize=16)
def _lighting(weather: tuple[float, ...]) -> Lighting:
    return Lighting.from_weather(weather)


def _smoothstep(a: float, b: float, x: float) -> float:
    t = min(max((x - a) / (b - a), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mix(a: tuple[float, ...], b: tuple[float, ...], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


# ---------------------------------------------------------------------------------- renderer


TILE = 80.0  # [m] side of the static scene's culling tiles
#: Road lines and poles further than this are under a pixel wide at 800 px and 90 degrees.
DETAIL_RANGE = 150.0  # [m]
_DETAIL_TAGS = (6, 24)  # Pole, RoadLine


@dataclass(frozen=True, slots=True)
class _StaticTiles:
    """The static scene as unindexed vertices sorted by tile, with each tile's range and box."""

    vertices: NDArray[np.void]  # position (3 f4) + colour and tag (4 u1) per vertex
    first: NDArray[np.uint32]  # (N,) first vertex of each tile
    count: NDArray[np.uint32]  # (N,) vertices of each tile
    lo: NDArray[np.float64]  # (N, 3) tile bounding boxes
    hi: NDArray[np.float64]
    reach: NDArray[np.float64]  # (N,) drawn only this close to the camera [m]
    lo_finite: NDArray[np.float64]  # the boxes with infinities clipped (plane tests)
    hi_finite: NDArray[np.float64]


#: A static vertex: position, colour and tag, the face normal as (n + 1) / 2 (w unused).
_STATIC_VERTEX = np.dtype([("pos", "<f4", 3), ("rgba", "u1", 4), ("normal", "u1", 4)])


def _face_normals(corners: NDArray[np.floating]) -> NDArray[np.float64]:
    """Unit normals ``cross(v1 - v0, v2 - v0)`` of (T, 3, 3) triangles (0 if degenerate)."""
    c = np.asarray(corners, dtype=np.float64)
    n = np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def _encoded_normals(corners: NDArray[np.floating]) -> NDArray[np.uint8]:
    out = np.zeros((len(corners), 4), dtype=np.uint8)
    out[:, :3] = np.round((_face_normals(corners) * 0.5 + 0.5) * 255.0)
    return out


def _tile_static(road_map: RoadMap) -> _StaticTiles:
    mesh = static_scene(road_map)
    corners = mesh.vertices[mesh.triangles]  # (T, 3, 3)
    lo_t, hi_t = corners.min(axis=1), corners.max(axis=1)
    centre = 0.5 * (lo_t + hi_t)
    cells = np.floor(centre[:, :2] / TILE).astype(np.int64)
    cells -= cells.min(axis=0)
    ncols = int(cells[:, 0].max()) + 1
    detail = np.isin(mesh.tags, _DETAIL_TAGS)
    tile = 2 * (cells[:, 1] * ncols + cells[:, 0]) + 1 + detail
    # Triangles much larger than a tile (the terrain) form tile 0, always drawn first.
    tile[np.max(hi_t[:, :2] - lo_t[:, :2], axis=1) > TILE] = 0
    order = np.argsort(tile, kind="stable")
    tile = tile[order]
    ids, starts, counts = np.unique(tile, return_index=True, return_counts=True)
    lo = np.minimum.reduceat(lo_t[order], starts, axis=0).astype(np.float64)
    hi = np.maximum.reduceat(hi_t[order], starts, axis=0).astype(np.float64)
    rgba = np.empty((mesh.triangle_count, 4), dtype=np.uint8)
    rgba[:, :3] = mesh.colors
    rgba[:, 3] = mesh.tags
    out = np.empty(3 * mesh.triangle_count, dtype=_STATIC_VERTEX)
    out["pos"] = corners[order].reshape(-1, 3)
    out["rgba"] = np.repeat(rgba[order], 3, axis=0)
    out["normal"] = np.repeat(_encoded_normals(corners[order]), 3, axis=0)
    if ids[0] == 0:  # always visible: an infinite box
        lo[0], hi[0] = -np.inf, np.inf
    reach = np.where((ids > 0) & (ids % 2 == 0), DETAIL_RANGE, np.inf)
    return _StaticTiles(
        out,
        (3 * starts).astype(np.uint32),
        (3 * counts).astype(np.uint32),
        lo,
        hi,
        reach,
        np.maximum(lo, -1e9),
        np.minimum(hi, 1e9),
    )


def _visible(
    tiles: _StaticTiles, view_proj: NDArray[np.float64], eye: NDArray[np.float64]
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Tiles within reach whose boxes are not entirely outside one of the frustum's planes,
    and every tile's squared distance from ``eye``."""
    m = view_proj
    planes = np.stack(
        (m[3] + m[0], m[3] - m[0], m[3] + m[1], m[3] - m[1], m[3] + m[2], m[3] - m[2])
    )
    normal, d = planes[:, :3], planes[:, 3]
    # The box corner furthest along each plane's normal (infinite boxes: far away).
    far = np.where(
        normal[None, :, :] >= 0, tiles.hi_finite[:, None, :], tiles.lo_finite[:, None, :]
    )
    dist = np.einsum("tpk,pk->tp", far, normal) + d
    near = np.clip(eye[None, :], tiles.lo, tiles.hi)  # closest point of each box
    distance2 = np.sum((near - eye[None, :]) ** 2, axis=1)
    return np.all(dist >= 0.0, axis=1) & (distance2 <= tiles.reach**2), distance2


def _expand_shape(shape: UnitShape) -> NDArray[np.float32]:
    """Unindexed vertices of a unit shape: position, shade, face normal (box units)."""
    corners = shape.vertices[shape.triangles]
    normals = np.repeat(_face_normals(corners), 3, axis=0)
    shade = np.repeat(shape.shade, 3)[:, None]
    return np.hstack((corners.reshape(-1, 3), shade, normals)).astype(np.float32)


_VEHICLE_TAG_LIST = sorted(VEHICLE_TAGS)
_INSTANCE_DTYPE = np.dtype([("m", "<f4", 12), ("rgba", "u1", 4), ("id", "<u4")])


class Renderer:
    """Draws the static scene and the bodies of a frame from any camera pose.

    Raises:
        RenderError: when no headless OpenGL context can be created.
    """

    def __init__(self) -> None:
        try:
            import moderngl
        except ImportError as e:  # pragma: no cover - pinned in requirements.txt
            raise RenderError(f"cameras need moderngl (pip install moderngl): {e}") from e
        # llvmpipe rasterises on LP_NUM_THREADS extra threads (default: one per core). Camera
        # images are small and servers share their cores with clients and other servers:
        # rendering in the calling thread measured fastest end to end on 2 cores (84x84:
        # 444 ticks/s vs 252; 800x600: 92 vs 55). Users may set LP_NUM_THREADS themselves.
        os.environ.setdefault("LP_NUM_THREADS", "0")
        try:
            # The stub types ``backend`` wrongly (a dict); moderngl takes the backend's name.
            self.ctx = moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]
        except Exception as e:
            raise RenderError(
                "cameras need a headless EGL/OpenGL 3.3 context (moderngl, EGL backend) and "
                f"none could be created: {e}. On Debian/Ubuntu install the packages "
                f"{_EGL_PACKAGES} (apt-get install -y {_EGL_PACKAGES})."
            ) from e
        self._moderngl = moderngl
        self.lock = threading.Lock()
        self._programs: dict[tuple[str, str], Any] = {}
        # (width, height, flow) -> (framebuffer, colour buffer, depth buffer)
        self._fbos: dict[tuple[int, int, bool], tuple[Any, Any, Any]] = {}
        self._static_map: RoadMap | None = None
        self._static_vbo: Any = None
        self._static_vaos: dict[str, Any] = {}
        vehicle, walker = unit_shapes()
        ctx = self.ctx
        with ctx:
            self._shape_vbos = [ctx.buffer(_expand_shape(s).tobytes()) for s in (vehicle, walker)]
            self._shape_counts = [len(s.triangles) * 3 for s in (vehicle, walker)]
            self._inst = [
                ctx.buffer(reserve=_INSTANCE_DTYPE.itemsize * 16, dynamic=True) for _ in range(2)
            ]
            self._prev = [ctx.buffer(reserve=48 * 16, dynamic=True) for _ in range(2)]
            self._body_counts = [0, 0]
            self._body_vaos: dict[tuple[str, int], Any] = {}
            self._bodies: Bodies | None = None
            self._tags: NDArray[np.uint8] | None = None
            self._rows: list[NDArray[np.intp]] = [np.zeros(0, np.intp)] * 2
            self._sky = ctx.program(
                vertex_shader=_source(_VS_SKY, "rgb", False),
                fragment_shader=_source(_FS_SKY, "rgb", False),
            )
            self._sky_vao = ctx.vertex_array(self._sky, [], mode=moderngl.TRIANGLE_STRIP)
            self._indirect = ctx.buffer(reserve=20 * 256, dynamic=True)
            self._tiles: _StaticTiles | None = None
        with ctx:
            self.info = {k: str(v) for k, v in ctx.info.items() if isinstance(v, str)}
        log.info(
            "cameras render with %s (OpenGL %s, LP_NUM_THREADS=%s)",
            self.info.get("GL_RENDERER"),
            self.info.get("GL_VERSION"),
            os.environ.get("LP_NUM_THREADS"),
        )

    # -- resources -----------------------------------------------------------------------------

    def _program(self, mode: str, kind: str) -> Any:
        key = (mode, kind)
        prog = self._programs.get(key)
        if prog is None:
            vs = _VS_STATIC if kind == "static" else _VS_BODIES
            prog = self.ctx.program(
                vertex_shader=_source(vs, mode, True), fragment_shader=_source(_FS, mode, False)
            )
            self._programs[key] = prog
        return prog

    def _framebuffer(self, width: int, height: int, flow: bool) -> Any:
        key = (width, height, flow)
        held = self._fbos.get(key)
        if held is None:
            if len(self._fbos) >= MAX_FRAMEBUFFERS:  # release the oldest size
                for item in self._fbos.pop(next(iter(self._fbos))):
                    item.release()
            ctx = self.ctx
            color = (
                ctx.renderbuffer((width, height), 2, dtype="f4")
                if flow
                else ctx.renderbuffer((width, height), 4)
            )
            depth = ctx.depth_renderbuffer((width, height))
            held = (ctx.framebuffer([color], depth), color, depth)
            self._fbos[key] = held
        return held[0]

    def _static_vao(self, road_map: RoadMap, mode: str) -> Any:
        if road_map is not self._static_map:
            for vao in self._static_vaos.values():
                vao.release()
            if self._static_vbo is not None:
                self._static_vbo.release()
            self._static_vaos = {}
            self._tiles = _tile_static(road_map)
            self._static_vbo = self.ctx.buffer(self._tiles.vertices.tobytes())
            self._static_map = road_map
        vao = self._static_vaos.get(mode)
        if vao is None:
            prog = self._program(mode, "static")
            vao = self.ctx.vertex_array(
                prog,
                [(self._static_vbo, "3f 4f1 4f1", "in_pos", "in_color", "in_normal")],
                skip_errors=True,
            )
            self._static_vaos[mode] = vao
        return vao

    def _body_vao(self, mode: str, shape: int) -> Any:
        key = (mode, shape)
        vao = self._body_vaos.get(key)
        if vao is None:
            prog = self._program(mode, "bodies")
            vao = self.ctx.vertex_array(
                prog,
                [
                    (self._shape_vbos[shape], "3f f 3f", "in_pos", "in_shade", "in_normal"),
                    (
                        self._inst[shape],
                        "4f 4f 4f 4f1 u /i",
                        "in_m0",
                        "in_m1",
                        "in_m2",
                        "in_color",
                        "in_id",
                    ),
                    (self._prev[shape], "4f 4f 4f /i", "in_q0", "in_q1", "in_q2"),
                ],
                skip_errors=True,
            )
            self._body_vaos[key] = vao
        return vao

    def _write(self, index: int, data: bytes, prev: bool) -> None:
        """Write instance data, growing the buffer (and dropping its VAOs) when needed."""
        buffers = self._prev if prev else self._inst
        buf = buffers[index]
        if buf.size < len(data):
            size = max(len(data), 2 * buf.size)
            buf.release()
            buffers[index] = self.ctx.buffer(reserve=size, dynamic=True)
            for key in [k for k in self._body_vaos if k[1] == index]:
                self._body_vaos.pop(key).release()
            buf = buffers[index]
        if data:
            buf.write(data)

    def _upload_bodies(self, bodies: Bodies) -> None:
        if bodies is self._bodies:
            return
        self._bodies = bodies
        k = len(bodies.ids)
        if k == 0:
            self._body_counts = [0, 0]
            self._rows = [np.zeros(0, np.intp)] * 2
            self._tags = None
            return
        m = body_transforms(bodies).reshape(k, 12)
        inst = np.empty(k, dtype=_INSTANCE_DTYPE)
        inst["m"] = m
        inst["rgba"][:, :3] = np.asarray(bodies.color, dtype=np.uint8)
        inst["rgba"][:, 3] = np.asarray(bodies.semantic_tag, dtype=np.uint8)
        inst["id"] = np.asarray(bodies.ids, dtype=np.uint32)
        tags = bodies.semantic_tag
        if tags is not self._tags:  # the world keeps one array while its bodies stay
            self._tags = tags
            is_vehicle = np.isin(np.asarray(tags), _VEHICLE_TAG_LIST)
            self._rows = [np.flatnonzero(is_vehicle), np.flatnonzero(~is_vehicle)]
        for shape, rows in enumerate(self._rows):
            self._write(shape, inst[rows].tobytes(), prev=False)
            self._body_counts[shape] = len(rows)

    # -- rendering -----------------------------------------------------------------------------

    def render(
        self,
        mode: str,
        road_map: RoadMap,
        bodies: Bodies,
        pose: NDArray[np.float64],
        width: int,
        height: int,
        fov: float,
        weather: tuple[float, ...] = (),
        previous: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    ) -> NDArray[Any]:
        """One image of ``mode`` (see the module docstring).

        Args:
            mode: One of ``MODES``.
            road_map: The loaded map (its static scene is uploaded once).
            bodies: This frame's vehicles and walkers.
            pose: (6,) camera world pose x y z pitch yaw roll.
            width, height: Image size [px].
            fov: Horizontal field of view [deg].
            weather: ``carla.WeatherParameters`` in wire order (``rgb`` only).
            previous: For ``flow``: the camera's pose at the previous frame and (K, 6) poses
                of ``bodies`` at the previous frame (rows as ``bodies``). None: no motion.

        Returns:
            ``(height, width, 4) uint8`` BGRA, or ``(height, width, 2) float32`` for flow.

        Raises:
            ValueError: an unknown mode.
            RenderError: OpenGL failed (out of memory for the image, a driver error).
        """
        if mode not in MODES:
            raise ValueError(f"render mode {mode!r} is not one of {MODES}")
        cam = camera_matrices(pose, width, height, fov)
        with self.lock, self.ctx:
            try:
                return self._render(
                    mode, road_map, bodies, cam, width, height, fov, weather, previous
                )
            except self._moderngl.Error as e:
                raise RenderError(
                    f"OpenGL failed to render a {width}x{height} {mode} image: {e}"
                ) from e

    def _render(
        self,
        mode: str,
        road_map: RoadMap,
        bodies: Bodies,
        cam: CameraMatrices,
        width: int,
        height: int,
        fov: float,
        weather: tuple[float, ...],
        previous: tuple[NDArray[np.float64], NDArray[np.float64]] | None,
    ) -> NDArray[Any]:
        ctx = self.ctx
        flow = mode == "flow"
        fbo = self._framebuffer(width, height, flow)
        fbo.use()
        # Closed solids are wound outward and surfaces upward (scene.py): cull back faces.
        # With CARLA's left-handed frame and the y flip, outward faces come out
        # counter-clockwise on screen (the camera tests see the near face of a car).
        ctx.enable(self._moderngl.DEPTH_TEST | self._moderngl.CULL_FACE)
        ctx.front_face = "ccw"
        ctx.depth_func = "<="
        lighting = _lighting(tuple(weather)) if mode == "rgb" else None
        fbo.clear(*_CLEAR.get(mode, (0.0, 0.0, 0.0, 1.0)), depth=1.0)
        static = self._static_vao(road_map, mode)
        self._upload_bodies(bodies)
        prev_vp = cam.view_proj
        if flow and previous is not None:
            prev_vp = camera_matrices(previous[0], width, height, fov).view_proj
        uniforms: dict[str, Any] = {
            "u_vp": _gl(cam.view_proj),
            "u_prev_vp": _gl(prev_vp),
            "u_cam": cam.position,
            "u_fwd": cam.forward,
            "u_view_rot": cam.eye_rot,
        }
        if lighting is not None:
            uniforms.update(
                u_sun_dir=lighting.sun_dir,
                u_sun_rgb=lighting.sun_rgb,
                u_ambient_rgb=lighting.ambient_rgb,
                u_fog_rgb=lighting.fog_rgb,
                u_fog_density=lighting.fog_density,
                u_fog_start=lighting.fog_start,
            )
        uniforms = {
            k: v if isinstance(v, bytes) else _uniform_bytes(v) for k, v in uniforms.items()
        }
        self._set_uniforms(self._program(mode, "static"), uniforms)
        if any(self._body_counts):
            self._set_uniforms(self._program(mode, "bodies"), uniforms)
        if flow:
            self._upload_previous(bodies, previous)
        for shape in (0, 1):  # bodies first: often the nearest surfaces
            count = self._body_counts[shape]
            if count:
                self._body_vao(mode, shape).render(
                    vertices=self._shape_counts[shape], instances=count
                )
        self._draw_static(static, cam)
        if lighting is not None:
            ctx.disable(self._moderngl.CULL_FACE)
            self._draw_sky(cam, lighting)
        if flow:
            raw = fbo.read(components=2, dtype="f4", alignment=1)
            return np.frombuffer(raw, dtype=np.float32).reshape(height, width, 2)
        raw = fbo.read(components=4, alignment=1)
        return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)

    def _draw_static(self, vao: Any, cam: CameraMatrices) -> None:
        """The visible tiles in one multi-draw, nearest first (the depth test then rejects
        hidden fragments before shading them), the terrain last."""
        tiles = self._tiles
        assert tiles is not None
        visible, distance2 = _visible(tiles, cam.view_proj, cam.position)
        if not visible.any():
            return
        key = np.where(np.isinf(tiles.lo[:, 0]), np.inf, distance2)
        picked = np.flatnonzero(visible)
        picked = picked[np.argsort(key[picked], kind="stable")]
        # moderngl steps through indirect commands 20 bytes apart, arrays or elements alike:
        # count, instance count, first, base instance and one unused word.
        commands = np.zeros((len(picked), 5), dtype=np.uint32)
        commands[:, 0] = tiles.count[picked]
        commands[:, 1] = 1
        commands[:, 2] = tiles.first[picked]
        data = commands.tobytes()
        if self._indirect.size < len(data):
            size = max(len(data), 2 * self._indirect.size)
            self._indirect.release()
            self._indirect = self.ctx.buffer(reserve=size, dynamic=True)
        self._indirect.write(data)
        vao.render_indirect(self._indirect, count=len(commands))

    def _upload_previous(
        self, bodies: Bodies, previous: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    ) -> None:
        k = len(bodies.ids)
        if not k:
            return
        if previous is None:
            prev = body_transforms(bodies)
        else:
            moved = Bodies(
                ids=bodies.ids,
                pose=previous[1],
                velocity=bodies.velocity,
                box_center=bodies.box_center,
                box_extent=bodies.box_extent,
                semantic_tag=bodies.semantic_tag,
                color=bodies.color,
            )
            prev = body_transforms(moved)
        flat = prev.reshape(k, 12).astype(np.float32)
        for shape, rows in enumerate(self._rows):
            self._write(shape, flat[rows].tobytes(), prev=True)

    def _draw_sky(self, cam: CameraMatrices, lighting: Lighting) -> None:
        self._set_uniforms(
            self._sky,
            {
                # mat3 is column-major: the rows of eye_rot become columns, its inverse.
                "u_inv_rot": np.ascontiguousarray(cam.eye_rot, dtype=np.float32).tobytes(),
                "u_tan": cam.tan_half,
                "u_zenith": lighting.zenith,
                "u_horizon": lighting.horizon,
                "u_fog_rgb": lighting.fog_rgb,
                "u_fog_amount": min(1.0, lighting.fog_density * 300.0),
                "u_bands": float(SKY_BANDS),
            },
        )
        self._sky_vao.render(vertices=2 * (SKY_BANDS + 1))

    @staticmethod
    def _set_uniforms(prog: Any, values: dict[str, Any]) -> None:
        """Write uniforms the program has (others are skipped): float scalars, vectors,
        matrices (numpy, row-major: written transposed for GLSL) or raw bytes."""
        members = prog._members  # a dict: ``name in prog`` would walk every member
        for name, value in values.items():
            member = members.get(name)
            if member is not None:
                member.write(value if isinstance(value, bytes) else _uniform_bytes(value))


def _uniform_bytes(value: Any) -> bytes:
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 2:  # GLSL matrices are column-major
        array = array.T
    return np.ascontiguousarray(array).tobytes()


_RENDERER: Renderer | None = None
_RENDERER_LOCK = threading.Lock()


def renderer() -> Renderer:
    """The process's renderer (the EGL context is created on the first call).

    Raises:
        RenderError: no headless OpenGL here (names the Debian packages to install).
    """
    global _RENDERER
    with _RENDERER_LOCK:
        if _RENDERER is None:
            _RENDERER = Renderer()
        return _RENDERER
