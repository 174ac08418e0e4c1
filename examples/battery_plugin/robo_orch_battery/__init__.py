"""Example robo_orch plugin: a battery monitor speaking a small line protocol.

* :mod:`.messages`: the ``battery_state`` message type (type id 1024, the first id
  robo_orch leaves to installed packages);
* :mod:`.protocol`: the device's lines, ``$BAT,<volts>,<amps>,<charge>*<XOR>\\r\\n``,
  an encoder and an incremental parser that resyncs after garbage;
* :mod:`.driver`: the driver publishing ``battery_state`` messages;
* :mod:`.emulator`: the device on a pseudo-terminal (``python -m robo_orch_battery.emulator``);
* :mod:`.look_at_goal`: a behavior for a ``joints`` command space that keeps a camera
  on a pan-tilt head pointed at the goal (``robot_pan_tilt.toml``);
* :mod:`.adapter`: the input adapter ``battery_charge`` (``battery_state`` -> the user
  scalars ``battery_charge`` and ``battery_known``);
* :mod:`.behavior`: the behavior ``return_home`` (low charge: back to the start);
* :mod:`.simulated`: the battery as a simulated device publishing on a simulator's bus.
"""
