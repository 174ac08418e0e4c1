"""The ``[bus]`` keys for tcp: which topics go over the network, where, and with which keys.

``bus.endpoints`` gives one topic an address; ``bus.tcp_base = "tcp://ADDRESS:PORT"``
puts the loop's control endpoint at PORT and every topic the config names
(:func:`config_topics`) at PORT+1, PORT+2, ... in sorted order, so every process
and machine that reads the same config agrees on the ports.  ``bus.control_endpoint``
places the control endpoint on its own.

Any tcp endpoint needs CURVE keys (``bus.keys``, made by ``robo-orch keys
generate``) unless ``bus.insecure = true``: :func:`check_network` refuses the
config otherwise, and checks the key files (secrets readable by their owner
alone).  Every process that makes the bus from a config passes
:func:`bus_options` to ``make_bus("zmq", ...)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robo_orch.errors import BusError, ConfigError

if TYPE_CHECKING:
    from robo_orch.bus.keys import CurveKeys

_TCP = re.compile(r"^tcp://(\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+):(\d{1,5})$")


def config_topics(config) -> list[str]:
    """Every topic the config names, sorted: inputs, the loop's outputs, the simulator's
    ground truth, the command spaces' command and state topics, and what each configured
    driver publishes or reports."""
    topics = {inp.topic for inp in config.inputs.values()}
    topics |= {config.topics.command, config.topics.estop, config.topics.truth}
    for space in config.commands.values():
        topics |= {space.topic, space.state_topic}
    for driver in config.drivers.values():
        topics |= set(driver.cls.output_topics(driver.params))
        status = driver.cls.estop_status_topic(driver.params)
        if status:
            topics.add(status)
    return sorted(topics)


def _tcp_port(source: str, key: str, address: str) -> tuple[str, int]:
    match = _TCP.match(address)
    if match is None:
        raise ConfigError(source, key, f"expected 'tcp://ADDRESS:PORT' with a fixed port, got "
                          f"{address!r} (other processes connect to this address)")
    port = int(match.group(2))
    if not 0 < port < 65536:
        raise ConfigError(source, key, f"port {port} is out of range (1-65535)")
    return match.group(1), port


def tcp_endpoints(config) -> dict[str, str]:
    """topic -> configured address (``bus.tcp_base`` assignments, then ``bus.endpoints``)."""
    bus, source = config.bus, config.source
    out: dict[str, str] = {}
    if bus.tcp_base:
        host, port = _tcp_port(source, "bus.tcp_base", bus.tcp_base)
        topics = config_topics(config)
        if port + len(topics) > 65535:
            raise ConfigError(source, "bus.tcp_base", f"port {port} + {len(topics)} topics "
                              "runs past 65535: choose a lower port")
        out = {t: f"tcp://{host}:{port + 1 + i}" for i, t in enumerate(topics)}
    for topic, address in bus.endpoints.items():
        from robo_orch.bus.base import _check_topic  # local: keeps config light

        key = f"bus.endpoints.{topic}"
        try:
            _check_topic(topic)
        except BusError as err:
            raise ConfigError(source, key, str(err)) from None
        if address.startswith("tcp://"):
            _tcp_port(source, key, address)
        elif not address.startswith("ipc://"):
            raise ConfigError(source, key, f"expected a 'tcp://' or 'ipc://' address, got "
                              f"{address!r}")
        out[topic] = address
    return out


def control_address(config) -> str | None:
    """The tcp address of the loop's control endpoint for remote tools, or None."""
    bus = config.bus
    if bus.control_endpoint:
        _tcp_port(config.source, "bus.control_endpoint", bus.control_endpoint)
        return bus.control_endpoint
    if bus.tcp_base:
        host, port = _tcp_port(config.source, "bus.tcp_base", bus.tcp_base)
        return f"tcp://{host}:{port}"
    return None


def uses_tcp(config) -> bool:
    """Whether any endpoint of the config is ``tcp://``."""
    return control_address(config) is not None or any(
        a.startswith("tcp://") for a in tcp_endpoints(config).values())


def keys_dir(config) -> str:
    """``bus.keys`` as an absolute path (a relative one is relative to the config file)."""
    path = Path(config.bus.keys).expanduser()
    if not path.is_absolute():
        path = Path(config.source).parent / path
    return str(path)


def load_curve(config) -> CurveKeys | None:
    """The process's CURVE keys from ``bus.keys`` (None when unset); ConfigError if bad."""
    if not config.bus.keys:
        return None
    from robo_orch.bus.keys import KeyFileError, load_keys  # local: keeps config light

    try:
        return load_keys(keys_dir(config), config.bus.client_key or None)
    except KeyFileError as err:
        raise ConfigError(config.source, "bus.keys", str(err)) from None


def check_network(config) -> None:
    """Refuse bad addresses, a port given twice, and tcp without keys (unless insecure)."""
    endpoints = tcp_endpoints(config)
    control = control_address(config)
    seen: dict[str, str] = {} if control is None else {control: "the control endpoint"}
    for topic, address in endpoints.items():
        if address in seen:
            raise ConfigError(config.source, f"bus.endpoints.{topic}", f"{address} is "
                              f"{seen[address]}'s already: one address, one topic")
        seen[address] = f"topic {topic!r}"
    tcp = [a for a in seen if a.startswith("tcp://")]
    if tcp and not config.bus.keys and not config.bus.insecure:
        from robo_orch.bus.keys import NO_KEYS_HINT

        raise ConfigError(config.source, "bus.keys", f"{len(tcp)} tcp endpoint(s) (e.g. "
                          f"{tcp[0]}) without CURVE keys: {NO_KEYS_HINT}")
    if config.bus.keys:
        load_curve(config)


def insecure_warning(config) -> str | None:
    """The line to print at every start of a config that allows tcp without keys."""
    if not config.bus.insecure or config.bus.keys or not uses_tcp(config):
        return None
    return (f"robo-orch: warning: bus.insecure = true in {config.source}: tcp endpoints carry "
            "commands and sensor data without authentication or encryption; anyone who can "
            "reach them can read and send them")


def bus_options(config) -> dict[str, Any]:
    """Keyword arguments of ``make_bus("zmq", ...)`` for this config: ``endpoints``,
    ``curve`` and ``insecure``."""
    curve = load_curve(config)
    return {"endpoints": tcp_endpoints(config), "curve": curve,
            "insecure": curve is None and config.bus.insecure}


def network_lines(config) -> list[str]:
    """``robo-orch check``'s lines about tcp: addresses and keys (none when ipc only)."""
    endpoints = {t: a for t, a in tcp_endpoints(config).items() if a.startswith("tcp://")}
    control = control_address(config)
    if not endpoints and control is None:
        return []
    curve = load_curve(config)
    how = (f"CURVE ({curve.describe()}, {len(curve.admitted)} admitted client keys)"
           if curve is not None else "INSECURE (no authentication, no encryption)")
    lines = [f"network   tcp with {how}"]
    if control is not None:
        lines.append(f"  control  {control}")
    lines += [f"  {topic:<14} {address}" for topic, address in endpoints.items()]
    return lines
