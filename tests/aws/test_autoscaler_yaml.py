"""aws_helper's --write-yaml: only ImageId and SecurityGroupIds of each node type change."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from aws.autoscaler_yaml import write_ids
from aws.errors import HelperError

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_YAML = REPO_ROOT / "dqn_example" / "dqn_autoscaler.yaml"

IMAGE = "ami-0123456789abcdef0"
GROUP = "sg-0fedcba9876543210"


def test_the_projects_autoscaler_yaml_changes_in_those_lines_only(tmp_path: Path) -> None:
    copy = tmp_path / "dqn_autoscaler.yaml"
    shutil.copy2(PROJECT_YAML, copy)
    types = write_ids(copy, IMAGE, [GROUP])
    assert types  # every node type
    before = PROJECT_YAML.read_text().splitlines()
    after = copy.read_text().splitlines()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    # The only changed lines are these two keys, and every node type has both.
    assert all(a.strip().split(":")[0] in ("ImageId", "SecurityGroupIds") for _, a in changed)
    assert sum(line.strip() == f"ImageId: {IMAGE}" for line in after) == len(types)
    assert sum(line.strip() == f"SecurityGroupIds: [{GROUP}]" for line in after) == len(types)
    # Idempotent: writing the same ids again changes nothing.
    text = copy.read_text()
    write_ids(copy, IMAGE, [GROUP])
    assert copy.read_text() == text


def test_missing_keys_are_added_and_comments_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "# top\navailable_node_types:\n  head:\n    resources: {}  # none\n"
        "  worker:\n    node_config:\n      InstanceType: c5.large\n"
    )
    assert write_ids(path, IMAGE, [GROUP, "sg-2"]) == ["head", "worker"]
    text = path.read_text()
    assert "# top" in text and "# none" in text and "InstanceType: c5.large" in text
    assert text.count(f"ImageId: {IMAGE}") == 2
    assert text.count(f"SecurityGroupIds: [{GROUP}, sg-2]") == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the autoscaler yaml"),
        ("a: [unclosed\n", "cannot read the autoscaler yaml"),
        ("cluster_name: x\n", "no available_node_types"),
        ("available_node_types:\n  head: 3\n", "available_node_types.head is not a mapping"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "c.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(HelperError, match=message):
        write_ids(path, IMAGE, [GROUP])
    if content is not None:
        assert path.read_text() == content


def test_the_written_project_yaml_passes_rays_validator(tmp_path: Path) -> None:
    from ray.autoscaler._private import util

    written = tmp_path / "dqn_autoscaler.yaml"
    shutil.copy2(PROJECT_YAML, written)
    write_ids(written, IMAGE, [GROUP])
    config = yaml.safe_load(written.read_text())
    util.validate_config(util.prepare_config(copy.deepcopy(config)))
    for node_type in config["available_node_types"].values():
        assert node_type["node_config"]["ImageId"] == IMAGE
        assert node_type["node_config"]["SecurityGroupIds"] == [GROUP]
