"""The plugin checkers (:mod:`robo_orch.testing`) pass on every built-in parser and driver,
and name the failing check on parsers and drivers broken on purpose."""

from __future__ import annotations

import dataclasses
import functools
import textwrap

import pytest

from robo_orch import schema
from robo_orch.bench import fuzz
from robo_orch.drivers import motor_bridge_protocol as bp
from robo_orch.drivers import nmea_encode as ne
from robo_orch.drivers import nmea_protocol as nm
from robo_orch.drivers import rplidar_protocol as rp
from robo_orch.drivers import witmotion_protocol as wp
from robo_orch.drivers.nmea import NmeaGpsDriver
from robo_orch.errors import RoboOrchError
from robo_orch.testing import CheckFailed, check_driver, check_parser

# --- parsers ----------------------------------------------------------------------------


def _nmea_encode(m: nm.Frame) -> bytes:
    if type(m) is nm.Gga:
        return ne.encode_gga(m.talker, m.time_s, m.lat, m.lon, m.quality, m.satellites, m.hdop,
                             m.altitude, m.geoid_sep)
    if type(m) is nm.Rmc:
        return ne.encode_rmc(m.talker, m.time_s, m.valid, m.lat, m.lon, m.speed_knots,
                             m.course_deg, m.date, m.mode)
    return ne.encode_vtg(m.talker, m.course_true_deg, m.speed_knots, m.mode)


#: per protocol: check_parser's options and the encoder of its messages (None: none that
#: takes a decoded message).  RPLIDAR holds its last nodes until the next confirm them,
#: and after damage loses those and the run it needs to lock again; a COBS frame ends
#: with its delimiter, so garbage joins the next frame and takes it down.
OPTIONS = {
    "rplidar": ({"hold": rp.HOLD_NODES, "resync_loss": 2 * rp.HOLD_NODES,
                 "relock": rp.RELOCK_NODES}, None),
    "nmea": ({}, _nmea_encode),
    "witmotion": ({"resync_loss": 1}, wp.encode_frame),  # unconfirmed: the packet before
    "motor_bridge": ({"resync_loss": 1}, bp.encode_message),
}


@functools.cache
def _frames(name: str) -> tuple[fuzz.Protocol, bytes, list[bytes]]:
    proto = fuzz.PROTOCOLS[name]()
    data = proto.stream(0)
    return proto, data[:proto.head], [data[s:e] for s, e in proto.spans(data)[:60]]


@pytest.mark.parametrize("name", tuple(fuzz.PROTOCOLS))
def test_check_parser_passes_on_every_builtin_device_parser(name):
    proto, head, frames = _frames(name)
    options, encoder = OPTIONS[name]
    messages = proto.parser().feed(b"".join(frames)) if encoder else None
    report = check_parser(proto.parser, frames, messages=messages, encoder=encoder,
                          keys=proto.keys, head=head, **options)
    assert report.ok and len(report.results) == (8 if encoder else 7)
    assert ("round_trip" in report.results) == (encoder is not None)


@pytest.mark.slow  # (about 4 s alone, 8 s on a busy machine)
@pytest.mark.parametrize("name", tuple(fuzz.PROTOCOLS))
def test_check_parser_passes_on_every_builtin_device_parser_whatever_the_seed(name):
    """The options above are the protocols' real margins, not one seed's luck."""
    proto, head, frames = _frames(name)
    options, encoder = OPTIONS[name]
    messages = proto.parser().feed(b"".join(frames)) if encoder else None
    for seed in range(1, 31):
        check_parser(proto.parser, frames, messages=messages, encoder=encoder, keys=proto.keys,
                     head=head, seed=seed, fuzz_rounds=20, **options)


def _host_messages() -> list:
    out: list = []
    for i in range(40):
        out += [bp.SetWheelVelocity(i & 0xFF, 10 * i - 200, 300 - 7 * i), bp.Heartbeat(i & 0xFF)]
    return [*out, bp.Estop(1, 1), bp.Config(2, 500, 20, 500, 10500), bp.ResetFaults(3, 0xFF),
            bp.RequestHello(4)]


def test_check_parser_on_the_device_side_parsers_of_host_commands():
    """The motor bridge firmware's (and emulator's) parser of host frames passes.  WitMotion's
    register writes have no checksum, only ``FF AA`` to frame them: a write cut short runs
    into the next one and reads as a write never sent, which the checker names (the IMU
    itself has the same weakness; RPLIDAR's requests, two bytes without a check, would
    fail the same way)."""
    check_parser(lambda: bp.BridgeParser("host"), messages=_host_messages(),
                 encoder=bp.encode_message, resync_loss=1)
    commands = [wp.Command(reg, (37 * reg + 11 * k) & 0xFFFF) for k in range(6)
                for reg in (0x00, 0x03, 0x04, 0x69)]
    report = check_parser(wp.CommandParser, messages=commands, raise_on_failure=False,
                          encoder=lambda c: wp.encode_command(c.register, c.value))
    assert set(report.failed) == {"resync_truncated"}, report
    assert "never sent decoded, first 'Command(register=255" in report.failed["resync_truncated"]


class RaisesOnGarbage(nm.NmeaParser):
    """Trusts its input: a byte outside printable ASCII is an error."""

    def _parse(self, buf, out):
        if any(b > 0x7E or (b < 0x20 and b not in b"\r\n") for b in buf):
            raise ValueError("not NMEA")
        return super()._parse(buf, out)


class LosesFrameAfterGarbage(nm.NmeaParser):
    """Forgets the sentence after bytes it had to skip."""

    lose = False

    def seek(self, buf, pos, marker):
        start = super().seek(buf, pos, marker)
        self.lose = self.lose or start != pos
        return start

    def _sentence(self, line, out):
        if self.lose:
            self.lose = False
            return
        super()._sentence(line, out)


class ForgetsItsCounters(nm.NmeaParser):
    """Resets its skipped-bytes counter on every read."""

    def _parse(self, buf, out):
        self.skipped_bytes = 0
        return super()._parse(buf, out)


@pytest.mark.parametrize(("parser", "failing", "passing"), [
    (RaisesOnGarbage, {"random_bytes", "resync_prefix", "resync_between"}, {"valid_stream"}),
    (LosesFrameAfterGarbage, {"resync_prefix", "resync_between"},
     {"valid_stream", "chunking", "random_bytes"}),
    (ForgetsItsCounters, {"counters_grow"}, {"valid_stream", "random_bytes"}),
])
def test_check_parser_names_the_failing_checks(parser, failing, passing):
    _, _, frames = _frames("nmea")
    with pytest.raises(CheckFailed) as err:
        check_parser(parser, frames)
    assert isinstance(err.value, RoboOrchError)
    report = err.value.report
    assert failing <= set(report.failed) and passing <= set(report.passed), report
    for check in report.failed:  # one line each, by name
        assert f"\n  {check}: " in str(err.value)
    assert str(err.value).startswith(f"check_parser({parser.__name__}): ")


def test_check_parser_round_trip_catches_a_lossy_encoder():
    _, _, frames = _frames("witmotion")
    messages = wp.WitmotionParser().feed(b"".join(frames))

    def encoder(m):  # drops the temperature of accelerations
        return wp.encode_frame(m._replace(temperature=0.0) if type(m) is wp.Acceleration else m)

    report = check_parser(wp.WitmotionParser, messages=messages, encoder=encoder,
                          resync_loss=1, raise_on_failure=False)
    assert set(report.failed) == {"round_trip"}, report
    assert report.failed["round_trip"].startswith("message 0: Acceleration(")


def test_check_parser_refuses_too_few_frames():
    with pytest.raises(ValueError, match="at least 5 valid frames"):
        check_parser(wp.WitmotionParser, _frames("witmotion")[2][:3], resync_loss=1)


# --- drivers ----------------------------------------------------------------------------


def _emulators() -> dict:
    from robo_orch.sim.emulators.motor_bridge import MotorBridgeEmulator
    from robo_orch.sim.emulators.nmea import NmeaGpsEmulator
    from robo_orch.sim.emulators.rplidar import RplidarEmulator, demo_scan
    from robo_orch.sim.emulators.witmotion import WitmotionImuEmulator

    gps, imu = NmeaGpsEmulator(48.1, 11.5, rate_hz=10.0), WitmotionImuEmulator(rate_hz=50.0)
    lidar, motors = RplidarEmulator(points_per_rev=360), MotorBridgeEmulator()
    scan = demo_scan(360)
    return {
        "nmea_gps": (gps, lambda t: gps.update(t, 3.0, 4.0, 0.5, 0.0),
                     {"origin_lat": 48.1, "origin_lon": 11.5}),
        "witmotion_imu": (imu, lambda t: imu.update(t, (0.0, 0.0, 0.1), (0.0, 0.0, 9.8), 0.0,
                                                    0.0, 0.3), {}),
        "rplidar": (lidar, lambda t: lidar.update(t, *scan), {}),
        "motor_bridge": (motors, lambda t: motors.update(t, 0.0, 0.0), {}),
    }


@pytest.mark.parametrize("kind", ["motor_bridge", "nmea_gps", "rplidar", "witmotion_imu"])
def test_check_driver_runs_every_builtin_driver_against_its_emulator(kind, tmp_path):
    emulator, feed, settings = _emulators()[kind]
    report = check_driver(kind, settings=settings, emulator=emulator, feed=feed, messages=5,
                          run_dir=str(tmp_path))
    assert report.passed == ["registered", "params", "messages", "no_numba", "publishes",
                             "stops"]


def test_check_driver_without_emulator_checks_the_declarations():
    report = check_driver(NmeaGpsDriver)  # the class itself, registered as nmea_gps
    assert report.ok and set(report.skipped) == {"publishes", "stops"}
    assert report.subject == "check_driver(nmea_gps)"


class UnregisteredGps(NmeaGpsDriver):
    kind = "my_gps"


def test_check_driver_refuses_an_unregistered_class():
    report = check_driver(UnregisteredGps, raise_on_failure=False)
    assert set(report.failed) == {"registered"}
    assert "'my_gps' is not registered" in report.failed["registered"]
    assert "robo_orch.drivers" in report.failed["registered"]


BROKEN = textwrap.dedent('''
    import dataclasses
    import numba  # a driver process must not compile anything
    from robo_orch import schema
    from robo_orch.driver import Driver

    @dataclasses.dataclass(frozen=True)
    class Params:
        topic: str = schema.option("sensor/thing")
        rate_hz: float = schema.option(0.0, gt=0)  # a default its own bound refuses

    class Thing(Driver):
        kind = "thing"
        Params = Params

        @classmethod
        def output_topics(cls, params):
            return {params.topic: "gnss_fixx"}

        def handle_bytes(self, data, stamp_ns):
            pass
''')


def test_check_driver_names_every_broken_declaration(tmp_path):
    path = tmp_path / "thing.py"
    path.write_text(BROKEN)
    with pytest.raises(CheckFailed) as err:
        check_driver(str(path))
    report = err.value.report
    assert set(report.failed) == {"registered", "params", "messages", "no_numba"}, report
    assert "kind 'thing' is not registered" in report.failed["registered"]
    assert "drivers.checked.rate_hz" in report.failed["params"]
    assert "did you mean 'gnss_fix'" in report.failed["messages"]
    assert "imports numba" in report.failed["no_numba"]
    text = str(err.value)
    assert text.startswith(f"check_driver({path}): 4 of 4 checks failed:")


CRASHY = textwrap.dedent('''
    import dataclasses
    from robo_orch import schema
    from robo_orch.driver import Driver

    @dataclasses.dataclass(frozen=True)
    class Params:
        topic: str = schema.option("sensor/gps")

    class Crashy(Driver):
        kind = "crashy"
        Params = Params

        @classmethod
        def output_topics(cls, params):
            return {params.topic: "position_fix"}

        def handle_bytes(self, data, stamp_ns):
            raise ZeroDivisionError("the first byte is too much")
''')


def test_check_driver_reports_a_driver_process_that_dies(tmp_path):
    path = tmp_path / "crashy.py"
    path.write_text(CRASHY)
    emulator, feed, _ = _emulators()["nmea_gps"]
    report = check_driver(str(path), emulator=emulator, feed=feed, run_dir=str(tmp_path),
                          raise_on_failure=False)
    assert set(report.failed) == {"registered", "publishes", "stops"}, report
    assert report.failed["publishes"].startswith("the driver exited with status 3: ")
    assert "ZeroDivisionError: the first byte is too much" in report.failed["publishes"]


def test_check_driver_reports_a_driver_that_does_not_stop(tmp_path):
    path = tmp_path / "stuck.py"
    path.write_text(textwrap.dedent('''
        import time
        from robo_orch.drivers.nmea import NmeaGpsDriver

        class Stuck(NmeaGpsDriver):
            def stop(self, port):
                time.sleep(60)  # waits for a device that never answers
    '''))
    emulator, feed, settings = _emulators()["nmea_gps"]
    report = check_driver(f"{path}:Stuck", settings=settings, emulator=emulator, feed=feed,
                          run_dir=str(tmp_path), stop_timeout_s=2.0, raise_on_failure=False)
    assert set(report.failed) == {"registered", "stops"}, report
    assert report.failed["stops"] == "still running 2 s after SIGTERM (killed)"


@dataclasses.dataclass(frozen=True)
class FussyParams:
    rate_hz: float = schema.option(10.0, gt=0)

    def validate(self, source, prefix):
        if self.rate_hz > 1000:
            raise ValueError("too fast")  # not a ConfigError: no file, no key


class FussyGps(NmeaGpsDriver):
    Params = FussyParams

    @classmethod
    def output_topics(cls, params):
        return {"sensor/gps": "position_fix"}


def test_check_driver_finds_a_validation_that_fails_without_naming_the_key():
    report = check_driver(FussyGps, raise_on_failure=False)
    assert set(report.failed) == {"registered", "params"}, report
    assert "registered to robo_orch.drivers.nmea.NmeaGpsDriver" in report.failed["registered"]
    assert report.failed["params"].startswith(
        "rate_hz = 1000000000000.0: raised ValueError instead of a RoboOrchError naming "
        "drivers.checked.rate_hz"), report


def test_the_ready_handshake_is_the_supervisors():
    from robo_orch.hosting.driver_host import READY_FD_ENV
    from robo_orch.testing.check_driver import READY_FD_ENV as used

    assert used == READY_FD_ENV


def test_the_readme_example_runs_and_passes(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Checking your plugin", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 (our own README)
    out = capsys.readouterr().out
    assert "check_parser(WitmotionParser): 8 of 8 checks passed" in out
    assert "check_driver(witmotion_imu): 6 of 6 checks passed" in out
