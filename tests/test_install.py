"""The default install stays CPU-only: no torchvision (its PyPI wheel breaks ``import
transformers`` on CPU torch) and no CUDA wheels. GPU packages belong to the optional GPU setup.

The check of what is *installed* is meaningful only in an environment made by the default install;
CI's ``.ci/run`` builds one from a clean clone and sets ``AVATAR_STUDIO_DEFAULT_INSTALL=1``.
"""

from __future__ import annotations

import os
import re
from importlib import metadata

import pytest

from conftest import ROOT

GPU_ONLY = re.compile(r"^(torchvision|triton|nvidia-.*|cuda-.*|basicsr.*|gfpgan|facexlib)$", re.IGNORECASE)
DEFAULT_FILES = ("requirements.txt", "requirements-nodeps.txt", "pre-requirements.txt", "requirements-test.txt",
                 "requirements-test-nodeps.txt")


def test_default_requirement_files_ask_for_no_gpu_packages():
    """What a CPU machine or a Space installs; the GPU path has requirements-gpu*.txt."""
    for name in DEFAULT_FILES:
        if not (ROOT / name).exists():  # pre-requirements.txt: the Spaces build only
            continue
        for line in (ROOT / name).read_text().splitlines():
            package = re.split(r"[\s<>=!~\[;#]", line.strip(), maxsplit=1)[0]
            assert not (package and GPU_ONLY.match(package)), f"{name} asks for {package}"


@pytest.mark.skipif(os.environ.get("AVATAR_STUDIO_DEFAULT_INSTALL") != "1",
                    reason="only meaningful in an environment built by the default install (CI sets this)")
def test_the_default_install_has_no_torchvision_and_no_cuda():
    installed = sorted({dist.metadata["Name"] for dist in metadata.distributions()})
    assert [name for name in installed if GPU_ONLY.match(name)] == []
    import torch

    assert torch.version.cuda is None, f"torch {torch.__version__} is a CUDA build"
