"""Device set-up: the TF32 switch leaves torch's precision flags readable."""

import pytest
import torch

from lmcore.device import configure, resolve_device
from lmcore.errors import LmcoreError


@pytest.fixture
def restore_precision():
    before = torch.get_float32_matmul_precision()
    yield
    torch.set_float32_matmul_precision(before)


def test_configuring_cuda_turns_tf32_on_and_keeps_the_flags_readable(restore_precision):
    configure(torch.device("cuda"))  # sets flags only: no GPU needed
    # Both getters raised "mix of the legacy and new APIs" when only cuda.matmul's
    # fp32_precision was set; torch.compile reads the first one.
    assert torch.get_float32_matmul_precision() == "high"
    assert torch.backends.cuda.matmul.allow_tf32 is True
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"


def test_configuring_the_cpu_changes_nothing(restore_precision):
    torch.set_float32_matmul_precision("highest")
    configure(torch.device("cpu"))
    assert torch.get_float32_matmul_precision() == "highest"


def test_asking_for_cuda_without_a_gpu_says_so():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(LmcoreError, match="no CUDA GPU"):
        resolve_device("cuda")
