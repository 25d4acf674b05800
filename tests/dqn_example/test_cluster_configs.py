"""The cluster configs beside the DQN example: Ray's AWS launcher yaml and KubeRay's RayCluster.

``dqn_autoscaler.yaml`` goes through Ray 2.60's own preparation and validator (the code
``ray up`` runs first). There is no Kubernetes here, so ``dqn_raycluster.yaml`` is checked
against the field names of KubeRay's ``RayCluster`` type (ray-project/kuberay,
``ray-operator/apis/ray/v1/raycluster_types.go``: ``RayClusterSpec``, ``HeadGroupSpec``,
``WorkerGroupSpec``, ``AutoscalerOptions`` and their json tags) and of the Kubernetes pod
template it embeds.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.ray

AUTOSCALER_YAML = REPO_ROOT / "dqn_example" / "dqn_autoscaler.yaml"
RAYCLUSTER_YAML = REPO_ROOT / "dqn_example" / "dqn_raycluster.yaml"
INSTALL_SCRIPT = "aws/install/install.sh"
REMOTE_CHECKOUT = "~/rllib-integration"


def _autoscaler() -> dict[str, Any]:
    return yaml.safe_load(AUTOSCALER_YAML.read_text())


def _prepared(config: dict[str, Any]) -> dict[str, Any]:
    """What ``ray up`` validates: the yaml merged with Ray's AWS defaults."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_autoscaler_yaml_passes_rays_validator() -> None:
    prepared = _prepared(_autoscaler())
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_autoscaler_yaml_schema_rejects_a_mistyped_key() -> None:
    """The validator is strict enough to catch a typo (so the test above means something)."""
    import jsonschema

    config = _autoscaler()
    config["available_node_types"]["ray.worker.cpu"]["min_worker"] = 1
    with pytest.raises(jsonschema.ValidationError):
        _prepared(config)


def test_autoscaler_node_types() -> None:
    config = _autoscaler()
    provider = config["provider"]
    assert provider["region"] and "availability_zone" not in provider  # zone: the user's
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0  # carla_lite needs no GPU
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    assert any(t["resources"].get("GPU", 0) >= 1 for t in workers.values())
    assert any(t["resources"].get("GPU", 0) == 0 for t in workers.values())
    assert sum(t["max_workers"] for t in workers.values()) <= config["max_workers"]
    for name, node_type in types.items():
        node = node_type["node_config"]
        assert re.fullmatch(r"[a-z0-9]+\.[0-9]*[a-z]+", node["InstanceType"]), name
        # Ray 2.60 still maps latest_dlami to an Ubuntu 18.04 / CUDA 11.2 image: never used.
        assert node["ImageId"].startswith("ami-") and "dlami" not in node["ImageId"], name
        assert isinstance(node["SecurityGroupIds"], list) and node["SecurityGroupIds"], name
        (disk,) = node["BlockDeviceMappings"]
        assert disk["DeviceName"] == "/dev/sda1" and disk["Ebs"]["VolumeSize"] >= 100, name
        # Ports are the security group's business (SSH from one /32, nodes among themselves).
        assert "NetworkInterfaces" not in node and "IpPermissions" not in node, name
        if name != config["head_node_type"]:
            assert 0 <= node_type["min_workers"] <= node_type["max_workers"], name


def test_autoscaler_setup_uses_install_script_on_the_mounted_checkout() -> None:
    config = _autoscaler()
    assert config["file_mounts"] == {REMOTE_CHECKOUT: "."}
    assert ".gitignore" in config["rsync_filter"]  # .venv and caches stay home
    assert config["setup_commands"][0] == f"bash {REMOTE_CHECKOUT}/{INSTALL_SCRIPT}"
    assert (REPO_ROOT / INSTALL_SCRIPT).is_file()
    # `ray submit` runs `python ~/dqn_train.py dqn_example/dqn_config.yaml` in ~.
    assert f"ln -sfn {REMOTE_CHECKOUT}/dqn_example ~/dqn_example" in config["setup_commands"]
    # The head's dashboard extra: the very Ray version requirements.txt pins.
    (ray_pin,) = re.findall(
        r"^ray\[[a-z,]+\]==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M
    )
    (dashboard,) = config["head_setup_commands"]
    assert dashboard.endswith(f'pip install --quiet "ray[default]=={ray_pin}"')


def test_autoscaler_start_commands() -> None:
    config = _autoscaler()
    ray = f"{REMOTE_CHECKOUT}/.venv/bin/ray"
    head, worker = config["head_start_ray_commands"], config["worker_start_ray_commands"]
    assert head[0] == f"{ray} stop" and worker[0] == f"{ray} stop"
    head_start = " ".join(head[1].split())
    assert f"{ray} start --head --port=6379" in head_start
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in head_start
    # No dashboard on a public interface: `ray dashboard` tunnels to the head's loopback.
    assert "--dashboard-host=127.0.0.1" in head_start and "0.0.0.0" not in head_start
    assert f"{ray} start --address=$RAY_HEAD_IP:6379" in " ".join(worker[1].split())


def test_aws_helper_fills_the_ids_and_the_yaml_stays_valid(tmp_path: Path) -> None:
    """``aws_helper.py create-image --write-yaml`` edits only ImageId and SecurityGroupIds."""
    from aws import autoscaler_yaml

    copy_path = tmp_path / "dqn_autoscaler.yaml"
    shutil.copy(AUTOSCALER_YAML, copy_path)
    autoscaler_yaml.write_ids(copy_path, "ami-0123456789abcdef0", ["sg-0123456789abcdef0"])
    written = yaml.safe_load(copy_path.read_text())
    _prepared(written)
    for node_type in written["available_node_types"].values():
        assert node_type["node_config"]["ImageId"] == "ami-0123456789abcdef0"
        assert node_type["node_config"]["SecurityGroupIds"] == ["sg-0123456789abcdef0"]
    original = _autoscaler()
    for name, node_type in written["available_node_types"].items():
        node_type["node_config"].pop("ImageId")
        node_type["node_config"].pop("SecurityGroupIds")
        original["available_node_types"][name]["node_config"].pop("ImageId")
        original["available_node_types"][name]["node_config"].pop("SecurityGroupIds")
    assert written == original


# KubeRay's RayCluster (ray.io/v1), field names from raycluster_types.go.
RAYCLUSTER_SPEC = {
    "headGroupSpec",
    "workerGroupSpecs",
    "rayVersion",
    "enableInTreeAutoscaling",
    "autoscalerOptions",
    "headServiceAnnotations",
    "suspend",
}
HEAD_GROUP = {"serviceType", "headService", "enableIngress", "rayStartParams", "template"}
WORKER_GROUP = {
    "groupName",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "numOfHosts",
    "rayStartParams",
    "template",
    "scaleStrategy",
}
AUTOSCALER_OPTIONS = {
    "resources",
    "image",
    "imagePullPolicy",
    "env",
    "envFrom",
    "volumeMounts",
    "securityContext",
    "idleTimeoutSeconds",
    "upscalingMode",
}
UPSCALING_MODES = {"Default", "Aggressive", "Conservative"}
# The core/v1 Container fields the manifest may use.
CONTAINER = {"name", "image", "workingDir", "env", "ports", "resources", "volumeMounts"}


def _check_pod_template(template: dict[str, Any], where: str) -> dict[str, Any]:
    assert set(template) <= {"metadata", "spec"}, where
    (container, *_) = template["spec"]["containers"]
    assert set(container) <= CONTAINER, f"{where}: {set(container) - CONTAINER}"
    assert container["name"] and container["image"], where
    resources = container["resources"]
    # Ray takes its CPU count from the limits; equal requests keep the pod Guaranteed.
    assert resources["requests"] == resources["limits"], where
    assert "cpu" in resources["limits"] and "memory" in resources["limits"], where
    return dict(container)


def _check_start_params(params: Any, where: str) -> None:
    assert isinstance(params, dict), where
    # map[string]string: KubeRay passes each as --key=value to `ray start`.
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()), where


def test_raycluster_manifest_matches_kuberay_fields() -> None:
    manifest = yaml.safe_load(RAYCLUSTER_YAML.read_text())
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayCluster"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", manifest["metadata"]["name"])
    spec = manifest["spec"]
    assert set(spec) <= RAYCLUSTER_SPEC, set(spec) - RAYCLUSTER_SPEC
    assert spec["rayVersion"] == "2.60.0"
    assert spec["enableInTreeAutoscaling"] is True
    options = spec["autoscalerOptions"]
    assert set(options) <= AUTOSCALER_OPTIONS and options["upscalingMode"] in UPSCALING_MODES

    head = spec["headGroupSpec"]
    assert set(head) <= HEAD_GROUP and {"rayStartParams", "template"} <= set(head)
    _check_start_params(head["rayStartParams"], "head")
    assert head["rayStartParams"].get("dashboard-host") == "127.0.0.1"
    head_container = _check_pod_template(head["template"], "head")
    assert "nvidia.com/gpu" not in head_container["resources"]["limits"]

    groups = spec["workerGroupSpecs"]
    assert len({group["groupName"] for group in groups}) == len(groups) == 2
    gpus = []
    for group in groups:
        name = group["groupName"]
        assert set(group) <= WORKER_GROUP, f"{name}: {set(group) - WORKER_GROUP}"
        assert {"groupName", "minReplicas", "maxReplicas", "rayStartParams", "template"} <= set(
            group
        )
        assert 0 <= group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]
        _check_start_params(group["rayStartParams"], name)
        container = _check_pod_template(group["template"], name)
        gpus.append(int(container["resources"]["limits"].get("nvidia.com/gpu", 0)))
    assert sorted(gpus) == [0, 1]  # a CPU group for env runners, a GPU group for the learner
