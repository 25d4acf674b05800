"""Socket fuzzing of carla_lite: hypothesis strategies, raw-socket clients and checks.

Shared by the bounded CI tests in this folder and by ``bench/fuzz_sockets.py`` (the long
run). Everything talks raw bytes to a running server on loopback:

- the RPC port and a Traffic Manager port speak msgpack-rpc (``[0, msgid, name, params]``
  requests, ``[1, msgid, error, result]`` replies; the simulator's calls carry CARLA's
  ``[is_async]`` metadata first, the Traffic Manager's do not);
- the streaming port expects a 4-byte little-endian stream id and then only writes.

A fuzz example sends one payload on a fresh connection (:func:`exchange`), checks that
whatever came back is a well-formed msgpack-rpc reply, and then a fresh, well-behaved client
must still be served (:func:`rpc_version_ok`, :func:`tm_ok`, :func:`stream_ok`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from carla_lite.protocol.handlers import SERVER_VERSION, RpcHandlers
from carla_lite.protocol.navigation_handlers import NavigationHandlers
from carla_lite.protocol.physics_handlers import PhysicsHandlers
from carla_lite.protocol.streaming import TOKEN
from carla_lite.protocol.tm_handlers import TrafficManagerHandlers
from rllib_integration.ports import PortRegistry
from tests.conftest import ServerProcess

HOST = "127.0.0.1"
#: How far the server's RSS may grow over a fuzz run. The fuzzer holds one connection at a
#: time; the server caps a connection's unread buffer at 64 MiB and frees it when the
#: connection closes, so what stays is allocator slack and a few log/stat records. Any
#: per-example leak of what the fuzzer sends (names, frames) would pass this quickly.
RSS_GROWTH_LIMIT_KIB = 64 * 1024
SYNC_META = [False]

# ------------------------------------------------------------------ hypothesis profiles

PROFILE = "carla_lite_fuzz"
#: Examples per fuzz test: ``FUZZ_EXAMPLES`` (raise it for a longer local run;
#: bench/fuzz_sockets.py takes --examples/--seconds instead), else a bound for CI.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
settings.register_profile(
    PROFILE,
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def fuzz_settings(max_examples: int | None = None) -> settings:
    """The fuzz profile (optionally with another example count), without loading it
    globally: other hypothesis tests of the suite keep their own settings."""
    profile = settings.get_profile(PROFILE)
    if max_examples is None:
        return profile
    return settings(profile, max_examples=max_examples)


# ------------------------------------------------------------------ handlers, by introspection


@dataclasses.dataclass(frozen=True)
class Rpc:
    """One RPC name and how many positional arguments its handler takes."""

    name: str
    required: int
    optional: int
    varargs: bool


def _arity(name: str, func: Callable[..., Any], skip_self: bool) -> Rpc:
    params = list(inspect.signature(func).parameters.values())
    if skip_self:
        params = params[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    return Rpc(name, required, len(positional) - required, varargs)


def simulator_rpcs() -> list[Rpc]:
    """Every ``rpc_<name>`` of ``RpcHandlers``, the vehicle physics and navigation RPCs."""
    rpcs = [
        _arity(name[4:], getattr(RpcHandlers, name), skip_self=True)
        for name in dir(RpcHandlers)
        if name.startswith("rpc_")
    ]
    physics = PhysicsHandlers(lambda: None)  # type: ignore[arg-type, return-value]
    navigation = NavigationHandlers(lambda: None, store=None)  # type: ignore[arg-type, return-value]
    tables = physics.table() | navigation.table()
    rpcs += [_arity(name, func, skip_self=False) for name, func in tables.items()]
    return sorted(rpcs, key=lambda r: r.name)


def traffic_manager_rpcs() -> list[Rpc]:
    """Every RPC name a Traffic Manager port serves (aliases included)."""
    handlers = TrafficManagerHandlers(lambda: None, 0)  # type: ignore[arg-type, return-value]
    table = handlers.table()
    return sorted((_arity(n, f, skip_self=False) for n, f in table.items()), key=lambda r: r.name)


#: RPCs whose integer argument is a Traffic Manager port the server would start serving:
#: fuzzed ints there would bind arbitrary host ports (other tests' servers), so their
#: arguments are never integers.
PORT_BINDING_RPCS = frozenset({"is_traffic_manager_running", "get_traffic_manager_running"})

# ------------------------------------------------------------------ value strategies

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
    | st.binary(max_size=24)
)


def msgpack_values(max_leaves: int = 16) -> st.SearchStrategy[Any]:
    """Any msgpack-encodable value (nested lists and maps, any scalar)."""
    return st.recursive(
        _leaves,
        lambda children: (
            st.lists(children, max_size=6)
            | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _no_ints(value: Any) -> bool:
    return not (isinstance(value, int) and not isinstance(value, bool))


#: Fixed wrong-typed values tried for every argument of every handler (the sweep).
WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    -1,
    2**64 - 1,
    -(2**63),
    1.5,
    math.nan,
    math.inf,
    "",
    "x" * 300,
    b"\x00\xff",
    [],
    [None, None, None],
    [[[[]]]],
    {},
    {"a": [1, 2]},
    [1.0, 2.0, 3.0],
)


def handler_args(rpc: Rpc, ids: Sequence[int] = ()) -> st.SearchStrategy[list[Any]]:
    """Arguments for one handler: around its arity, of random (mostly wrong) types, some of
    them ``ids`` (live actors, so that checks past the actor's run too)."""
    values = msgpack_values()
    if ids:
        values = st.sampled_from(list(ids)) | values
    if rpc.name in PORT_BINDING_RPCS:
        values = values.filter(_no_ints)
    most = rpc.required + rpc.optional + (2 if rpc.varargs else 1)
    counts = st.sampled_from(sorted({rpc.required, most, 0})) | st.integers(0, most)
    return counts.flatmap(lambda n: st.lists(values, min_size=n, max_size=n))


def sweep_args(rpc: Rpc, base: Any = 0) -> Iterator[list[Any]]:
    """Deterministic wrong-typed argument lists for one handler: every wrong value in every
    position (the other arguments ``base``, e.g. a live actor's id, so that checks after
    the first argument run too), plus too few and too many arguments."""
    port_binding = rpc.name in PORT_BINDING_RPCS
    n = max(rpc.required, 1)
    for wrong in WRONG_VALUES:
        if port_binding and not _no_ints(wrong):
            continue
        for position in range(n):
            args: list[Any] = ["x" if port_binding else base] * n
            args[position] = wrong
            yield args
        yield [wrong] * (rpc.required + rpc.optional + 1)
    yield []


def request(
    msgid: int, name: Any, args: list[Any], *, meta: Any = SYNC_META, with_meta: bool = True
) -> bytes:
    """A packed msgpack-rpc request (with CARLA's metadata first when ``with_meta``)."""
    params = [meta, *args] if with_meta else list(args)
    return msgpack.packb([0, msgid, name, params], use_bin_type=True)


@st.composite
def handler_calls(
    draw: st.DrawFn, rpcs: list[Rpc], with_meta: bool, ids: Sequence[int] = ()
) -> bytes:
    """A request for a random known RPC with generated (mostly wrong) arguments."""
    rpc = draw(st.sampled_from(rpcs))
    args = draw(handler_args(rpc, ids))
    msgid = draw(st.integers(0, 0xFFFFFFFF))
    meta = draw(st.sampled_from([[False], [True], []]))
    return request(msgid, rpc.name, args, meta=meta, with_meta=with_meta)


@st.composite
def mutated_requests(draw: st.DrawFn, rpcs: list[Rpc], with_meta: bool) -> bytes:
    """A valid request, then mutated: its envelope fields replaced, or its bytes edited."""
    rpc = draw(st.sampled_from(rpcs))
    frame: list[Any] = [0, draw(st.integers(0, 1000)), rpc.name]
    args = [0] * rpc.required if rpc.name not in PORT_BINDING_RPCS else ["x"] * rpc.required
    frame.append([SYNC_META, *args] if with_meta else args)
    how = draw(st.sampled_from(["field", "drop", "extra", "bytes", "meta"]))
    value = draw(msgpack_values(8))
    if how == "field":
        frame[draw(st.integers(0, 3))] = value
    elif how == "drop":
        del frame[draw(st.integers(0, 3))]
    elif how == "extra":
        frame.insert(draw(st.integers(0, 4)), value)
    elif how == "meta" and with_meta:
        frame[3][0] = value
    if rpc.name in PORT_BINDING_RPCS and len(frame) in (3, 4) and type(frame[-1]) is list:
        frame[-1] = [v for v in frame[-1] if _no_ints(v)]  # a request's or notification's
    data = bytearray(msgpack.packb(frame, use_bin_type=True))
    if how == "bytes":
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(data)))
            edit = draw(st.sampled_from(["flip", "insert", "delete"]))
            if edit == "flip" and pos < len(data):
                data[pos] = draw(st.integers(0, 255))
            elif edit == "insert":
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            elif pos < len(data):
                del data[pos]
    if rpc.name in PORT_BINDING_RPCS and how == "bytes":
        return request(frame[1], rpc.name, ["x"], with_meta=with_meta)
    return bytes(data)


@st.composite
def truncated_frames(draw: st.DrawFn, rpcs: list[Rpc], with_meta: bool) -> bytes:
    """A valid request cut short (sent, then the connection is closed)."""
    data = draw(handler_calls(rpcs, with_meta))
    return data[: draw(st.integers(0, len(data) - 1))]


_HUGE_HEADERS = {
    "str32": (b"\xdb", ">I"),
    "bin32": (b"\xc6", ">I"),
    "array32": (b"\xdd", ">I"),
    "map32": (b"\xdf", ">I"),
    "ext32": (b"\xc9", ">I"),
    "str16": (b"\xda", ">H"),
    "array16": (b"\xdc", ">H"),
    "map16": (b"\xde", ">H"),
}


@st.composite
def huge_headers(draw: st.DrawFn) -> bytes:
    """msgpack headers claiming up to 4 GiB (or 4 G elements), alone, as a request's
    method name or arguments, or nested up to msgpack's depth limit."""
    kind = draw(st.sampled_from(sorted(_HUGE_HEADERS)))
    marker, fmt = _HUGE_HEADERS[kind]
    top = 0xFFFF if fmt == ">H" else 0xFFFFFFFF
    size = draw(st.sampled_from([top, top - 1, top // 2, min(top, 1 << 24)]) | st.integers(0, top))
    header = marker + struct.pack(fmt, size) + (b"\x01" if kind == "ext32" else b"")
    tail = draw(st.binary(max_size=32))
    where = draw(st.sampled_from(["alone", "method", "params", "nested"]))
    if where == "method":  # [0, 1, <huge str>...
        return b"\x94\x00\x01" + header + tail
    if where == "params":  # [0, 1, "version", <huge>...
        return b"\x94\x00\x01\xa7version" + header + tail
    if where == "nested":
        # Below msgpack's default length limits, so each level is a container started.
        level = b"\xdd" + struct.pack(">I", draw(st.sampled_from([0x03FFFFFF, 1 << 20, 1000])))
        return level * draw(st.integers(2, 1100))
    return header + tail


@st.composite
def deep_frames(draw: st.DrawFn, rpcs: list[Rpc], with_meta: bool) -> bytes:
    """Values nested up to msgpack's depth limit (1024) as the whole message, its msgid,
    method or params, or one argument of a known RPC (Python's repr and recursive code
    stop near 1000 levels)."""
    depth = draw(st.integers(900, 1030))
    opener = draw(st.sampled_from([b"\x91", b"\x81\x00"]))  # [x] or {0: x}
    deep = opener * depth + draw(st.sampled_from([b"\xc0", b"\x90", b"\xa1x"]))
    where = draw(st.sampled_from(["alone", "msgid", "method", "params", "argument"]))
    if where == "alone":
        return deep
    if where == "msgid":
        return b"\x94\x00" + deep + b"\xa7version\x90"
    if where == "method":
        return b"\x94\x00\x01" + deep + b"\x90"
    if where == "params":
        return b"\x94\x00\x01\xa7version" + deep
    rpc = draw(st.sampled_from(rpcs))
    if rpc.name in PORT_BINDING_RPCS:
        rpc = Rpc("version", 0, 0, False)
    count = max(rpc.required, 1)
    position = draw(st.integers(0, count - 1))
    head = msgpack.packb([0, 1, rpc.name], use_bin_type=True)[1:]  # without the fixarray
    params = [SYNC_META] if with_meta else []
    body = msgpack.packb(params, use_bin_type=True)[1:]
    n = len(params) + count
    args = b"".join(deep if i == position else b"\x00" for i in range(count))
    return b"\x94" + head + bytes([0x90 | n]) + body + args


def random_bytes() -> st.SearchStrategy[bytes]:
    return st.binary(min_size=1, max_size=512)


def random_values() -> st.SearchStrategy[bytes]:
    """Any msgpack value, packed (most are not requests)."""
    return msgpack_values(24).map(lambda v: msgpack.packb(v, use_bin_type=True))


# ------------------------------------------------------------------ streaming payloads


@st.composite
def stream_payloads(draw: st.DrawFn, known_ids: list[int]) -> bytes:
    """What a broken subscriber might send the streaming port instead of a 4-byte id."""
    how = draw(st.sampled_from(["random", "id", "known+extra", "huge", "partial", "token"]))
    if how == "random":
        return draw(st.binary(min_size=1, max_size=256))
    if how == "id":
        return struct.pack("<I", draw(st.integers(0, 0xFFFFFFFF)))
    if how == "known+extra":
        extra = draw(st.binary(min_size=1, max_size=64))
        return struct.pack("<I", draw(st.sampled_from(known_ids))) + extra
    if how == "huge":  # a [u32 size][bytes] frame as a server would send, with a huge size
        size = draw(st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 1 << 30]))
        return struct.pack("<I", size) + draw(st.binary(max_size=64))
    if how == "partial":
        return struct.pack("<I", draw(st.sampled_from(known_ids)))[: draw(st.integers(1, 3))]
    return TOKEN.pack(draw(st.sampled_from(known_ids)), 2000, 1, 0, bytes(16))


# ------------------------------------------------------------------ raw clients


class BadReply(AssertionError):
    """The server wrote something that is not a msgpack-rpc reply."""


@dataclasses.dataclass
class Outcome:
    """What one fuzz payload got back."""

    replies: list[Any]
    closed_by_server: bool
    bytes_received: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for r in self.replies if r[2] is not None)

    @property
    def internal_errors(self) -> list[str]:
        """Errors from a handler raising something unexpected (a bug, not a refusal)."""
        return [r[2] for r in self.replies if r[2] is not None and "internal error" in r[2]]


def _check_reply(reply: Any) -> None:
    ok = (
        type(reply) is list
        and len(reply) == 4
        and reply[0] == 1
        and type(reply[1]) is int
        and (reply[2] is None or type(reply[2]) is str)
    )
    if not ok:
        raise BadReply(f"not a msgpack-rpc reply: {reply!r:.200}")


def exchange(
    port: int,
    payload: bytes,
    *,
    idle: float = 0.05,
    expect: int = -1,
    timeout: float = 15.0,
    parse: bool = True,
) -> Outcome:
    """Sends ``payload`` on a fresh connection and reads every reply until the server closes.

    The client half-closes once ``expect`` replies came, or after ``idle`` seconds without
    data (the server then answers what it has and ends that connection);
    ``closed_by_server`` tells whether the server closed it first. Raises ``BadReply`` for
    a malformed reply and ``TimeoutError`` if the server has not closed within ``timeout``.
    With ``parse`` false (the streaming port), what comes back is counted, not decoded.
    """
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    replies: list[Any] = []
    received = 0
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            return Outcome(replies, closed_by_server=True)
        half_closed = False
        deadline = time.monotonic() + timeout
        sock.settimeout(idle)
        while True:
            if not half_closed and len(replies) == expect:
                half_closed = _half_close(sock, deadline)
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                if half_closed:
                    raise TimeoutError(f"port {port}: the server did not close") from None
                half_closed = _half_close(sock, deadline)
                continue
            except ConnectionResetError:
                return Outcome(replies, not half_closed, received)
            if not data:
                return Outcome(replies, not half_closed, received)
            if not parse:
                received += len(data)
                continue
            unpacker.feed(data)
            for reply in unpacker:
                _check_reply(reply)
                replies.append(reply)


def _half_close(sock: socket.socket, deadline: float) -> bool:
    with _ignore_reset():
        sock.shutdown(socket.SHUT_WR)
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    return True


class _ignore_reset:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> bool:
        return kind is not None and issubclass(kind, OSError)


def send_and_close(port: int, payload: bytes) -> None:
    """Sends ``payload`` and closes at once (a peer vanishing mid-frame)."""
    with socket.create_connection((HOST, port), timeout=5.0) as sock, _ignore_reset():
        sock.sendall(payload)


def call(
    port: int, name: str, args: list[Any], *, with_meta: bool = True, timeout: float = 15.0
) -> Any:
    """One well-formed call on a fresh connection; returns the reply ``[1, id, err, result]``."""
    payload = request(7, name, args, with_meta=with_meta)
    outcome = exchange(port, payload, idle=timeout, expect=1, timeout=timeout)
    if len(outcome.replies) != 1 or outcome.replies[0][1] != 7:
        raise BadReply(f"{name}: expected one reply, got {outcome.replies!r:.200}")
    return outcome.replies[0]


def rpc_version_ok(port: int) -> bool:
    """A fresh client's ``version`` call is answered with ``0.9.16``."""
    return call(port, "version", []) == [1, 7, None, [[1, SERVER_VERSION]]]


def tm_ok(port: int) -> bool:
    """A fresh client's Traffic Manager health check is answered."""
    return call(port, "health_check_remote_TM", [], with_meta=False) == [1, 7, None, None]


def serve_traffic_manager(rpc_port: int, tm_port: int) -> int:
    """Asks the simulator for the Traffic Manager of ``tm_port``; returns where it listens."""
    reply = call(rpc_port, "get_traffic_manager_running", [tm_port])
    ((_, (_ip, port)),) = reply[3]
    return int(port)


def world_stream_id(rpc_port: int) -> int:
    """The world observer's stream id (from ``get_episode_info``'s token)."""
    reply = call(rpc_port, "get_episode_info", [])
    token = reply[3][0][1][1][0]
    return int(TOKEN.unpack(token)[0])


def stream_ok(stream_port: int, stream_id: int, timeout: float = 10.0) -> bool:
    """A fresh subscriber of the world stream receives one well-framed message."""
    with socket.create_connection((HOST, stream_port), timeout=timeout) as sock:
        sock.sendall(struct.pack("<I", stream_id))
        header = _recv_exact(sock, 4)
        (size,) = struct.unpack("<I", header)
        return 0 < size < 1 << 24 and len(_recv_exact(sock, size)) == size


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def rss_kib(pid: int) -> int:
    """Resident set size of a process (``VmRSS``), KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclasses.dataclass
class Tally:
    """Counts over a fuzz run of one socket."""

    examples: int = 0
    replies: int = 0
    errors_answered: int = 0
    internal_errors: int = 0
    closed_by_server: int = 0

    def add(self, outcome: Outcome) -> None:
        self.examples += 1
        self.replies += len(outcome.replies)
        self.errors_answered += outcome.errors
        self.internal_errors += len(outcome.internal_errors)
        self.closed_by_server += int(outcome.closed_by_server)


# ------------------------------------------------------------------ the server under test


@dataclasses.dataclass
class FuzzTarget:
    """A running server and its sockets (``tm_port``: where its Traffic Manager listens)."""

    process: ServerProcess
    rpc_port: int
    stream_port: int
    tm_port: int
    world_stream: int
    rss_before_kib: int

    def rss_kib(self) -> int:
        return rss_kib(self.process.process.pid)

    def assert_serving(self) -> None:
        """The server still answers a fresh, well-behaved client on the RPC port."""
        assert self.process.alive(), f"server died:\n{self.process.log()[-4000:]}"
        assert rpc_version_ok(self.rpc_port)


def start_target(tmp_dir: Path) -> FuzzTarget:
    """Starts a server, opens its Traffic Manager and warms it up (navmesh built, streams
    flowing) so that the RSS baseline is taken after start-up work."""
    process = ServerProcess(tmp_dir)
    try:
        claim = PortRegistry().reserve_free(count=1)
        tm_port = serve_traffic_manager(process.port, claim.ports[0])
        call(process.port, "get_navigation_mesh", [], timeout=60.0)
        world_stream = world_stream_id(process.port)
        assert stream_ok(process.port + 1, world_stream)
        assert tm_ok(tm_port)
    except BaseException:
        process.stop()
        raise
    rss = rss_kib(process.process.pid)
    return FuzzTarget(process, process.port, process.port + 1, tm_port, world_stream, rss)
