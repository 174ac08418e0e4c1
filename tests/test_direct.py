"""Direct kernel calls (robo_orch.core.direct): the same compiled code without the
dispatcher's typing, and the layout check that must come with them."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from robo_orch.core import estimator
from robo_orch.core.direct import direct, require_contiguous


def test_direct_call_gives_the_kernels_result():
    x, P = np.zeros(5), np.eye(5)
    estimator.ekf_reset(x, P, 1.0, 2.0, 0.3)
    x2, P2 = x.copy(), P.copy()
    fast = direct(estimator.ekf_update_odometry)
    assert fast is not estimator.ekf_update_odometry
    nis = estimator.ekf_update_odometry(x, P, 0.4, 0.5, 0.3, 0.05, 0.1)
    assert fast(x2, P2, 0.4, 0.5, 0.3, 0.05, 0.1) == nis
    assert x.tobytes() == x2.tobytes() and P.tobytes() == P2.tobytes()
    with pytest.raises(TypeError):  # the entry point still refuses another dtype
        fast(x2.astype(np.float32), P2, 0.4, 0.5, 0.3, 0.05, 0.1)


def test_a_kernel_without_one_eager_signature_is_returned_as_it_is():
    @numba.njit
    def lazy(a):
        return a + 1

    assert direct(lazy) is lazy
    assert direct(len) is len


def test_require_contiguous_refuses_what_the_entry_point_would_misread():
    require_contiguous(x=(np.zeros(5), 1), P=(np.zeros((5, 5)), 2))
    with pytest.raises(ValueError, match="x: .*C-contiguous 1-D"):
        require_contiguous(x=(np.zeros(10)[::2], 1))
    with pytest.raises(ValueError, match="P: .*2-D"):
        require_contiguous(P=(np.zeros(25), 2))
