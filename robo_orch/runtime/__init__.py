"""The running loop: the fixed-rate scheduler and the sense-plan-act tick it drives.

:mod:`~robo_orch.runtime.loop` (deadlines, overruns, GC in the slack),
:mod:`~robo_orch.runtime.controller` (one robot's tick: sense, plan, act, e-stop),
:mod:`~robo_orch.runtime.sense` with :mod:`~robo_orch.runtime.input_checks` and
:mod:`~robo_orch.runtime.estimate_health` (inputs into the world arrays, the EKF),
:mod:`~robo_orch.runtime.planner` (the compiled planning core's Python side),
:mod:`~robo_orch.runtime.stats`, :mod:`~robo_orch.runtime.trace`,
:mod:`~robo_orch.runtime.progress` (timing, the per-tick record, the progress line) and
:mod:`~robo_orch.runtime.signals` (SIGINT/SIGTERM); real-time scheduling of the
process is the leaf module :mod:`robo_orch.rt` (the bus uses it too).  It never imports the command
line, the tools, the benchmarks, or ``robo_orch.sim``/``drivers``/``behaviors``.
"""
