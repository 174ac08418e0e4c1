"""The recorder records the topics the config and the plugins declare, whatever their names."""

from __future__ import annotations

from collections import Counter

from robo_orch import registry
from robo_orch.config import load_config
from robo_orch.missions.session import run_mission
from robo_orch.record.reader import open_recording
from robo_orch.record.ticks import BEHAVIOR_TOPIC, TICK_TOPIC
from robo_orch.record.writer import Recorder, RecordOptions, topics_of

RENAMED = ("inputs.scan.topic=lidar/front", "drivers.lidar.topic=lidar/front",
           "inputs.odom.topic=base/odom", "drivers.motors.odom_topic=base/odom",
           "drivers.motors.status_topic=base/motors", "drivers.gps.fix_topic=gnss/raw",
           "topics.command=base/cmd", "drivers.motors.command_topic=base/cmd")


def test_the_topic_list_comes_from_the_config_and_the_drivers():
    config = load_config("robot", RENAMED)
    topics = topics_of(config)
    assert topics["lidar/front"] == "laser_scan"  # a renamed input
    assert topics["base/odom"] == "wheel_odometry"
    assert topics["base/cmd"] == "velocity_command"  # the configured command topic
    assert topics["cmd/estop"] == "estop" and topics["sim/truth"] == "pose2d"
    # what only the drivers publish: the raw GPS fix and the motor status
    assert topics["gnss/raw"] == "gnss_fix" and topics["base/motors"] == "motor_status"
    assert topics[TICK_TOPIC] == "loop_tick" and topics[BEHAVIOR_TOPIC] == "behavior_tick"
    for name in ("sensor/scan", "sensor/odom", "cmd/velocity", "sensor/motor",
                 "sensor/gps_fix", "sim/status"):
        assert name not in topics, name  # nothing hard-coded, no simulator on a robot
    # the realtime simulator process publishes its status too (lockstep publishes none)
    for kind, status in (("realtime", {"sim/status": "sim_status"}), ("lockstep", {})):
        backend = registry.load(registry.SIM_BACKENDS, kind)(config)
        try:
            assert backend.topics() == status
            assert topics_of(config, backend=backend) == {**topics, **status}
        finally:
            backend.stop()


def test_a_renamed_input_topic_is_recorded_under_its_name(tmp_path):
    path = tmp_path / "renamed.mcap"
    config = load_config(None, ("inputs.scan.topic=lidar/front", "topics.truth=sim/pose"))
    recorder = Recorder(RecordOptions(str(path)), seed=1)
    result = run_mission(config, backend="lockstep", seed=1, duration_s=1.0,
                         on_start=recorder.attach)
    rec = recorder.close()
    assert rec.stopped is None and all(n == 0 for n in rec.lost.values()), rec.lost
    recording = open_recording(path)
    counts = Counter(raw.topic for raw in recording.raw())
    ticks = result.controller.stats.ticks
    assert counts["lidar/front"] > 0 and "sensor/scan" not in counts
    assert counts["sim/pose"] == ticks
    assert counts["sensor/odom"] > 0 and counts["cmd/velocity"] == result.controller.cmd_pub.sent
    assert rec.raw["lidar/front"] == counts["lidar/front"]
    # the Foxglove scan and truth channels follow the renamed topics
    assert len(list(recording.foxglove("/scan"))) == counts["lidar/front"]
    assert len(list(recording.foxglove("/robot/pose_truth"))) > 0
