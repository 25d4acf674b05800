"""Writes the image and security group ids into a Ray cluster-launcher yaml, keeping the rest.

A round trip through ruamel.yaml keeps comments, key order and the other keys; only
``available_node_types.<type>.node_config.ImageId`` and ``.SecurityGroupIds`` of every node
type change.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from aws.errors import HelperError


def write_ids(path: Path, image_id: str, security_group_ids: list[str]) -> list[str]:
    """Sets ``ImageId`` and ``SecurityGroupIds`` in each node type's ``node_config``.

    Returns:
        the node types updated.

    Raises:
        HelperError: the file is missing, not yaml, or has no ``available_node_types``.
    """
    try:
        text = path.read_text()
        # Keep the file's own indentation so that only the two keys change in the output:
        # ruamel guesses the sequences' (indent, dash offset); the mappings' is measured.
        _, sequence_indent, dash_offset = load_yaml_guess_indent(text)
        yaml = YAML()  # round-trip mode
        yaml.preserve_quotes = True
        yaml.width = 4096
        data = yaml.load(text)
        yaml.indent(
            mapping=_mapping_indent(data),
            sequence=sequence_indent or 2,
            offset=dash_offset or 0,
        )
    except (OSError, YAMLError) as e:
        raise HelperError(f"cannot read the autoscaler yaml {path}: {e}") from e
    node_types = data.get("available_node_types") if isinstance(data, CommentedMap) else None
    if not isinstance(node_types, dict) or not node_types:
        raise HelperError(f"{path}: no available_node_types to write the image into")
    updated = []
    for name, node_type in node_types.items():
        if not isinstance(node_type, dict):
            raise HelperError(f"{path}: available_node_types.{name} is not a mapping")
        config = node_type.get("node_config")
        if config is None:
            config = node_type["node_config"] = CommentedMap()
        if not isinstance(config, dict):
            raise HelperError(f"{path}: available_node_types.{name}.node_config is not a mapping")
        config["ImageId"] = image_id
        groups = CommentedSeq(security_group_ids)
        groups.fa.set_flow_style()
        config["SecurityGroupIds"] = groups
        updated.append(str(name))
    buf = io.StringIO()
    yaml.dump(data, buf)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)
    return updated


def _mapping_indent(node: object, default: int = 2) -> int:
    """How far the file indents a block mapping's keys under its parent key."""
    if not isinstance(node, CommentedMap):
        return default
    for key, value in node.items():
        if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
            first = next(iter(value))
            return int(value.lc.key(first)[1] - node.lc.key(key)[1])
    return default
