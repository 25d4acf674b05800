"""Base images: today's Ubuntu (CPU, carla_lite) or Deep Learning AMI (GPU), from SSM.

AWS and Canonical publish the id of the current image of each family as a public SSM
parameter, per region, so nothing here goes stale the way a table of AMI ids does.
"""

from __future__ import annotations

import logging
from typing import Any

from aws.ec2 import Ec2

log = logging.getLogger(__name__)

#: Ubuntu 22.04 LTS (amd64, gp2 root) by Canonical: CPU-only use with carla_lite.
UBUNTU_PARAMETER = (
    "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"
)
#: AWS Deep Learning Base AMI with the NVIDIA driver, Ubuntu 22.04: GPU instances.
DLAMI_PARAMETER = (
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-ubuntu-22.04/latest/ami-id"
)


def resolve_base_image(
    ec2: Ec2, *, image_id: str | None, gpu: bool, parameter: str | None
) -> dict[str, Any]:
    """The base image to build on, checked to exist in the region.

    Args:
        ec2: the region's clients.
        image_id: an explicit image id (``--image-id``); wins over everything else.
        gpu: use the Deep Learning AMI instead of plain Ubuntu.
        parameter: an SSM parameter name to read the image id from instead of the default.

    Returns:
        the ``describe_images`` record of the image.
    """
    if not image_id:
        name = parameter or (DLAMI_PARAMETER if gpu else UBUNTU_PARAMETER)
        image_id = ec2.get_parameter(name)
        log.info("base image %s (from SSM parameter %s)", image_id, name)
    return ec2.describe_image(image_id)
