"""A model of n actuated joints (servos, a pan-tilt head, a gripper) and its encoders.

Each joint has a position and a velocity.  The device computes a velocity target
``u`` from the command (``robo_orch.messages.JOINT_COMMAND``): in position mode
``u = cmd_vel + gain (cmd_pos - pos)`` (the command's velocity as feed-forward
plus a proportional position loop), in velocity mode ``u = cmd_vel``; ``u`` is
clamped to the device's own speed limit, and a non-finite command is taken as
``u = 0`` (the device ignores garbage and stops).  The velocity follows ``u``
with a first-order lag of time constant ``tau`` (integrated exactly within each
sub-step), and the position integrates it.  The hard stops are walls: a joint
that reaches one stays on it with its velocity into the wall zeroed.

A step longer than ``tau / 4`` or ``0.25 / gain`` is split into equal sub-steps
(at most :data:`MAX_SUBSTEPS`) so the position loop stays stable for any loop
rate.  With ``gain tau <= 1/4`` the position loop is critically damped or slower
(no overshoot of a held setpoint).

Encoders: :meth:`JointsModel.measure` adds seeded Gaussian noise of ``noise_std``
to the positions (velocities are reported as they are); without noise it
allocates nothing.
"""

from __future__ import annotations

import math

# isort: off
import robo_orch  # noqa: F401  (sets numba's cache directory before numba is imported)
import numba
import numpy as np
# isort: on

# --- the ``hard`` array: one row per joint -----------------------------------------
H_MIN = 0  #: lower hard stop
H_MAX = 1  #: upper hard stop
H_MAX_VEL = 2  #: the device's own speed limit
H_LEN = 3
MAX_SUBSTEPS = 16

_STEP_SIG = ("void(float64[::1], float64[::1], float64[::1], float64[::1], int64,"
             " float64[:, ::1], float64, float64, float64)")


@numba.njit(_STEP_SIG, cache=True, error_model="numpy")
def step_joints(pos, vel, cmd_pos, cmd_vel, mode, hard, dt, tau, gain):
    """Advance every joint's ``pos`` and ``vel`` in place by ``dt`` under the command.

    ``mode`` 0 is position, 1 velocity (``robo_orch.core.safety_joints.MODES``);
    ``tau`` <= 0: the velocity reaches its target at once.
    """
    n = pos.shape[0]
    if dt <= 0.0 or not math.isfinite(dt):
        return
    k = 1
    if tau > 0.0:
        k = max(k, int(math.ceil(dt / (0.25 * tau))))
    if mode == 0 and gain > 0.0:
        k = max(k, int(math.ceil(dt * gain / 0.25)))
    k = min(k, MAX_SUBSTEPS)
    h = dt / k
    decay = math.exp(-h / tau) if tau > 0.0 else 0.0
    carry = tau * (1.0 - decay) if tau > 0.0 else 0.0
    for i in range(n):
        lo = hard[i, H_MIN]
        hi = hard[i, H_MAX]
        vmax = hard[i, H_MAX_VEL]
        cp = cmd_pos[i]
        cv = cmd_vel[i]
        p = pos[i]
        v = vel[i]
        for _ in range(k):
            u = cv + gain * (cp - p) if mode == 0 else cv
            if not math.isfinite(u):
                u = 0.0
            if u > vmax:
                u = vmax
            elif u < -vmax:
                u = -vmax
            # exact first-order lag over the sub-step: v -> u with time constant tau
            p += u * h + (v - u) * carry
            v = u + (v - u) * decay
            if p >= hi:
                p = hi
                if v > 0.0:
                    v = 0.0
            elif p <= lo:
                p = lo
                if v < 0.0:
                    v = 0.0
        pos[i] = p
        vel[i] = v


class JointsModel:
    """n joints with hard stops, a speed limit, a velocity lag and noisy encoders.

    ``hard``: float64[n, H_LEN] (hard stops and the device's speed limit);
    ``start``: initial positions (default: midway between the stops).
    """

    def __init__(self, hard: np.ndarray, *, tau: float = 0.02, gain: float = 10.0,
                 noise_std: float = 0.0, seed: int = 0,
                 start: np.ndarray | None = None) -> None:
        self.hard = np.ascontiguousarray(hard, dtype=np.float64)
        if self.hard.ndim != 2 or self.hard.shape[1] != H_LEN:
            raise ValueError(f"hard must have shape (n, {H_LEN}), got {self.hard.shape}")
        n = self.hard.shape[0]
        self.tau = float(tau)
        self.gain = float(gain)
        self.noise_std = float(noise_std)
        self._start = (0.5 * (self.hard[:, H_MIN] + self.hard[:, H_MAX]) if start is None
                       else np.asarray(start, dtype=np.float64).copy())
        self.pos = np.zeros(n)  #: true positions
        self.vel = np.zeros(n)  #: true velocities
        self._noise = np.zeros(n)
        self.reset(seed)

    @property
    def n(self) -> int:
        """Number of joints."""
        return self.pos.shape[0]

    def reset(self, seed: int = 0) -> None:
        """Back to the start positions at rest; re-seed the encoder noise."""
        self.pos[:] = np.clip(self._start, self.hard[:, H_MIN], self.hard[:, H_MAX])
        self.vel[:] = 0.0
        self._rng = np.random.Generator(np.random.PCG64(int(seed)))

    def step(self, cmd_pos: np.ndarray, cmd_vel: np.ndarray, mode: int, dt: float) -> None:
        """Advance by ``dt`` under a command (float64[n] C-contiguous arrays)."""
        step_joints(self.pos, self.vel, cmd_pos, cmd_vel, int(mode), self.hard, float(dt),
                    self.tau, self.gain)

    def measure(self, out_pos: np.ndarray, out_vel: np.ndarray) -> None:
        """What the encoders read: positions with noise, velocities as they are."""
        out_vel[:] = self.vel
        if self.noise_std > 0.0:
            self._rng.standard_normal(out=self._noise)
            np.multiply(self._noise, self.noise_std, out=out_pos)
            out_pos += self.pos
        else:
            out_pos[:] = self.pos
