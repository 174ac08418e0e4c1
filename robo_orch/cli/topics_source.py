"""Where ``robo-orch topics`` finds its topics: local discovery, or a remote loop over CURVE.

Kept free of heavy imports at module level, like the rest of the command line.
"""

from __future__ import annotations

import argparse


def found(args: argparse.Namespace):
    """``(topics, CURVE keys, loop input rejects)`` of a remote loop (``--connect``: its
    control endpoint lists them), or ``(None, keys given, None)`` for local discovery."""
    from robo_orch.cli.control import connect, remote_keys

    if not getattr(args, "connect", None):
        return None, (remote_keys(args) if getattr(args, "keys", None) else None), None
    from robo_orch.introspect.probe import topics_from_endpoints

    with connect(args) as client:
        found = topics_from_endpoints(client.request("endpoints"), args.connect)
        rejects = {args.connect: _input_rejects(client.request("status"))}
        curve = remote_keys(args)
    if not found:
        from robo_orch.errors import UsageError

        raise UsageError(f"the loop at {args.connect} publishes no topic over tcp (the others "
                         "are local to the robot: bus.tcp_base or bus.endpoints)")
    return found, curve, rejects


def loop_input_rejects(run_dir: str) -> dict[str, dict[str, int]]:
    """Topic -> rejects by reason of the loop's input checks, asked of the loop's control
    endpoint in ``run_dir``; empty when no loop serves one there or it does not answer."""
    from robo_orch.control.client import ControlClient, find_control
    from robo_orch.errors import RoboOrchError

    try:
        with ControlClient(find_control(run_dir)) as client:
            status = client.request("status", timeout_s=1.0)
    except RoboOrchError:
        return {}
    return _input_rejects(status)


def _input_rejects(status: dict) -> dict[str, dict[str, int]]:
    """Topic -> rejects by reason, from a loop's ``status``."""
    topics = {role: c.get("topic") for role, c in (status.get("inputs") or {}).items()}
    return {topics[role]: dict(r.get("rejected") or {})
            for role, r in (status.get("input_rejects") or {}).items() if topics.get(role)}
