"""Camera images by rasterisation: moderngl on a headless EGL context (Mesa llvmpipe on CPU).

One renderer per process (``renderer()``), created on first use. The static scene of the
loaded map lives in one GPU buffer, sorted into 80 m tiles (``static_tiles``): each image
draws the tiles inside the camera's frustum, nearest first, in one multi-draw call. The
bodies of a frame are two instanced draws (vehicle and walker shapes) whose per-body
transforms are uploaded once per frame. Back faces are culled; framebuffers are reused per
image size. llvmpipe rasterises in the calling thread unless ``LP_NUM_THREADS`` is set.
The shaders are in ``gl_shaders``, the camera's matrices in ``camera_projection`` and the
weather's light in ``lighting``.

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

import dataclasses
import logging
import os
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps import RoadMap
from carla_lite.sensors.camera_projection import CameraMatrices, camera_matrices
from carla_lite.sensors.frame import Bodies
from carla_lite.sensors.gl_shaders import (
    CLEAR_COLORS,
    FS,
    FS_SKY,
    MODES,
    SKY_BANDS,
    VS_BODIES,
    VS_SKY,
    VS_STATIC,
    shader_source,
)
from carla_lite.sensors.lighting import Lighting, weather_lighting
from carla_lite.sensors.scene.bodies import (
    UnitShape,
    body_transforms,
    drawn_as_vehicle,
    unit_shapes,
)
from carla_lite.sensors.scene.mesh import face_normals
from carla_lite.sensors.static_tiles import StaticTiles, tile_static_scene, visible_tiles

__all__ = ["MODES", "RenderError", "Renderer", "renderer"]

log = logging.getLogger(__name__)

MAX_FRAMEBUFFERS = 8  # image sizes kept ready at once
_EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"


class RenderError(RuntimeError):
    """The renderer cannot run (no EGL/OpenGL on this machine) or a render failed."""


def _expand_shape(shape: UnitShape) -> NDArray[np.float32]:
    """Unindexed vertices of a unit shape: position, shade, face normal (box units)."""
    corners = shape.vertices[shape.triangles]
    normals = np.repeat(face_normals(corners), 3, axis=0)
    shade = np.repeat(shape.shade, 3)[:, None]
    return np.hstack((corners.reshape(-1, 3), shade, normals)).astype(np.float32)


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
                vertex_shader=shader_source(VS_SKY, "rgb", False),
                fragment_shader=shader_source(FS_SKY, "rgb", False),
            )
            self._sky_vao = ctx.vertex_array(self._sky, [], mode=moderngl.TRIANGLE_STRIP)
            self._indirect = ctx.buffer(reserve=20 * 256, dynamic=True)
            self._tiles: StaticTiles | None = None
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
            vs = VS_STATIC if kind == "static" else VS_BODIES
            prog = self.ctx.program(
                vertex_shader=shader_source(vs, mode, True),
                fragment_shader=shader_source(FS, mode, False),
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
            self._tiles = tile_static_scene(road_map)
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

    def _fitted(self, buf: Any, size: int) -> Any:
        """``buf`` if ``size`` bytes fit, else a new dynamic buffer (at least twice as large)
        in place of ``buf``, which is released."""
        if buf.size >= size:
            return buf
        reserve = max(size, 2 * buf.size)
        buf.release()
        return self.ctx.buffer(reserve=reserve, dynamic=True)

    def _write(self, index: int, data: bytes, prev: bool) -> None:
        """Write instance data, growing the buffer (and dropping its VAOs) when needed."""
        buffers = self._prev if prev else self._inst
        buf = self._fitted(buffers[index], len(data))
        if buf is not buffers[index]:
            buffers[index] = buf
            for key in [k for k in self._body_vaos if k[1] == index]:
                self._body_vaos.pop(key).release()
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
            is_vehicle = drawn_as_vehicle(tags)
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
        # Closed solids are wound outward and surfaces upward (``scene``): cull back faces.
        # With CARLA's left-handed frame and the y flip, outward faces come out
        # counter-clockwise on screen (the camera tests see the near face of a car).
        ctx.enable(self._moderngl.DEPTH_TEST | self._moderngl.CULL_FACE)
        ctx.front_face = "ccw"
        ctx.depth_func = "<="
        lighting = weather_lighting(tuple(weather)) if mode == "rgb" else None
        fbo.clear(*CLEAR_COLORS.get(mode, (0.0, 0.0, 0.0, 1.0)), depth=1.0)
        static = self._static_vao(road_map, mode)
        self._upload_bodies(bodies)
        prev_vp = cam.view_proj
        if flow and previous is not None:
            prev_vp = camera_matrices(previous[0], width, height, fov).view_proj
        uniforms: dict[str, Any] = {
            "u_vp": _uniform_bytes(cam.view_proj),
            "u_prev_vp": _uniform_bytes(prev_vp),
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
        visible, distance2 = visible_tiles(tiles, cam.view_proj, cam.position)
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
        self._indirect = self._fitted(self._indirect, len(data))
        self._indirect.write(data)
        vao.render_indirect(self._indirect, count=len(commands))

    def _upload_previous(
        self, bodies: Bodies, previous: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    ) -> None:
        k = len(bodies.ids)
        if not k:
            return
        moved = bodies if previous is None else dataclasses.replace(bodies, pose=previous[1])
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
