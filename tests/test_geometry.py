"""core.geometry (the kernels' shared formulas) and robo_orch.planar (their numba-free twins)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robo_orch import planar
from robo_orch.core import geometry as geo

finite = st.floats(-1e6, 1e6, allow_nan=False)
base = st.floats(0.05, 5.0)


def test_wrap_angle():
    for a in [0.0, 1.0, -1.0, math.pi, -math.pi, 3 * math.pi, -3 * math.pi, 7.5, -7.5, 1e3]:
        got = geo.wrap_angle(a)
        assert -math.pi < got <= math.pi
        assert abs(math.remainder(got - a, 2 * math.pi)) < 1e-12
    assert geo.wrap_angle(-math.pi) == math.pi
    assert geo.wrap_angle(1.25) == 1.25  # in range: returned untouched, not recomputed


def test_wrap_to_pi_is_half_open_and_elementwise():
    angles = np.array([-math.pi, math.pi, 3 * math.pi, -7.5, 0.5])
    got = planar.wrap_to_pi(angles)
    assert np.all((got >= -math.pi) & (got < math.pi))
    assert got[1] == -math.pi and got[4] == 0.5
    assert [planar.wrap_to_pi(float(a)) for a in angles] == list(got)


@given(finite, finite, base)
def test_wheel_conversions_round_trip_and_twins_agree_bit_for_bit(v, w, wheel_base):
    left, right = planar.body_to_wheels(v, w, wheel_base)
    assert right - left == pytest.approx(w * wheel_base, rel=1e-9, abs=1e-6)
    assert planar.wheels_to_body(left, right, wheel_base) == geo.wheels_to_body(left, right,
                                                                                 wheel_base)


def test_wheel_speeds_scale_both_wheels_and_keep_the_turn():
    left, right, limited = planar.wheel_speeds(1.0, 4.0, 0.34, 1.0)
    assert limited and right == 1.0 and left == pytest.approx(0.32 / 1.68)
    assert planar.wheel_speeds(0.5, 0.0, 0.34, 1.0) == (0.5, 0.5, False)
    assert planar.wheel_speeds(math.inf, 0.0, 0.34, 1.0) == (0.0, 0.0, True)


def test_segment_distance_and_closest_point():
    assert geo.segment_distance(2.0, 1.0, 0.0, 0.0, 4.0, 0.0) == 1.0  # interior
    assert geo.segment_distance(7.0, 4.0, 0.0, 0.0, 4.0, 0.0) == 5.0  # past the end
    assert geo.segment_distance(3.0, 4.0, 0.0, 0.0, 0.0, 0.0) == 5.0  # a point segment
    assert geo.closest_on_segment(-3.0, 4.0, 0.0, 0.0, 4.0, 0.0) == (5.0, 0.0, 0.0)
    assert geo.segment_fraction(1.0, 9.0, 0.0, 0.0, 4.0, 0.0) == 0.25
    assert planar.segment_distance(7.0, 4.0, 0.0, 0.0, 4.0, 0.0) == 5.0


def test_point_in_polygon_even_odd_on_a_concave_polygon():
    l_shape = [(0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0), (1.0, 2.0), (0.0, 2.0)]
    poly = np.array(l_shape)
    for (x, y), inside in [((0.5, 1.5), True), ((1.5, 0.5), True), ((1.5, 1.5), False),
                           ((-0.5, 0.5), False)]:
        assert geo.point_in_polygon(x, y, poly, 0, len(poly)) is inside
        assert planar.point_in_polygon(x, y, l_shape) is inside


def test_drivers_and_config_load_without_numba():
    # DESIGN: driver processes do not import numba; the driver host imports the config
    code = ("import sys; import robo_orch.hosting.driver_host, robo_orch.config, "
            "robo_orch.drivers.motor_bridge, robo_orch.drivers.rplidar, robo_orch.planar; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numba')[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
