"""The input adapter seam: how one message type enters the world, every tick.

An input adapter maps the messages of one input (``[inputs.NAME] adapter = "KIND"``)
to world names, through one compiled kernel with one permanent signature::

    adapt(world, idx, fixed, var, count, params, state) -> status

compiled eagerly with :func:`adapter_signature`, and called once per message the
input delivers (oldest first), in the sense phase, after the estimate and the scan
of the tick were written (so ``x``, ``y``, ``yaw`` are this tick's); an adapter that
fuses a measurement (below) runs before, with the estimator's other inputs.

* ``world``  the tuple ``(state, scan, field, path, user)`` (:mod:`robo_orch.core.world`)
* ``idx``    int64 array: the offsets of the adapter's user names, in the order of
  :func:`robo_orch.config.layout.index_names` (exactly as for a behavior)
* ``fixed``  float64 array: the message's fixed part, field by field in dtype order
  (a sub-array field, like the IMU's ``gyro[3]``, takes as many values)
* ``var``    float64 2-D array ``(fields, rows)``: the variable part, one contiguous row
  per field of its element (a scan's ``var[0]`` its angles, ``var[1]`` its ranges);
  the first ``count`` values of each are valid.  A type without a variable part
  gets a ``(0, 0)`` array and ``count`` 0
* ``params`` float64 array packed from the adapter's validated ``Params``
* ``state``  float64 array of ``state_size`` values kept between messages (zeroed at start)
* returns its status: :data:`ACCEPTED` (> 0: the message counts as accepted and keeps
  the input fresh), :data:`IGNORED` (0: neither), or :data:`OUT_OF_RANGE` (< 0: a
  reject, counted under ``out_of_range``).

**Why the signature is permanent.**  Every part of it has one numba type whatever
the message: the Python side copies the message's fields into two preallocated,
writable, C-contiguous float64 arrays (a decoded payload is a read-only structured
view, a different numba type for every message type: a kernel taking it would be
compiled anew for each type, and inside the loop).  So one signature serves every
adapter and every config; numba's cache keeps working, and a config compiles nothing
but the kernels of the plugins it names.  Adding an argument later would recompile
every plugin: what an adapter needs beyond it comes through ``params`` and ``state``.

**Declarations** are a behavior's (:mod:`robo_orch.behavior`): ``reads``, ``writes``,
``scalars``, ``arrays``, ``merge``.  The config's layout places them together with
the behaviors', so a behavior reading a user name an adapter writes has its provider.
``message`` names the message type it consumes (built-in or from an installed
package's ``robo_orch.messages`` entry point).

**Measurements.**  An adapter may also hand the estimator a measurement (its
``fuses``): its kernel leaves the measurement in ``state[0:3]`` and returns
:data:`ACCEPTED`; the sense phase checks it (:data:`MEASUREMENTS`: finite, within the
configured bounds) and fuses it into the EKF:

* ``"position"``: ``(x, y, std)``, a position of the robot's centre and its std,
  fused behind the position gate (the built-in ``gps_fix`` on the ``gps`` input; the
  sense phase writes the estimate to the world before each call, so ``yaw`` is current);
* ``"velocity"``: ``(v, w, vy)``, the base's forward speed, yaw rate and lateral speed,
  fused with ``estimator.odom_speed_std`` / ``odom_yaw_rate_std`` (``vy`` on a base that
  moves sideways); rejected (``out_of_range``) when a wheel would run faster than
  ``estimator.wheel_speed_factor * robot.max_wheel_speed`` (the built-in
  ``wheel_speeds`` and ``body_velocity`` on the ``odom`` input; wheel encoders of
  another message type are a user adapter on ``[inputs.odom]``);
* ``"yaw_rate"``: ``(yaw_rate, has_heading, heading)``, a gyro rate fused with
  ``estimator.imu_yaw_rate_std`` (above ``estimator.max_gyro_rate``: ``out_of_range``),
  and, when ``has_heading`` is 1, a heading fused as ``estimator.imu_yaw`` says (the
  built-in ``imu_gyro`` on the ``imu`` input).

Each built-in input fuses one kind (``odom`` velocity, ``imu`` yaw rate, ``gps``
position) and takes any adapter of that kind (``[inputs.odom] adapter = "KIND"``); an
input of another name may fuse any kind.

**Rejects.**  A negative status ``-k`` counts the message under ``rejects[k - 1]``
(default ``("out_of_range",)``; a status beyond the list counts as ``out_of_range``),
so an adapter can name its own reasons (``imu_gyro``: ``quaternion``).

**Checks before the kernel** (:mod:`robo_orch.runtime.input_checks`): every value of
the fixed part must be finite (``non_finite``; also the ``count`` valid rows of the
variable part unless ``finite_var`` is False), the stamp not ahead of its arrival
(``future_stamp``) nor older than the input's ``max_age_s`` (``too_old``); a
``required`` input with no accepted message within ``max_age_s`` stops the robot,
like any built-in input.  :func:`robo_orch.testing.check_adapter` checks an adapter
against this contract.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from robo_orch import schema
from robo_orch.config.inputs import MEASUREMENTS  # noqa: F401 (what ``fuses`` may name)
from robo_orch.messages import MessageType

#: status of a message the adapter took (it keeps its input fresh)
ACCEPTED = 1.0
#: status of a message the adapter left out on purpose (not counted)
IGNORED = 0.0
#: status of a message with a value outside what the adapter takes (counted as a reject)
OUT_OF_RANGE = -1.0



def reject_reason(rejects: tuple[str, ...], status: float) -> str:
    """The reason a negative kernel status counts under (``-k``: ``rejects[k - 1]``)."""
    k = int(-status)
    return rejects[k - 1] if 1 <= k <= len(rejects) else "out_of_range"


def adapter_signature() -> str:
    """The numba signature every adapter kernel is compiled with (permanent).

    ``adapt(world, idx, fixed, var, count, params, state) -> status``.
    """
    return ("float64(Tuple((float64[::1], float64[:, ::1], float64[:, ::1], float64[:, ::1],"
            " float64[::1])), int64[::1], float64[::1], float64[:, ::1], int64, float64[::1],"
            " float64[::1])")


class InputAdapter(schema.KernelPlugin, ABC):
    """Base class of every input adapter; subclasses set the class attributes below."""

    # Params, state_size and the layout declarations (reads, writes, scalars, arrays,
    # merge) are robo_orch.schema.KernelPlugin's, shared with the other kind of plugin

    #: registry name, as written in config (``adapter = "battery_charge"``)
    kind: ClassVar[str]
    #: the compiled kernel, ``adapt(world, idx, fixed, var, count, params, state)``
    kernel: ClassVar[Callable[..., float]]
    #: the message type it consumes (a registered name)
    message: ClassVar[str]
    #: most elements of the variable part handed to the kernel (0: the type's
    #: ``max_count``); elements beyond it are dropped and counted
    max_rows: ClassVar[int] = 0
    #: reject a message whose fixed-part values are not all finite (False: the kernel
    #: checks the values it uses, e.g. an IMU's unused accelerometer may be NaN)
    finite_fixed: ClassVar[bool] = True
    #: reject a message whose valid variable-part values are not all finite
    finite_var: ClassVar[bool] = True
    #: reasons of its negative statuses (``-k``: ``rejects[k - 1]``)
    rejects: ClassVar[tuple[str, ...]] = ("out_of_range",)
    #: the measurement it hands the estimator ('' none; a key of :data:`MEASUREMENTS`),
    #: left in ``state[0:3]`` when it accepts a message
    fuses: ClassVar[str] = ""


def fixed_length(mtype: MessageType) -> int:
    """How many float64 values a message's fixed part takes in ``fixed``."""
    return sum(int(np.prod(mtype.dtype[name].shape, dtype=np.int64))
               for name in mtype.dtype.names)


class MessageBuffers:
    """The preallocated ``fixed`` and ``var`` arrays of one adapter input, and the copy
    of each message into them (the Python side of the seam)."""

    def __init__(self, mtype: MessageType, max_rows: int = 0) -> None:
        # numba is imported here, not with the module: drivers load the config, which
        # names this module's constants, and a driver process never imports numba
        from robo_orch.core.direct import direct
        from robo_orch.core.finite import all_finite

        self._all_finite = direct(all_finite)  # on the buffers' own contiguous arrays only
        self.mtype = mtype
        self.fields = [(name, int(np.prod(mtype.dtype[name].shape, dtype=np.int64)))
                       for name in mtype.dtype.names]
        self.fixed = np.zeros(fixed_length(mtype), dtype=np.float64)
        dtype = mtype.dtype
        #: every field native float64 and packed: ``fixed`` seen as one record of the
        #: message's dtype, so a message is copied in by one record assignment (about
        #: 0.1 us; field by field costs about 0.25 us a field)
        self._record = (self.fixed.view(dtype)
                        if all(dtype[name].base == np.float64 for name in dtype.names)
                        and dtype.itemsize == 8 * len(self.fixed) else None)
        var_dtype = mtype.var_dtype
        if var_dtype is None:
            self.columns: tuple[str, ...] = ()
            rows = 0
        else:
            self.columns = tuple(var_dtype.names)
            rows = max_rows if max_rows > 0 else mtype.max_count
        self.var = np.zeros((len(self.columns), rows), dtype=np.float64)
        #: variable-part rows beyond ``var``'s, dropped
        self.rows_dropped = 0

    def load(self, fixed: np.ndarray, var: np.ndarray | None) -> int:
        """Copy one message's parts in; returns ``count``, the valid rows of ``var``."""
        buf = self.fixed
        record = self._record
        if record is not None:
            record[0] = fixed
        else:
            at = 0
            for name, n in self.fields:
                if n == 1:
                    buf[at] = fixed[name]
                else:
                    buf[at:at + n] = np.ravel(fixed[name])
                at += n
        if var is None or not self.columns:
            return 0
        count = min(len(var), self.var.shape[1])
        if len(var) > count:
            self.rows_dropped += len(var) - count
        for j, name in enumerate(self.columns):
            self.var[j, :count] = var[name][:count]
        return count

    def finite(self, count: int, with_var: bool, with_fixed: bool = True) -> bool:
        """True if the fixed values (unless ``with_fixed`` is False) and the ``count``
        valid var rows (unless ``with_var`` is False) are all finite."""
        return self._all_finite(self.fixed, self.var, count, with_fixed, with_var)
