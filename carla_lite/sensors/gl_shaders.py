"""The GLSL 3.30 sources of the camera renderer, specialised per output mode by defines.

Every mode writes the byte layout the wire wants (BGRA; see ``gl_renderer``): the vertex
stage of the static scene and of the instanced bodies share ``emit``, which passes on only
the varyings the mode needs; the sky is a band strip drawn at the far plane (``rgb`` only).
"""

from __future__ import annotations

from carla_lite.sensors.scene.tags import TAG_SKY

MODES = ("rgb", "depth", "semantic", "instance", "normals", "flow")

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

VS_STATIC = """
in vec3 in_pos;
in vec4 in_color;   // rgb, tag / 255
in vec4 in_normal;  // (n + 1) / 2
void main() {
    emit(in_pos, in_pos, in_normal.xyz * 2.0 - 1.0, in_color, 0u);
}
"""

VS_BODIES = """
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

FS = """
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

VS_SKY = """
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

FS_SKY = """
in vec3 v_rgb;
out vec4 f_out;
void main() {
    f_out = vec4(v_rgb.b, v_rgb.g, v_rgb.r, 1.0);
}
"""

#: Clear colour (and so the sky) of the modes without a sky pass, as the shader writes it.
CLEAR_COLORS = {
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


def shader_source(body: str, mode: str, vertex: bool) -> str:
    """The full source of one stage for ``mode``: version, defines, ``emit`` (vertex stages)
    and ``body``."""
    defines = "".join(f"#define NEED_{need}\n" for need in _NEEDS.get(mode, ()))
    head = f"#version 330 core\n#define MODE_{mode.upper()}\n{defines}"
    return head + (_VS_COMMON if vertex else "") + body
