#!/usr/bin/env python
"""Writes docs/client_api_compatibility.md: which parts of the 0.9.16 client API carla_lite serves.

Reads the client's API from ``carla/libcarla.pyi`` (classes, their methods and properties) and
the status of every RPC name from ``docs/rpc_coverage.md`` (simulator and Traffic Manager
tables). A member's RPCs are found in the coverage tables' "client API that sends it" column
(``world.get_settings()`` -> ``World.get_settings``); a few that column cannot express are in
:data:`EXPLICIT`. A member is *supported* when every RPC it needs is "yes" (or it needs
none: client-side), *partly* when some are "accepted, no effect" and none is missing, and
*not supported* when one is "no".

Usage: ``python scripts/client_api_table.py [--check]`` (``--check``: exit 1 if the file is
out of date instead of writing it).
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import carla

REPO_ROOT = Path(__file__).resolve().parent.parent
COVERAGE = REPO_ROOT / "docs" / "rpc_coverage.md"
OUTPUT = REPO_ROOT / "docs" / "client_api_compatibility.md"
STUB = Path(carla.__file__).resolve().parent / "libcarla.pyi"

#: How the coverage tables name the object a call is made on -> the stub's class.
VARIABLES = {
    "client": "Client",
    "world": "World",
    "world.debug": "DebugHelper",
    "actor": "Actor",
    "vehicle": "Vehicle",
    "walker": "Walker",
    "sensor": "Sensor",
    "traffic_light": "TrafficLight",
    "tm": "TrafficManager",
    "light_manager": "LightManager",
    "WalkerAIController": "WalkerAIController",
}

_LIGHT_SETTERS = ("turn_on", "turn_off", "set_*", "set_day_night_cycle")
#: (class, member pattern) -> RPC keys, where the coverage column cannot say it.
EXPLICIT: dict[tuple[str, str], tuple[str, ...]] = {
    # "LightManager setters (`turn_on/off`, `set_*`)": the reads and writes of the lights.
    **{("LightManager", name): ("sim:update_lights_state",) for name in _LIGHT_SETTERS},
    ("LightManager", "get_*"): ("sim:query_lights_state",),
    ("LightManager", "is_active"): ("sim:query_lights_state",),
    ("LightManager", "set_day_night_cycle"): ("sim:update_day_night_cycle",),
    ("Light", "turn_*"): ("sim:update_lights_state",),
    ("Light", "set_*"): ("sim:update_lights_state",),
    # The lights a world's LightManager lists come from the server's lights.
    ("World", "get_lightmanager"): ("sim:query_lights_state",),
}

STATUS_ORDER = ("supported", "partly", "not supported")


@dataclass
class Member:
    cls: str
    name: str
    kind: str  # "method" or "property"
    rpcs: tuple[str, ...] = ()
    status: str = "supported"


def parse_coverage(text: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """RPC key ("sim:name" / "tm:name") -> status, and "Class.member" -> RPC keys."""
    status: dict[str, str] = {}
    senders: dict[str, list[str]] = {}
    port = "sim"
    for line in text.splitlines():
        if line.startswith("## Traffic Manager"):
            port = "tm"
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"`\w+`", cells[0]):
            continue
        key = f"{port}:{cells[0].strip('`')}"
        status[key] = cells[2]
        if cells[1].startswith("—"):  # never sent by the Python API; the cell says who isn't
            continue
        for member in referenced_members(cells[1]):
            senders.setdefault(member, []).append(key)
    return status, senders


def referenced_members(cell: str) -> list[str]:
    """``Class.member`` patterns named in a "client API that sends it" cell.

    A bare ``name()`` continues the previous object (``client.apply_batch()``,
    ``apply_batch_sync()``); ``name(s)()`` stands for ``name`` and ``names``.
    """
    found = []
    prefix = None
    for token in re.findall(r"`([^`]+)`", cell):
        head = token.split("(s)")[0] if "(s)(" in token else token.split("(")[0]
        plural = "(s)(" in token
        obj, _, name = head.rpartition(".")
        if obj:
            prefix = obj
        elif not name[:1].islower():
            continue
        cls = VARIABLES.get(prefix or "")
        if cls is None or not re.fullmatch(r"[\w*]+", name):
            continue
        found.append(f"{cls}.{name}")
        if plural:
            found.append(f"{cls}.{name}s")
    return found


def parse_stub(text: str) -> tuple[list[Member], dict[str, list[str]]]:
    """Public methods and properties of every non-enum class; and each class's bases."""
    members: list[Member] = []
    bases: dict[str, list[str]] = {}
    for node in ast.parse(text).body:
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        base_names = [b.id for b in node.bases if isinstance(b, ast.Name)]
        if any(b in {"Enum", "Flag", "IntFlag", "_CarlaEnum"} for b in base_names):
            continue
        bases[node.name] = base_names
        seen: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                name = item.name
                decorators = {d.id for d in item.decorator_list if isinstance(d, ast.Name)}
                kind = "property" if "property" in decorators else "method"
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                name, kind = item.target.id, "property"
            else:
                continue
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            members.append(Member(node.name, name, kind))
    return members, bases


def rpcs_of(
    cls: str, name: str, senders: dict[str, list[str]], bases: dict[str, list[str]]
) -> tuple[str, ...]:
    """The RPC keys ``cls.name`` needs; an override inherits its base's (Vehicle.bounding_box)."""
    keys: list[str] = []
    for (explicit_cls, pattern), explicit in EXPLICIT.items():
        if explicit_cls == cls and fnmatch.fnmatchcase(name, pattern):
            keys.extend(explicit)
    for member, member_keys in senders.items():
        member_cls, _, pattern = member.partition(".")
        if member_cls == cls and fnmatch.fnmatchcase(name, pattern):
            keys.extend(member_keys)
    if not keys:
        for base in bases.get(cls, []):
            inherited = rpcs_of(base, name, senders, bases)
            if inherited:
                return inherited
    return tuple(dict.fromkeys(keys))


def classify(keys: tuple[str, ...], status: dict[str, str]) -> str:
    states = {status.get(k, "no") for k in keys}
    if "no" in states:
        return "not supported"
    if "accepted, no effect" in states:
        return "partly"
    return "supported"


def module_members(cls: str) -> set[str] | None:
    """Public names the compiled class defines itself (None: no such class in the module)."""
    klass = getattr(carla, cls, None)
    if not isinstance(klass, type):
        return None
    return {k for k in vars(klass) if not k.startswith("_")}


def stub_differences(members: list[Member]) -> tuple[list[str], list[str], list[str]]:
    """(module members the stub lacks, stub members the module lacks, module-only classes)."""
    stub: dict[str, set[str]] = {}
    for m in members:
        stub.setdefault(m.cls, set()).add(m.name)
    extra, missing = [], []
    for cls, names in stub.items():
        own = module_members(cls)
        if own is None:
            continue
        extra += [f"{cls}.{n}" for n in sorted(own - names)]
        missing += [f"{cls}.{n}" for n in sorted(names - own) if not _inherited(cls, n)]
    classes = sorted(
        name
        for name, value in vars(carla).items()
        if isinstance(value, type)
        and not name.startswith("_")
        and name not in stub
        and not issubclass(value, int)  # enumerations
        and value.__module__.startswith("carla")
    )
    return extra, missing, classes


def _inherited(cls: str, name: str) -> bool:
    klass = getattr(carla, cls, None)
    return isinstance(klass, type) and hasattr(klass, name)


def render(
    members: list[Member],
    status: dict[str, str],
    extra: list[Member],
    stub_only: list[str],
    module_classes: list[str],
) -> str:
    by_class: dict[str, list[Member]] = {}
    for m in members:
        by_class.setdefault(m.cls, []).append(m)
    totals = Counter(m.status for m in members)
    rpc_members = [m for m in members if m.rpcs]
    rpc_totals = Counter(m.status for m in rpc_members)

    out = [
        "# Client API compatibility: the `carla==0.9.16` Python API against carla_lite",
        "",
        "Generated by `scripts/client_api_table.py` from the client's `carla/libcarla.pyi`",
        "and the RPC status in `docs/rpc_coverage.md`; do not edit by hand (run the script).",
        "",
        "Every public method and property of every class in `libcarla.pyi` (enumerations,",
        "dunder methods and the `carla.command` batch classes are not counted). A member is",
        '**supported** when every RPC it sends is "yes" in `docs/rpc_coverage.md`, or when it',
        "sends none (it runs in the client: maps, waypoints, geometry, sensor data, the",
        'actor snapshot); **partly** when one of its RPCs is "accepted, no effect" and none is',
        'missing; **not supported** when one is "no" (the client raises). A member\'s RPCs',
        'are those whose row names it in the coverage tables\' "client API that sends it"',
        "column, plus a short explicit list in the script (the LightManager).",
        "",
        "## Counts",
        "",
        "| | all members | members that send an RPC |",
        "|---|---|---|",
        f"| total | {len(members)} | {len(rpc_members)} |",
    ]
    for s in STATUS_ORDER:
        out.append(f"| {s} | {totals[s]} | {rpc_totals[s]} |")
    out += [
        "",
        "## Per class",
        "",
        "| class | members | supported | partly | not supported |",
        "|---|---|---|---|---|",
    ]
    for cls, ms in by_class.items():
        c = Counter(m.status for m in ms)
        out.append(
            f"| `{cls}` | {len(ms)} | {c['supported']} | {c['partly']} | {c['not supported']} |"
        )
    out += [
        "",
        "## Members that send RPCs",
        "",
        "The members not listed here send no RPC and are supported.",
        "",
    ]
    for cls, ms in by_class.items():
        sending = [m for m in ms if m.rpcs]
        if not sending:
            continue
        out += [
            f"### `{cls}`",
            "",
            "| member | kind | status | RPCs (status) |",
            "|---|---|---|---|",
        ]
        for m in sending:
            rpcs = ", ".join(f"`{k.split(':', 1)[1]}`{' (TM)' if k.startswith('tm:') else ''} "
                             f"({status.get(k, 'no')})" for k in m.rpcs)  # fmt: skip
            out.append(f"| `{m.name}` | {m.kind} | {m.status} | {rpcs} |")
        out.append("")
    c = Counter(m.status for m in extra)
    out += [
        "## The stub against the compiled module",
        "",
        "`libcarla.pyi` is not the whole module. Members the wheel's classes define that the",
        f"stub lacks: {len(extra)} (not counted above; supported {c['supported']}, partly "
        f"{c['partly']}, not supported {c['not supported']}):",
        "",
        "| member | status | RPCs (status) |",
        "|---|---|---|",
    ]
    for m in extra:
        rpcs = ", ".join(f"`{k.split(':', 1)[1]}` ({status.get(k, 'no')})" for k in m.rpcs)
        out.append(f"| `{m.cls}.{m.name}` | {m.status} | {rpcs or 'none (client-side)'} |")
    out += [
        "",
        f"Stub members the wheel's class does not have ({len(stub_only)}; counted above as the "
        "stub says): " + ", ".join(f"`{n}`" for n in stub_only) + ".",
        "",
        f"Wheel classes absent from the stub ({len(module_classes)}; not counted): "
        + ", ".join(f"`{n}`" for n in module_classes)
        + ".",
    ]
    return "\n".join(out).rstrip() + "\n"


def build() -> tuple[str, Counter[str]]:
    status, senders = parse_coverage(COVERAGE.read_text())
    members, bases = parse_stub(STUB.read_text())
    extra_names, stub_only, module_classes = stub_differences(members)
    extra = [
        Member(cls, name, "method") for cls, _, name in (n.partition(".") for n in extra_names)
    ]
    for m in members + extra:
        m.rpcs = rpcs_of(m.cls, m.name, senders, bases)
        m.status = classify(m.rpcs, status)
    text = render(members, status, extra, stub_only, module_classes)
    return text, Counter(m.status for m in members)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text, counts = build()
    summary = ", ".join(f"{s}: {counts[s]}" for s in STATUS_ORDER)
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"up to date ({summary})")
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
