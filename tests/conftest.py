import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    """Tiny models: one torch thread per process. On 2 cores, torch's default thread pool makes small ops several
    times slower (measured: the MVLT modeling + collator tests took 64 s with the default pool, 10 s with one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same random state, so failures reproduce."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


def pytest_configure(config):
    """Markers used by transformers' common tests (fetched by tests/transformers_test_suite.py), registered so that
    collecting them does not warn."""
    for marker in ("accelerate_tests", "flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test"):
        config.addinivalue_line("markers", f"{marker}: transformers common-test marker")
