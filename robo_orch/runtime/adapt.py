"""The inputs with an input adapter (``[inputs.NAME] adapter = "KIND"``), in the sense phase.

:class:`AdapterInputs` owns, per such input, the adapter's preallocated message
arrays (:class:`~robo_orch.adapter.MessageBuffers`), its index array, packed
parameters and state; :meth:`AdapterInputs.run` takes each input's messages, oldest
first, copies each in, checks it (finite values, stamps:
:meth:`~robo_orch.runtime.input_checks.InputChecks.adapted`) and calls the kernel,
whose status counts the message as accepted (it keeps the input fresh) or rejected.
Inputs whose adapter hands the estimator a measurement run earlier, with the
estimator (:mod:`robo_orch.runtime.measured`).
"""

from __future__ import annotations

from collections.abc import Callable

from robo_orch.adapter import MessageBuffers, reject_reason
from robo_orch.config import Config
from robo_orch.core.direct import direct, require_contiguous
from robo_orch.messages import message_type
from robo_orch.runtime.input_checks import InputChecks


class AdapterInputs:
    """The config's adapter inputs, run every tick after the estimate and the scan."""

    def __init__(self, config: Config) -> None:
        #: (name, buffers, kernel, idx, params, state, (finite_var, finite_fixed),
        #: rejects), in config order
        self.inputs = []
        layout = config.layout
        for spec in config.adapters:
            cls = spec.cls
            if cls.fuses:  # an estimator input (robo_orch.runtime.measured)
                continue
            idx, params = layout.idx[spec.name], cls.pack_params(spec.params)
            state = cls.new_state(spec.params)
            require_contiguous(idx=(idx, 1), params=(params, 1), state=(state, 1))
            # past the dispatcher: its arrays are these, the buffers' and the world's own
            self.inputs.append((spec.input, MessageBuffers(message_type(cls.message),
                                                           cls.max_rows),
                                direct(cls.kernel), idx, params, state,
                                (bool(cls.finite_var), bool(cls.finite_fixed)),
                                tuple(cls.rejects)))

    def run(self, world: tuple, drain: Callable[[str], list], checks: InputChecks,
            accepted: Callable[[int], None]) -> None:
        """Each input's messages (``drain(name)``): copied, checked, adapted;
        ``accepted(stamp_ns)`` for each message the kernel accepts."""
        for name, buf, kernel, idx, params, state, finite, rejects in self.inputs:
            for msg in drain(name):
                count = buf.load(msg.fixed, msg.var)
                if not checks.adapted(name, buf.finite(count, *finite), msg):
                    continue
                status = kernel(world, idx, buf.fixed, buf.var, count, params, state)
                if status > 0.0:
                    checks.accept(name, msg)
                    accepted(msg.header.stamp_ns)
                elif status < 0.0:
                    checks.reject(name, reject_reason(rejects, status))

    def rows_dropped(self) -> dict[str, int]:
        """Per input whose type has a variable part: elements beyond its arrays, dropped."""
        return {name: buf.rows_dropped for name, buf, *_ in self.inputs if buf.columns}
