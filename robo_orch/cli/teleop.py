"""``robo-orch teleop``: drive the robot from the keyboard during bring-up.

Publishes velocity commands at 20 Hz on the command topic (the motor driver
listens there) and e-stop requests on the e-stop topic, so the control loop must
not be running: it is the only publisher of both while it runs (teleop refuses
to start then).  Keys: w/s faster/slower, a/d turn left/right, x stop,
space e-stop (latched), r release the e-stop, q quit.  On quit, and on any
error, a zero command goes out before the program ends; the motor driver's
deadman stops the robot anyway if teleop dies.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty

from robo_orch.errors import UsageError

RATE_HZ = 20.0
HELP = "w/s speed  a/d turn  x stop  space E-STOP  r release  q quit"


def teleop(run_dir: str, topics, *, max_speed: float, max_yaw_rate: float,
           keys=None, out=sys.stderr) -> int:
    """Run the keyboard loop; ``keys`` (an fd to read) defaults to the terminal."""
    from robo_orch.bus import make_bus
    from robo_orch.clock import make_clock
    from robo_orch.messages import message_type, new_fixed
    from robo_orch.rundir import socket_in_use

    for topic in (topics.command, topics.estop):
        if socket_in_use(os.path.join(run_dir, topic.replace("/", ".") + ".sock")):
            raise UsageError(f"{topic} already has a publisher (the control loop?): stop it "
                             "before driving by hand")
    fd = sys.stdin.fileno() if keys is None else keys
    is_tty = os.isatty(fd)
    saved = termios.tcgetattr(fd) if is_tty else None
    # creates or checks run_dir
    bus = make_bus("zmq", make_clock("wall"), publisher_id=0x7E, run_dir=run_dir)
    try:
        cmd_pub = bus.publisher(topics.command, "velocity_command")
        estop_pub = bus.publisher(topics.estop, "estop")
    except BaseException:
        bus.close()
        raise
    cmd = new_fixed(message_type("velocity_command"))
    stop_msg = new_fixed(message_type("estop"))
    v = w = 0.0
    v_step, w_step = max_speed / 5, max_yaw_rate / 5
    try:
        if is_tty:
            tty.setcbreak(fd)
        print(HELP, file=out, flush=True)
        next_send = time.monotonic()
        running = True
        while running:
            timeout = max(0.0, next_send - time.monotonic())
            ready, _, _ = select.select([fd], [], [], timeout)
            if ready:
                data = os.read(fd, 16)
                if not data:  # end of input: stop
                    running = False
                for key in data.decode(errors="ignore").lower():
                    if key == "w":
                        v = min(v + v_step, max_speed)
                    elif key == "s":
                        v = max(v - v_step, -max_speed)
                    elif key == "a":
                        w = min(w + w_step, max_yaw_rate)
                    elif key == "d":
                        w = max(w - w_step, -max_yaw_rate)
                    elif key == "x":
                        v = w = 0.0
                    elif key in " r":
                        engage = key == " "
                        stop_msg["engage"] = 1 if engage else 0
                        estop_pub.publish(stop_msg)
                        v = w = 0.0
                        print("\r\nE-STOP ENGAGED" if engage else "\r\ne-stop released",
                              file=out, flush=True)
                    elif key == "q":
                        running = False
            if time.monotonic() >= next_send:
                cmd["v"], cmd["w"] = v, w
                cmd_pub.publish(cmd)
                print(f"\rv {v:+.2f} m/s  w {w:+.2f} rad/s   ", end="", file=out, flush=True)
                next_send += 1.0 / RATE_HZ
    finally:
        cmd["v"] = cmd["w"] = 0.0
        for _ in range(3):
            cmd_pub.publish(cmd)
            time.sleep(0.02)
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        print("", file=out)
        bus.close()
    return 0
