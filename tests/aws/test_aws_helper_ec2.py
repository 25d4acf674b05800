"""aws_helper.py commands through boto3 against moto's EC2/SSM server on loopback."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import paramiko
import pytest

from aws import aws_helper
from tests.aws.conftest import REGION, AwsWorld
from tests.conftest import ephemeral_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CIDR = "203.0.113.7"


def helper(
    capfd: pytest.CaptureFixture[str], *argv: str, lookup_ip: Any = None
) -> tuple[int, str, str]:
    """Runs one command in-process; returns (status, stdout, stderr)."""

    def no_lookup() -> str:
        raise AssertionError("the caller's address was looked up")

    rc = aws_helper.main(list(argv), lookup_ip=lookup_ip or no_lookup)
    out, err = capfd.readouterr()
    return rc, out, err


def own_groups(world: AwsWorld) -> list[dict[str, Any]]:
    groups = world.ec2.describe_security_groups()["SecurityGroups"]
    return [g for g in groups if g["GroupName"] != "default"]


def live_instances(world: AwsWorld) -> list[dict[str, Any]]:
    found = []
    for reservation in world.ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] != "terminated":
                found.append(instance)
    return found


def key_names(world: AwsWorld) -> list[str]:
    return [k["KeyName"] for k in world.ec2.describe_key_pairs()["KeyPairs"]]


def assert_nothing_created(world: AwsWorld) -> None:
    assert key_names(world) == []
    assert own_groups(world) == []
    assert live_instances(world) == []
    assert world.ec2.describe_images(Owners=["self"])["Images"] == []


def launch(capfd: pytest.CaptureFixture[str], keys: Path, *extra: str) -> tuple[int, str, str]:
    return helper(
        capfd, "launch", "--name", "rl", "--ssh-cidr", CIDR, "--key-dir", str(keys), *extra
    )


def test_launch_creates_key_pair_group_and_instance(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    rc, out, err = launch(capfd, keys, "--volume-size", "40")
    assert rc == 0, err
    # Key pair in the region; its private key only in a 0600 file in a 0700 directory.
    assert key_names(aws) == ["rl"]
    key_file = keys / "rl.pem"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    material = key_file.read_text()
    paramiko.PKey.from_path(key_file)  # a usable private key
    assert material.strip().splitlines()[1] not in out + err
    # SSH only from the given /32, all traffic only from the group itself; nothing else.
    (group,) = own_groups(aws)
    assert group["GroupName"] == "rl"
    perms = group["IpPermissions"]
    ssh = [p for p in perms if p["IpProtocol"] == "tcp"]
    assert [(p["FromPort"], p["ToPort"]) for p in ssh] == [(22, 22)]
    assert [r["CidrIp"] for r in ssh[0]["IpRanges"]] == [f"{CIDR}/32"]
    internal = [p for p in perms if p["IpProtocol"] == "-1"]
    assert [g["GroupId"] for g in internal[0]["UserIdGroupPairs"]] == [group["GroupId"]]
    assert internal[0]["IpRanges"] == []
    assert len(perms) == 2
    # The instance: today's Ubuntu from SSM, the type, the key, the group, the tag, running.
    (instance,) = live_instances(aws)
    assert instance["ImageId"] == aws.ubuntu_ami
    assert instance["InstanceType"] == "t3.large"
    assert instance["KeyName"] == "rl"
    assert instance["State"]["Name"] == "running"
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group["GroupId"]]
    assert {"Key": "Name", "Value": "rl"} in instance["Tags"]
    (mapping,) = instance["BlockDeviceMappings"]
    volume = aws.ec2.describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Size"] == 40
    assert f"InstanceId: {instance['InstanceId']}" in out
    assert (
        f"ssh -i {key_file} -o UserKnownHostsFile={keys / 'known_hosts'} "
        f"-o HostKeyAlias={instance['InstanceId']} -o StrictHostKeyChecking=accept-new "
        f"ubuntu@{instance['PublicIpAddress']}"
    ) in out
    assert f"SecurityGroupIds: [{group['GroupId']}]" in out


def test_gpu_base_image_placement_and_looked_up_address(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    asked = []

    def lookup() -> str:
        asked.append(1)
        return "198.51.100.23"

    rc, _, err = helper(
        capfd,
        "launch",
        "--gpu",
        "--availability-zone",
        f"{REGION}b",
        "--key-dir",
        str(tmp_path / "keys"),
        lookup_ip=lookup,
    )
    assert rc == 0, err
    assert asked == [1]
    (instance,) = live_instances(aws)
    assert instance["ImageId"] == aws.dlami
    assert instance["InstanceType"] == "g4dn.xlarge"
    assert instance["Placement"]["AvailabilityZone"] == f"{REGION}b"
    (group,) = own_groups(aws)
    assert group["GroupName"] == "CARLA_RLLIB"  # the original's default --name
    ssh = next(p for p in group["IpPermissions"] if p["IpProtocol"] == "tcp")
    assert [r["CidrIp"] for r in ssh["IpRanges"]] == ["198.51.100.23/32"]


def test_relaunch_reuses_key_pair_and_group(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    assert launch(capfd, keys)[0] == 0
    key_before = (keys / "rl.pem").read_text()
    rc, _, err = launch(capfd, keys, "--ssh-cidr", "192.0.2.0/24")
    assert rc == 0, err
    assert key_names(aws) == ["rl"]
    assert (keys / "rl.pem").read_text() == key_before
    (group,) = own_groups(aws)
    ssh = next(p for p in group["IpPermissions"] if p["IpProtocol"] == "tcp")
    assert sorted(r["CidrIp"] for r in ssh["IpRanges"]) == ["192.0.2.0/24", f"{CIDR}/32"]
    assert len(live_instances(aws)) == 2


def test_dry_run_creates_nothing(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    yaml_file = tmp_path / "cluster.yaml"
    yaml_file.write_text("available_node_types:\n  head: {node_config: {ImageId: old}}\n")
    rc, out, err = helper(
        capfd,
        "create-image",
        "--dry-run",
        "--key-dir",
        str(keys),
        "--write-yaml",
        str(yaml_file),
    )
    assert rc == 0, err
    for call in (
        "ec2.CreateKeyPair(",
        "ec2.CreateSecurityGroup(",
        "ec2.RunInstances(",
        "ec2.CreateImage(",
    ):
        assert f"DRY RUN: {call}" in out
    assert "DRY RUN: run ./aws/install/install.sh in rllib-integration" in out
    assert f"Base image: {aws.ubuntu_ami}" in out
    assert_nothing_created(aws)
    assert not keys.exists()
    assert "ImageId: old" in yaml_file.read_text()
    for action in ("start", "stop"):
        instance_id = aws.ec2.run_instances(ImageId=aws.ubuntu_ami, MinCount=1, MaxCount=1)[
            "Instances"
        ][0]["InstanceId"]
        aws.ec2.stop_instances(InstanceIds=[instance_id]) if action == "start" else None
        before = live_instances(aws)[-1]["State"]["Name"]
        rc, out, err = helper(capfd, action, "--dry-run", "--instance-id", instance_id)
        assert rc == 0, err
        assert "DRY RUN: ec2." in out
        after = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"
        ][0]["State"]["Name"]
        assert after == before


def test_missing_image_fails_before_creating_anything(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, _, err = launch(capfd, tmp_path / "keys", "--image-id", "ami-0000000000000dead")
    assert rc == 1
    assert "ec2.DescribeImages failed for image ami-0000000000000dead in eu-west-3" in err
    assert "InvalidAMIID.NotFound" in err
    assert len(err.strip().splitlines()) == 1
    assert_nothing_created(aws)


def test_bad_instance_type_fails_before_creating_anything(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, _, err = launch(capfd, tmp_path / "keys", "--instance-type", "t9.huge")
    assert rc == 1
    assert "ec2.DescribeInstanceTypes failed for instance type t9.huge in eu-west-3" in err
    assert "InvalidInstanceType" in err
    assert_nothing_created(aws)


def test_duplicate_key_pair_without_its_key_file(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    aws.ec2.create_key_pair(KeyName="rl")
    keys = tmp_path / "keys"
    rc, _, err = launch(capfd, keys)
    assert rc == 1
    assert "key pair 'rl' already exists in eu-west-3" in err
    assert str(keys / "rl.pem") in err
    assert key_names(aws) == ["rl"]  # someone else's key pair is left alone
    assert own_groups(aws) == [] and live_instances(aws) == []
    # A key file here without a key pair is never overwritten either.
    aws.ec2.delete_key_pair(KeyName="rl")
    keys.mkdir()
    (keys / "rl.pem").write_text("mine")
    rc, _, err = launch(capfd, keys)
    assert rc == 1 and "is never overwritten" in err
    assert (keys / "rl.pem").read_text() == "mine"


def test_failed_launch_cleans_up_what_it_created(
    aws: AwsWorld,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    # An availability zone the region lacks: RunInstances fails after the key pair and the
    # security group were made.
    rc, _, err = launch(capfd, keys, "--availability-zone", f"{REGION}z")
    assert rc == 1
    assert "ec2.RunInstances failed for instance rl in eu-west-3: InvalidParameterValue" in err
    assert "cleaning up security group rl" in caplog.text
    assert "cleaning up key pair rl" in caplog.text
    assert_nothing_created(aws)
    assert not (keys / "rl.pem").exists()


def test_info_start_stop(aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert launch(capfd, keys)[0] == 0
    (instance,) = live_instances(aws)
    iid = instance["InstanceId"]

    def state() -> str:
        reply = aws.ec2.describe_instances(InstanceIds=[iid])
        return str(reply["Reservations"][0]["Instances"][0]["State"]["Name"])

    rc, out, _ = helper(capfd, "info", "--instance-id", iid, "--field", "public_ip")
    assert rc == 0 and out.strip() == instance["PublicIpAddress"]
    rc, out, _ = helper(capfd, "info", "--instance-id", iid, "--key-dir", str(keys))
    assert rc == 0
    assert f"pem_file: {keys / 'rl.pem'}" in out and "state: running" in out
    assert f"availability_zone: {instance['Placement']['AvailabilityZone']}" in out
    assert helper(capfd, "stop", "--instance-id", iid)[0] == 0
    assert state() == "stopped"
    rc, out, _ = helper(capfd, "start", "--instance-id", iid)
    assert rc == 0 and out.startswith("PublicIp: ")
    assert state() == "running"
    rc, _, err = helper(capfd, "info", "--instance-id", iid, "--field", "password")
    assert rc == 1 and "unknown --field 'password'; valid: instance_id" in err
    rc, _, err = helper(capfd, "info", "--instance-id", "i-0123456789abcdef0")
    assert rc == 1 and "i-0123456789abcdef0" in err and "eu-west-3" in err
    rc, _, err = helper(capfd, "stop")
    assert rc == 1 and "stop needs --instance-id" in err


def test_no_region_is_one_clear_line(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    rc, _, err = helper(capfd, "info", "--instance-id", "i-1")
    assert rc == 1
    assert err.strip() == (
        "aws_helper: error: no AWS region: pass --region or set one (aws configure, "
        "AWS_REGION or AWS_DEFAULT_REGION)"
    )


@pytest.mark.parametrize("cwd", [".", "aws"])
def test_runs_from_repo_root_and_from_aws_dir(aws: AwsWorld, cwd: str) -> None:
    instance_id = aws.ec2.run_instances(ImageId=aws.ubuntu_ami, MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    script = "aws/aws_helper.py" if cwd == "." else "aws_helper.py"
    done = subprocess.run(
        [sys.executable, script, "info", "--instance-id", instance_id, "--field", "image_id"],
        cwd=REPO_ROOT / cwd,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == aws.ubuntu_ami


def test_public_address_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default lookup reads one address over HTTP (here from a loopback server)."""
    import http.server
    import threading

    answers = [b"192.0.2.55\n", b"<html>captive portal</html>"]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.pop(0)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(aws_helper, "CHECKIP_URL", f"http://127.0.0.1:{server.server_port}/")
        assert aws_helper.lookup_public_ip() == "192.0.2.55"
        with pytest.raises(aws_helper.HelperError, match="not an IP address"):
            aws_helper.ssh_cidr(aws_helper.lookup_public_ip())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    monkeypatch.setattr(aws_helper, "CHECKIP_URL", f"http://127.0.0.1:{ephemeral_port()}/")
    with pytest.raises(aws_helper.HelperError, match="pass --ssh-cidr"):
        aws_helper.lookup_public_ip()


def test_missing_ssm_parameter_is_one_clear_line(
    aws: AwsWorld, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, _, err = launch(capfd, tmp_path / "keys", "--image-parameter", "/aws/service/none/ami-id")
    assert rc == 1
    assert err.startswith(
        "aws_helper: error: ssm.GetParameter failed for SSM parameter /aws/service/none/ami-id "
        "in eu-west-3: ParameterNotFound"
    )
    assert_nothing_created(aws)


def test_debug_logging_never_shows_the_private_key(
    aws: AwsWorld,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = tmp_path / "keys"
    rc, out, err = launch(capfd, keys, "--debug")
    assert rc == 0, err
    body = "".join((keys / "rl.pem").read_text().splitlines()[1:-1])
    shown = out + err + caplog.text.replace("\n", "")
    assert body[:40] not in shown and "KeyMaterial" not in shown
