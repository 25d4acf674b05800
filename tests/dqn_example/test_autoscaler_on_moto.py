"""``ray up``'s AWS steps for dqn_autoscaler.yaml against moto's EC2/IAM server on loopback.

After ``aws_helper.py --write-yaml`` filled in an image and a security group, Ray's own AWS
bootstrap (IAM instance profile, key pair, subnets: what ``ray up`` does before it launches
anything) runs on the yaml, and Ray's AWS node provider launches one instance of every node
type through boto3, whose client-side check of ``RunInstances`` parameters against the EC2
API model is the real one. moto answers; no SSH step follows (nothing to SSH into).
"""

from __future__ import annotations

import copy
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from tests.aws.conftest import use_emulated_aws
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]

AUTOSCALER_YAML = REPO_ROOT / "dqn_example" / "dqn_autoscaler.yaml"
PROFILE = "ray-autoscaler-v1"  # Ray's default instance profile and role name


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """moto's server on 127.0.0.1, dummy credentials, HOME in tmp (Ray writes ~/.ssh there)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        region = yaml.safe_load(AUTOSCALER_YAML.read_text())["provider"]["region"]
        use_emulated_aws(monkeypatch, endpoint, region, tmp_path)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        ec2 = boto3.client("ec2", region_name=region)
        iam = boto3.client("iam", region_name=region)
        # The instance profile Ray would create and then wait 2 x 15 s for "propagation".
        iam.create_role(
            RoleName=PROFILE,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                }
            ),
        )
        iam.create_instance_profile(InstanceProfileName=PROFILE)
        iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=PROFILE)
        yield {"ec2": ec2, "region": region}
    finally:
        server.stop()


def test_ray_bootstraps_and_launches_every_node_type(
    moto_aws: dict[str, Any], tmp_path: Path
) -> None:
    from ray.autoscaler._private.aws.node_provider import AWSNodeProvider
    from ray.autoscaler._private.commands import _bootstrap_config
    from ray.autoscaler.tags import (
        TAG_RAY_LAUNCH_CONFIG,
        TAG_RAY_NODE_KIND,
        TAG_RAY_USER_NODE_TYPE,
    )

    from aws import autoscaler_yaml

    ec2 = moto_aws["ec2"]
    image = next(
        i["ImageId"]
        for i in ec2.describe_images(Owners=["amazon"])["Images"]
        if i.get("Platform") != "windows"
    )
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    group = ec2.create_security_group(
        GroupName="carla-rllib", Description="test", VpcId=vpc["VpcId"]
    )["GroupId"]
    path = tmp_path / "dqn_autoscaler.yaml"
    path.write_text(AUTOSCALER_YAML.read_text())
    autoscaler_yaml.write_ids(path, image, [group])

    config = _bootstrap_config(yaml.safe_load(path.read_text()), no_config_cache=True)
    key = Path(config["auth"]["ssh_private_key"])
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert config["head_node"]["IamInstanceProfile"]["Arn"].endswith(f"/{PROFILE}")
    provider = AWSNodeProvider(config["provider"], config["cluster_name"])
    for name, node_type in config["available_node_types"].items():
        node_config = copy.deepcopy(node_type["node_config"])
        assert node_config["KeyName"] and node_config["SubnetIds"], name
        is_head = name == config["head_node_type"]
        if is_head:
            node_config.update(config["head_node"])
        tags = {
            TAG_RAY_NODE_KIND: "head" if is_head else "worker",
            TAG_RAY_USER_NODE_TYPE: name,
            TAG_RAY_LAUNCH_CONFIG: f"test-{name}",
        }
        provider.create_node(node_config, tags, 1)
        (node_id,) = provider.non_terminated_nodes({TAG_RAY_USER_NODE_TYPE: name})
        instance = ec2.describe_instances(InstanceIds=[node_id])["Reservations"][0]["Instances"][0]
        assert instance["InstanceType"] == node_type["node_config"]["InstanceType"], name
        assert instance["ImageId"] == image, name
        assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group], name
        assert instance["KeyName"] == node_config["KeyName"], name
        assert ("IamInstanceProfile" in instance) == is_head, name
        if "InstanceMarketOptions" in node_config:
            assert instance.get("InstanceLifecycle") == "spot", name
        provider.terminate_node(node_id)
    assert provider.non_terminated_nodes({}) == []
