"""Mutated OpenDRIVE either loads or raises MapLoadError, never anything else."""

from __future__ import annotations

import random
import re

import pytest

from carla_lite.maps import MapLoadError, load_road_map

_ATTR = re.compile(r'\s[A-Za-z]+="[^"]*"')
_NUMBER = re.compile(r'(?<==")[-+0-9.eE]+(?=")')
_GARBAGE = ["abc", "nan", "inf", "-inf", "", "1e308", "-5", "0", "1e7", "1,5", "0x10", "-0"]


def _mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(6)
    if len(text) < 2:
        return text + "<"
    if kind == 0 and _ATTR.search(text):  # delete an attribute
        spans = list(_ATTR.finditer(text))
        m = rng.choice(spans)
        return text[: m.start()] + text[m.end() :]
    if kind <= 1 and _NUMBER.search(text):  # corrupt a number
        spans = list(_NUMBER.finditer(text))
        m = rng.choice(spans)
        return text[: m.start()] + rng.choice(_GARBAGE) + text[m.end() :]
    if kind == 2:  # truncate
        return text[: rng.randrange(len(text))]
    if kind == 3:  # flip random characters
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            chars[rng.randrange(len(chars))] = chr(rng.randrange(32, 127))
        return "".join(chars)
    lines = text.splitlines(keepends=True)
    if kind == 4:  # delete a line (usually one element)
        del lines[rng.randrange(len(lines))]
        return "".join(lines)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))  # swap two lines
    lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


@pytest.mark.parametrize("seed", range(8))
def test_mutations_load_or_raise_map_load_error(small_town_text: str, seed: int) -> None:
    rng = random.Random(seed)
    outcomes = {"loaded": 0, "rejected": 0}
    for i in range(40):
        text = small_town_text
        for _ in range(rng.randint(1, 3)):
            text = _mutate(text, rng)
        try:
            road_map = load_road_map(f"fuzz{seed}_{i}", text)
        except MapLoadError as exc:
            assert str(exc).startswith(f"fuzz{seed}_{i}")
            outcomes["rejected"] += 1
        else:
            assert road_map.xodr == text
            outcomes["loaded"] += 1
    assert outcomes["rejected"] > 0
