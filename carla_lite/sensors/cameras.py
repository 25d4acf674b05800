"""The ``sensor.camera.*`` sensors, rendered by ``gl_renderer`` from the sensor's world pose.

Honoured attributes: ``image_size_x``, ``image_size_y``, ``fov`` (horizontal, degrees),
``sensor_tick`` (the base class) and, for the DVS camera, ``positive_threshold``,
``negative_threshold``, ``sigma_positive_threshold``, ``sigma_negative_threshold``,
``refractory_period_ns``, ``use_log`` and ``log_eps``. The lens model (``lens_*``) and the
post-processing attributes (exposure, gamma, bloom, motion blur, ...) are accepted and
ignored: images are an ideal pinhole camera without post-processing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carla_lite.sensors.base import Sensor, SensorConfigError, SensorSpec
from carla_lite.sensors.checks import bounded, flag
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.gl_renderer import RenderError, renderer
from carla_lite.sensors.measurements import (
    DvsMeasurement,
    FloatImageMeasurement,
    ImageMeasurement,
    Measurement,
)

__all__ = [
    "DVS_EVENT_DTYPE",
    "DepthCamera",
    "DvsCamera",
    "InstanceSegmentationCamera",
    "NormalsCamera",
    "OpticalFlowCamera",
    "RgbCamera",
    "SemanticSegmentationCamera",
]

MAX_IMAGE_SIDE = 8192  # [px] well inside llvmpipe's renderbuffer limit (16384)
#: ``sensor::data::DVSEvent`` (13 B, packed): x, y [px], t [ns], polarity.
DVS_EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("pol", "?")])


class _Camera(Sensor):
    """A pinhole camera at the sensor's world pose, looking along its +x with z up."""

    uses_scene = True

    #: The blueprint id's last part (``rgb``, ``depth``, ...): picks the serializer.
    camera = ""
    #: What the renderer draws (``gl_renderer.MODES``).
    mode = ""

    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.width = int(bounded(spec, "image_size_x", 800, 1, MAX_IMAGE_SIDE, integer=True))
        self.height = int(bounded(spec, "image_size_y", 600, 1, MAX_IMAGE_SIDE, integer=True))
        self.fov = bounded(spec, "fov", 90.0, 0.0, 179.0, low_open=True)
        try:
            renderer()  # no OpenGL here: fail the spawn with the packages to install
        except RenderError as e:
            raise SensorConfigError(f"{spec.blueprint_id}: {e}") from e

    def _render(
        self,
        frame: SensorFrame,
        mode: str,
        previous: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    ) -> NDArray:
        return renderer().render(
            mode,
            frame.road_map,
            frame.bodies,
            frame.pose_row(self.actor_id),
            self.width,
            self.height,
            self.fov,
            frame.weather,
            previous,
        )

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        bgra = self._render(frame, self.mode)
        return [
            ImageMeasurement(
                *self.stamp(frame),
                camera=self.camera,
                fov=self.fov,
                bgra=bgra,
            )
        ]


class RgbCamera(_Camera):
    """``sensor.camera.rgb``: the scene lit by the weather's sun and sky."""

    camera, mode = "rgb", "rgb"


class DepthCamera(_Camera):
    """``sensor.camera.depth``: CARLA's 24-bit depth encoding (1000 m full scale)."""

    camera, mode = "depth", "depth"


class SemanticSegmentationCamera(_Camera):
    """``sensor.camera.semantic_segmentation``: the semantic tag in the red channel."""

    camera, mode = "semantic_segmentation", "semantic"


class InstanceSegmentationCamera(_Camera):
    """``sensor.camera.instance_segmentation``: red tag, green/blue actor id (low/high byte)."""

    camera, mode = "instance_segmentation", "instance"


class NormalsCamera(_Camera):
    """``sensor.camera.normals``: camera-frame normals as ``(n + 1) / 2`` colours (BGRA8)."""

    camera, mode = "normals", "normals"


class OpticalFlowCamera(_Camera):
    """``sensor.camera.optical_flow``: motion since this camera's previous image.

    Pixels are (x, y) float32 displacements in image fractions (x right, y up), from the
    camera's and the bodies' poses at the previous measurement; the first image is zero.
    """

    camera, mode = "optical_flow", "flow"

    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self._pose: NDArray[np.float64] | None = None
        self._ids: NDArray[np.uint32] = np.zeros(0, np.uint32)
        self._poses: NDArray[np.float64] = np.zeros((0, 6))

    def _previous_bodies(self, frame: SensorFrame) -> NDArray[np.float64]:
        """This frame's bodies at their previous poses (bodies new since then: as now)."""
        ids = np.asarray(frame.bodies.ids)
        now = np.asarray(frame.bodies.pose, dtype=np.float64)
        out = now.copy()
        if len(self._ids) and len(ids):
            order = np.argsort(self._ids)
            sorted_ids = self._ids[order]
            at = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
            known = sorted_ids[at] == ids
            out[known] = self._poses[order[at[known]]]
        return out

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        pose = np.array(frame.pose_row(self.actor_id), dtype=np.float64)
        previous = None
        if self._pose is not None:
            previous = (self._pose, self._previous_bodies(frame))
        flow = self._render(frame, "flow", previous)
        self._pose = pose
        self._ids = np.array(frame.bodies.ids, dtype=np.uint32)
        self._poses = np.array(frame.bodies.pose, dtype=np.float64)
        return [
            FloatImageMeasurement(
                *self.stamp(frame),
                camera=self.camera,
                fov=self.fov,
                pixels=flow,
            )
        ]


class DvsCamera(_Camera):
    """``sensor.camera.dvs``: brightness-change events between successive RGB images.

    Each pixel keeps a reference (log) intensity; when this image's intensity differs from
    it by ``k`` thresholds, ``k`` events fire, their times spread linearly over the interval
    since the previous image (the intensity is taken to change linearly in between). The
    first image only sets the references. No events: no measurement (as CARLA sends none).
    """

    camera, mode = "dvs", "rgb"

    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.positive = bounded(spec, "positive_threshold", 0.3, 0.0, low_open=True)
        self.negative = bounded(spec, "negative_threshold", 0.3, 0.0, low_open=True)
        self.sigma_positive = bounded(spec, "sigma_positive_threshold", 0.0, 0.0)
        self.sigma_negative = bounded(spec, "sigma_negative_threshold", 0.0, 0.0)
        self.refractory_ns = int(bounded(spec, "refractory_period_ns", 0, 0, integer=True))
        self.use_log = flag(spec, "use_log", True)
        self.log_eps = bounded(spec, "log_eps", 0.001, 0.0)
        self._rng = np.random.default_rng(spec.actor_id)
        self._reference: NDArray[np.float64] | None = None
        self._last_event: NDArray[np.int64] | None = None
        self._time_ns = 0

    def _intensity(self, bgra: NDArray[np.uint8]) -> NDArray[np.float64]:
        b, g, r = (bgra[:, :, i].astype(np.float64) for i in range(3))
        gray = (0.2989 * r + 0.587 * g + 0.114 * b) / 255.0
        return np.log(self.log_eps + gray) if self.use_log else gray

    def _thresholds(self, mean: float, sigma: float) -> NDArray[np.float64] | float:
        if sigma <= 0.0:
            return mean
        noisy = self._rng.normal(mean, sigma, size=(self.height, self.width))
        return np.maximum(noisy, 0.01 * mean)

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        now = self._intensity(self._render(frame, "rgb"))
        time_ns = round(frame.timestamp * 1e9)
        if self._reference is None or self._last_event is None:
            self._reference = now
            self._last_event = np.full(now.shape, np.iinfo(np.int64).min // 2, dtype=np.int64)
            self._time_ns = time_ns
            return []
        events = self._events(now, self._time_ns, time_ns)
        self._time_ns = time_ns
        if not len(events):
            return []
        return [
            DvsMeasurement(
                *self.stamp(frame),
                width=self.width,
                height=self.height,
                fov=self.fov,
                events=events,
            )
        ]

    def _events(self, now: NDArray[np.float64], t0: int, t1: int) -> NDArray[np.void]:
        assert self._reference is not None and self._last_event is not None
        ref, last = self._reference, self._last_event
        delta = now - ref
        positive = delta > 0
        threshold = np.where(
            positive,
            self._thresholds(self.positive, self.sigma_positive),
            self._thresholds(self.negative, self.sigma_negative),
        )
        crossings = np.floor(np.abs(delta) / threshold).astype(np.int64)
        rows, cols = np.nonzero(crossings)
        if not len(rows):
            return np.zeros(0, dtype=DVS_EVENT_DTYPE)
        n = crossings[rows, cols]
        step = threshold[rows, cols] if np.ndim(threshold) else np.full(len(rows), threshold)
        d = np.abs(delta[rows, cols])
        span = t1 - t0
        parts = []
        keep_last = last[rows, cols]
        for k in range(1, int(n.max()) + 1):
            live = n >= k
            t = t0 + np.round(span * (k * step[live] / d[live])).astype(np.int64)
            fresh = t - keep_last[live] >= self.refractory_ns
            idx = np.flatnonzero(live)[fresh]
            keep_last[idx] = t[fresh]
            part = np.empty(len(idx), dtype=DVS_EVENT_DTYPE)
            part["x"] = cols[idx]
            part["y"] = rows[idx]
            part["t"] = t[fresh]
            part["pol"] = positive[rows[idx], cols[idx]]
            parts.append(part)
        last[rows, cols] = keep_last
        sign = np.where(positive[rows, cols], 1.0, -1.0)
        ref[rows, cols] += sign * n * step
        events = np.concatenate(parts)
        return events[np.argsort(events["t"], kind="stable")]
