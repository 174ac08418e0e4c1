"""The fault campaign's catalogue: every kind of fault, the reaction it must cause, and
the seeded draw of one run's faults.

Expected reactions (:data:`REACTIONS`), each checked per injection by
:mod:`robo_orch.missions.fault_inject`:

* ``controlled stop``: the safety layer brakes (``stale_stop``) no later than the
  input's ``max_age`` plus one tick after its last fresh message, the robot comes to a
  standstill, and drives on once fresh data returns;
* ``latched stop``: the e-stop zeroes the command on the tick it is engaged (within
  one tick), holds it until released, and the robot drives on after the release;
* ``actuator stop``: the actuator (the simulator's deadman) stops the wheels no later
  than ``safety.deadman_s`` plus one tick after the last command reached it, and the
  robot drives on once commands arrive again;
* ``no effect``: the bad messages are rejected and counted (input checks, bus
  counters), no stop is started, the mission goes on;
* ``command held``: the loop overruns (counted, its slots skipped) while the actuator
  holds the last command; no stop, no contact;
* ``kept safe``: a planner gone wrong cannot drive the robot into contact, and the
  mission goes on once it is healthy again.

Every kind also requires no contact with a static obstacle and, at the end, the
mission completed.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

CONTROLLED_STOP = "controlled stop"
LATCHED_STOP = "latched stop"
ACTUATOR_STOP = "actuator stop"
NO_EFFECT = "no effect"
COMMAND_HELD = "command held"
KEPT_SAFE = "kept safe"
#: reaction -> what it means (the README's table legend)
REACTIONS = {
    CONTROLLED_STOP: "stale_stop within max_age + 1 tick of the last fresh message, "
                     "standstill, motion again once data is fresh",
    LATCHED_STOP: "zero command within 1 tick, held until the release, motion again after it",
    ACTUATOR_STOP: "the actuator's deadman stops the wheels within deadman_s + 1 tick of "
                   "the last command it got, motion again once commands arrive",
    NO_EFFECT: "every bad message rejected and counted, no stop",
    COMMAND_HELD: "the overrun and its skipped slots counted, no stop",
    KEPT_SAFE: "no contact while the planner is wrong, motion toward the goal after it",
}
#: the kinds whose reaction is a stop (timed from the fault)
STOPS = (CONTROLLED_STOP, LATCHED_STOP, ACTUATOR_STOP)

SENSORS = ("odom", "imu", "scan")


@dataclass(frozen=True)
class Kind:
    """One kind of fault: where it strikes and the reaction it must cause."""

    name: str
    targets: tuple[str, ...]
    expected: str
    doc: str


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("silent", SENSORS, CONTROLLED_STOP,
         "the simulator stops publishing the input (a dead sensor or link)"),
    Kind("stale_burst", SENSORS, CONTROLLED_STOP,
         "every message of the input arrives late by more than its max_age, with its "
         "original stamp; those still held at the end arrive in one burst"),
    Kind("blind", ("scan",), CONTROLLED_STOP,
         "the lidar goes on publishing, but no ray has a return (a failed laser or a covered "
         "window: every range 0, the wire's 'no return')"),
    Kind("bad_value", (*SENSORS, "gps"), NO_EFFECT,
         "a second publisher sends NaN, infinite, absurd or future-stamped messages on the "
         "input, between the good ones (gps: fixes 50 m off, std inf or NaN)"),
    Kind("malformed", SENSORS, NO_EFFECT,
         "frames that do not decode: garbage, a short header, another layout, a short payload"),
    Kind("oversized", SENSORS, NO_EFFECT, "frames larger than the input's max_bytes"),
    Kind("drop", SENSORS, NO_EFFECT,
         "the bus loses a run of the input's messages shorter than its max_age"),
    Kind("drop_command", ("command",), ACTUATOR_STOP,
         "commands stop reaching the actuator for longer than its deadman"),
    Kind("overrun", ("loop",), COMMAND_HELD,
         "one tick takes k periods (simulated time advances, the last command held)"),
    Kind("estop", ("loop",), LATCHED_STOP, "the e-stop is engaged, then released"),
    Kind("planner", ("random", "at_obstacle"), KEPT_SAFE,
         "a behavior plugin above every planner proposes random commands (some NaN or "
         "infinite) or drives straight at the nearest obstacle"),
)}

#: bad_value variants per input
VARIANTS = {
    "odom": ("nan", "inf", "absurd", "future"),
    "imu": ("nan", "absurd", "quaternion", "future"),
    "scan": ("nan_limits", "inverted_limits", "future"),
    "gps": ("50m", "std_inf", "nan"),
}
MALFORMED = ("garbage", "short_header", "layout", "short_payload")


@dataclass(frozen=True)
class Fault:
    """One planned injection.  ``param`` is the kind's number: a delay (s), a count of
    messages or periods; ``gap_s`` the wait after the previous fault has settled."""

    kind: str
    target: str
    variant: str
    duration_s: float
    param: float
    gap_s: float

    @property
    def label(self) -> str:
        """``kind:target`` (``estop`` and ``overrun`` alone): the table's row."""
        return self.kind if self.target == "loop" or self.kind == "drop_command" else \
            f"{self.kind}:{self.target}"

    @property
    def expected(self) -> str:
        """The reaction this fault must cause."""
        return KINDS[self.kind].expected


def labels() -> list[str]:
    """Every (kind, target) label, in catalogue order: what a run draws from."""
    return [Fault(k.name, t, "", 0.0, 0.0, 0.0).label for k in KINDS.values() for t in k.targets]


def run_seed(campaign_seed: int, index: int, scenario: str) -> np.random.SeedSequence:
    """The seed sequence of run ``index`` of ``scenario`` (its stem) in a campaign."""
    return np.random.SeedSequence([int(campaign_seed), int(index),
                                   zlib.crc32(scenario.encode())])


def draw_plan(rng: np.random.Generator, config, n: int, only: tuple[str, ...] = ()
              ) -> list[Fault]:
    """``n`` faults for one run of ``config``, drawn from ``rng`` (among ``only`` labels
    if given).  Durations and counts respect the config's max ages, rates and deadman."""
    pool = [lab for lab in labels() if not only or lab in only or lab.split(":")[0] in only]
    dt = 1.0 / config.loop.rate_hz
    out = []
    for _ in range(n):
        label = pool[int(rng.integers(len(pool)))]
        kind, _, target = label.partition(":")
        target = target or KINDS[kind].targets[0]
        age = config.inputs[target].max_age_s if target in config.inputs else 0.5
        variant, param = "", 0.0
        duration = float(rng.uniform(0.3, 1.0))
        if kind in ("silent", "blind"):
            duration = age + float(rng.uniform(0.8, 2.0))
        elif kind == "stale_burst":
            duration = float(rng.uniform(1.2, 2.5))
            param = age + float(rng.uniform(0.1, 1.0))  # the delay
        elif kind == "bad_value":
            variant = VARIANTS[target][int(rng.integers(len(VARIANTS[target])))]
            if target == "gps":  # fewer than relocalise_after in a row: never relocalised
                most = max(1, (config.estimator.relocalise_after or 10) - 1)
                param = float(rng.integers(1, most + 1))
                duration = param * 0.2
        elif kind == "malformed":
            variant = MALFORMED[int(rng.integers(len(MALFORMED)))]
        elif kind == "drop":
            # the gap (dropped messages + 1 period) stays a period short of max_age
            period = 1.0 / _rate(config, target)
            most = max(1, int(math.floor(age / period + 1e-9)) - 2)
            param = float(rng.integers(1, most + 1))
            duration = param * period
        elif kind == "drop_command":
            duration = config.safety.deadman_s + float(rng.uniform(0.6, 1.5))
        elif kind == "overrun":
            deadman_ticks = int(config.safety.deadman_s / dt)
            param = float(rng.integers(2, max(3, min(21, deadman_ticks))))
            duration = param * dt
        elif kind == "estop":
            duration = float(rng.uniform(0.8, 2.0))
        elif kind == "planner":
            variant = target
            duration = float(rng.uniform(0.5, 3.0))
        out.append(Fault(kind, target, variant, round(duration, 3), param,
                         round(float(rng.uniform(0.2, 1.0)), 3)))
    return out


def _rate(config, role: str) -> float:
    sim = config.sim
    return {"odom": sim.odom_rate_hz, "imu": sim.imu_rate_hz, "scan": sim.lidar.rate_hz,
            }.get(role, config.loop.rate_hz)
