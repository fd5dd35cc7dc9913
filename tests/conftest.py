"""Test configuration: Hypothesis profiles (ci: fixed example count, no deadline, print seed)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, print_blob=True, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", max_examples=25, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=300, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _default_dtype_restored():
    """Tests that change the default dtype must not leak it."""
    import tapegrad as tg

    old = tg.get_default_dtype()
    yield
    tg.set_default_dtype(old)
    np.seterr(all="warn", under="ignore")  # NumPy's defaults


def pytest_report_header(config):
    seed = config.getoption("hypothesis_seed", default=None)
    profile = os.environ.get("HYPOTHESIS_PROFILE", "dev")
    lines = [f"hypothesis profile: {profile}, seed: {seed if seed is not None else 'random'}"]
    try:  # which BLAS kernel really runs (OPENBLAS_CORETYPE asks for one; the CPU may refuse)
        from threadpoolctl import threadpool_info

        lines += [f"BLAS: {i['internal_api']} {i.get('architecture')}, {i['num_threads']} "
                  f"thread(s)" for i in threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        pass
    return lines
