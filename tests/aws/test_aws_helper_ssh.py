"""aws_helper.py's SSH/SFTP steps against a real OpenSSH sshd on loopback playing the instance.

The instance itself is moto's (its key pair imported from the key the sshd lets in); its
address is overridden with ``--host 127.0.0.1 --port <sshd's port>``.
"""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest
from ruamel.yaml import YAML

from aws.ssh import remote_path
from tests.aws.conftest import AwsWorld, Sshd
from tests.aws.test_aws_helper_ec2 import helper, live_instances, own_groups
from tests.conftest import ephemeral_port

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Instance:
    id: str
    keys: Path
    args: list[str]


@pytest.fixture
def instance(aws: AwsWorld, sshd: Sshd, tmp_path: Path) -> Instance:
    """A moto instance with key pair ``rl`` whose private key is the one sshd accepts."""
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    shutil.copy2(sshd.key_file, keys / "rl.pem")
    (keys / "rl.pem").chmod(0o600)
    public = paramiko.PKey.from_path(sshd.key_file)
    aws.ec2.import_key_pair(
        KeyName="rl", PublicKeyMaterial=f"{public.get_name()} {public.get_base64()}".encode()
    )
    reply = aws.ec2.run_instances(ImageId=aws.ubuntu_ami, KeyName="rl", MinCount=1, MaxCount=1)
    instance_id = reply["Instances"][0]["InstanceId"]
    args = [
        "--instance-id",
        instance_id,
        "--key-dir",
        str(keys),
        "--host",
        "127.0.0.1",
        "--port",
        str(sshd.port),
        "--ssh-user",
        sshd.user,
        "--ssh-timeout",
        "20",
    ]
    return Instance(instance_id, keys, args)


def test_exec_command_streams_output_and_returns_its_status(
    instance: Instance, capfd: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = helper(
        capfd, "exec", *instance.args, "--command", "echo to-out; echo to-err >&2; exit 3"
    )
    assert rc == 3
    assert "to-out" in out and "to-err" in err
    known_hosts = instance.keys / "known_hosts"
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
    # The host is remembered under the instance id (EC2 reuses public addresses).
    assert known_hosts.read_text().split()[0] == instance.id
    rc, out, _ = helper(capfd, "exec", *instance.args, "--command", "echo again")
    assert rc == 0 and "again" in out
    # OpenSSH's own client trusts the same file with the alias `launch` prints (no new entry).
    port = instance.args[instance.args.index("--port") + 1]
    done = subprocess.run(
        [
            "ssh",
            "-i",
            str(instance.keys / "rl.pem"),
            "-p",
            port,
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            f"HostKeyAlias={instance.id}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "root@127.0.0.1",
            "echo openssh-ok",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.strip() == "openssh-ok", done.stderr


def test_exec_script_is_uploaded_and_run_with_its_arguments(
    instance: Instance, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/sh\necho "cwd=$(pwd)"\nfor a in "$@"; do echo "arg=$a"; done\n')
    script.chmod(0o755)
    remote = tmp_path / "remote" / "new"  # created
    rc, out, err = helper(
        capfd,
        "exec",
        *instance.args,
        "--script",
        str(script),
        "--script-args",
        "one 'two words'",
        "--target",
        str(remote),
    )
    assert rc == 0, err
    assert f"cwd={remote}" in out
    assert "arg=one\narg=two words\n" in out
    assert (remote / "job.sh").read_text() == script.read_text()
    script.write_text("#!/bin/sh\nexit 9\n")
    rc, _, err = helper(
        capfd, "exec", *instance.args, "--script", str(script), "--target", str(remote)
    )
    assert rc == 9 and "exited with status 9" in err


def test_put_and_get_copy_trees_and_skip_excluded_names(
    instance: Instance, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    src = tmp_path / "work"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "data.txt").write_text("payload")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref")
    (src / "__pycache__").mkdir()
    remote = tmp_path / "remote"
    remote.mkdir()
    rc, out, err = helper(
        capfd, "put", *instance.args, "--source", str(src), "--target", str(remote)
    )
    assert rc == 0, err
    assert "uploaded 2 file(s)" in out
    assert (remote / "work" / "sub" / "data.txt").read_text() == "payload"
    assert stat.S_IMODE((remote / "work" / "run.sh").stat().st_mode) == 0o755
    assert not (remote / "work" / ".git").exists()
    assert not (remote / "work" / "__pycache__").exists()
    back = tmp_path / "back"
    back.mkdir()
    rc, out, err = helper(
        capfd, "get", *instance.args, "--source", str(remote / "work"), "--target", str(back)
    )
    assert rc == 0, err
    assert (back / "work" / "sub" / "data.txt").read_text() == "payload"
    rc, _, err = helper(
        capfd, "get", *instance.args, "--source", str(remote / "nope"), "--target", str(back)
    )
    assert rc == 1 and "cannot read" in err and "nope" in err


def test_refused_connection_names_host_and_port(
    instance: Instance, capfd: pytest.CaptureFixture[str]
) -> None:
    port = ephemeral_port()
    args = [*instance.args, "--port", str(port), "--ssh-timeout", "1"]  # the last ones win
    rc, _, err = helper(capfd, "exec", *args, "--command", "true")
    assert rc == 1
    assert f"cannot connect to root@127.0.0.1:{port}: connection refused (2 attempt(s)" in err


def test_changed_host_key_is_refused(instance: Instance, capfd: pytest.CaptureFixture[str]) -> None:
    assert helper(capfd, "exec", *instance.args, "--command", "true")[0] == 0
    known_hosts = instance.keys / "known_hosts"
    other = paramiko.Ed25519Key.from_private_key_file(str(_new_key(instance.keys / "other")))
    known_hosts.write_text(f"{instance.id} ssh-ed25519 {other.get_base64()}\n")
    rc, _, err = helper(capfd, "exec", *instance.args, "--command", "touch /tmp/never")
    assert rc == 1
    assert f"host key of {instance.id} (127.0.0.1:" in err and "refusing" in err
    assert known_hosts.read_text() == f"{instance.id} ssh-ed25519 {other.get_base64()}\n"


def _new_key(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


AUTOSCALER = """\
# A cluster (comments are kept).
cluster_name: test
provider: {type: aws, region: eu-west-3}
available_node_types:
  head:
    node_config:
      InstanceType: m5.large  # the head
      ImageId: ami-old
    resources: {}
  cpu_worker:
    node_config:
      InstanceType: c5.2xlarge
      SecurityGroupIds: [sg-old]
    min_workers: 0
head_node_type: head
"""


def create_image(
    capfd: pytest.CaptureFixture[str],
    instance: Instance,
    tmp_path: Path,
    script_text: str,
    *extra: str,
) -> tuple[int, str, str, Path]:
    script = tmp_path / "provision.sh"
    script.write_text(script_text)
    remote = tmp_path / "remote"
    rc, out, err = helper(
        capfd,
        "create-image",
        "--name",
        "img",
        "--key-name",
        "rl",
        "--ssh-cidr",
        "203.0.113.9",
        "--installation-scripts",
        str(script),
        "--remote-dir",
        str(remote),
        *instance.args[2:],  # all but --instance-id
        *extra,
    )
    return rc, out, err, remote


def test_create_image_uploads_the_project_runs_the_script_and_writes_the_yaml(
    aws: AwsWorld, instance: Instance, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(AUTOSCALER)
    rc, out, err, remote = create_image(
        capfd,
        instance,
        tmp_path,
        '#!/bin/sh\nset -e\ntest -f aws/aws_helper.py\necho "provisioned $*" | tee built.txt\n',
        "--script-args",
        "--carla-url file:///x.tar.gz",
        "--write-yaml",
        str(cluster),
    )
    assert rc == 0, err
    assert "provisioned --carla-url file:///x.tar.gz" in out
    assert (remote / "built.txt").is_file()
    # The project went up without its .git, .venv and caches.
    assert (remote / "aws" / "install" / "install.sh").is_file()
    assert (remote / "carla_lite").is_dir()
    assert not (remote / ".git").exists() and not (remote / ".venv").exists()
    # An image named --name exists; the builder instance is stopped.
    (image,) = aws.ec2.describe_images(Owners=["self"])["Images"]
    assert image["Name"] == "img" and image["State"] == "available"
    builders = [i for i in live_instances(aws) if i["InstanceId"] != instance.id]
    assert [b["State"]["Name"] for b in builders] == ["stopped"]
    assert builders[0]["ImageId"] == aws.ubuntu_ami
    (group,) = own_groups(aws)
    ssh = next(p for p in group["IpPermissions"] if p["IpProtocol"] == "tcp")
    assert [r["CidrIp"] for r in ssh["IpRanges"]] == ["203.0.113.9/32"]
    assert f"ImageId: {image['ImageId']}" in out
    assert f"SecurityGroupIds: [{group['GroupId']}]" in out
    # Every node type of the autoscaler yaml now has both ids; the rest and comments stay.
    text = cluster.read_text()
    assert "# A cluster (comments are kept)." in text and "# the head" in text
    data = YAML(typ="safe").load(text)
    for node_type in ("head", "cpu_worker"):
        config = data["available_node_types"][node_type]["node_config"]
        assert config["ImageId"] == image["ImageId"]
        assert config["SecurityGroupIds"] == [group["GroupId"]]
    assert data["available_node_types"]["cpu_worker"]["min_workers"] == 0
    assert data["head_node_type"] == "head"
    # The same name again is refused before anything is created.
    rc, _, err, _ = create_image(capfd, instance, tmp_path, "#!/bin/sh\n")
    assert rc == 1 and "an image named 'img' already exists" in err


def test_create_image_with_a_failing_script_fails_with_its_status_and_cleans_up(
    aws: AwsWorld,
    instance: Instance,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    rc, _, err, _ = create_image(capfd, instance, tmp_path, "#!/bin/sh\necho failing\nexit 7\n")
    assert rc == 7
    assert "exited with status 7" in err
    assert "cleaning up security group img" in caplog.text
    # The builder is terminated, the group it made deleted, no image; the key pair it
    # reused (made by someone else) and its file are kept.
    assert [i["InstanceId"] for i in live_instances(aws)] == [instance.id]
    assert own_groups(aws) == []
    assert aws.ec2.describe_images(Owners=["self"])["Images"] == []
    assert [k["KeyName"] for k in aws.ec2.describe_key_pairs()["KeyPairs"]] == ["rl"]
    assert (instance.keys / "rl.pem").is_file()


def test_silent_port_times_out_with_host_and_port(
    instance: Instance, capfd: pytest.CaptureFixture[str]
) -> None:
    """A port that accepts TCP but never speaks SSH (a booting or wrong service)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        args = [*instance.args, "--port", str(port), "--ssh-timeout", "1"]
        rc, _, err = helper(capfd, "exec", *args, "--command", "true")
    assert rc == 1
    assert f"cannot connect to root@127.0.0.1:{port}: SSH handshake failed" in err


def test_remote_paths_relative_to_the_login_directory() -> None:
    assert [remote_path(p) for p in ("~", "~/", "~/a/b", "a", "/abs", ".")] == [
        ".",
        ".",
        "a/b",
        "a",
        "/abs",
        ".",
    ]


def test_dry_run_ssh_steps_do_nothing(
    instance: Instance, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    rc, out, err = helper(
        capfd, "exec", *instance.args, "--dry-run", "--command", f"touch {marker}"
    )
    assert rc == 0, err
    assert f"DRY RUN: run touch {marker} on root@127.0.0.1:" in out
    rc, out, _ = helper(
        capfd, "put", *instance.args, "--dry-run", "--source", str(tmp_path), "--target", "x"
    )
    assert rc == 0 and "DRY RUN: upload" in out
    assert not marker.exists() and not (instance.keys / "known_hosts").exists()
