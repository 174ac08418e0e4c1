"""``robo-orch keys generate DIR`` and ``robo-orch keys list DIR``: CURVE keys for tcp.

Kept free of heavy imports at module level (the ``robo-orch`` parser is built
before numpy and zmq load).
"""

from __future__ import annotations

import argparse
import os
import sys

KEYS_EPILOG = """\
what goes where (README: "tcp and CURVE keys"):
  the robot      the whole DIR, owned by the user the robot runs as; bus.keys = "DIR"
                 (its processes connect as the client `robot`, bus.client_key)
  a laptop       DIR/server.key and its own DIR/clients/NAME.key_secret (or
                 readonly/NAME.key_secret), in a directory of its own (mode 0700):
                 `robo-orch status --connect tcp://ROBOT:PORT --keys THAT_DIR`
  revoking       delete DIR/clients/NAME.key (or readonly/NAME.key) on the robot and
                 restart it: that client is refused from then on
Secret files (*.key_secret) are made 0600 and refused if anyone else may read them.
Existing keys are never overwritten: run it again to add clients."""


def add_parser(sub) -> None:
    """Register ``keys`` with ``generate`` and ``list``."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("keys", help="make and list the CURVE keys that tcp endpoints need",
                       description="CURVE keys for the bus's tcp endpoints and the control "
                       "endpoint: a server key pair for the robot, a key pair per client.",
                       epilog=KEYS_EPILOG, formatter_class=fmt)
    ksub = p.add_subparsers(dest="keys_command", metavar="{generate,list}", required=True)
    gen = ksub.add_parser("generate", help="make the server key pair and client key pairs in "
                          "DIR (existing ones are kept)", epilog=KEYS_EPILOG,
                          formatter_class=fmt)
    gen.add_argument("dir", metavar="DIR")
    gen.add_argument("--client", action="append", default=[], metavar="NAME",
                     help="a full-access client (repeatable; `robot` is always made)")
    gen.add_argument("--readonly", action="append", default=[], metavar="NAME",
                     help="a read-only client: may watch, may not change anything "
                          "(repeatable)")
    gen.set_defaults(func=run_generate)
    lst = ksub.add_parser("list", help="the keys in DIR: server, admitted clients, secrets")
    lst.add_argument("dir", metavar="DIR")
    lst.set_defaults(func=run_list)


def run_generate(args: argparse.Namespace, out=None) -> int:
    """Run ``keys generate``; returns the exit status."""
    from robo_orch.bus.keys import generate_keys

    out = sys.stdout if out is None else out
    made = generate_keys(args.dir, tuple(args.client), tuple(args.readonly))
    for secret, new in made:
        public = secret[:-len("_secret")]
        word = "made" if new else "kept"
        print(f"{word} {public} and {os.path.basename(secret)} (secret, 0600)", file=out)
    directory = os.path.abspath(os.path.expanduser(args.dir))
    print(f'set bus.keys = "{directory}" in the robot\'s config; give each other client '
          "server.key and its own .key_secret only", file=out)
    return 0


def run_list(args: argparse.Namespace, out=None) -> int:
    """Run ``keys list``: the server key, the admitted clients and the secrets held here
    (every secret's mode checked: one readable by others is an error, exit 2)."""
    from robo_orch.bus import keys as K

    out = sys.stdout if out is None else out
    directory = os.path.abspath(os.path.expanduser(args.dir))
    held = K.client_names(directory)
    for name in held:
        K.read_key_file(K.client_secret_path(directory, name), secret=True)
    server = K.load_keys(directory, held[0] if held else None)
    print(f"server  {server.server_public.decode()}  "
          f"{'with its secret' if server.server_secret else 'public key only (cannot serve)'}",
          file=out)
    admitted = K.admitted_clients(directory)
    for public, client in sorted(admitted.items(), key=lambda kv: (kv[1].read_only,
                                                                     kv[1].name)):
        access = "read-only  " if client.read_only else "full access"
        here = ", secret here" if client.name in held else ""
        print(f"client  {public.decode()}  {access} {client.name}{here}", file=out)
    for name in sorted(set(held) - {c.name for c in admitted.values()}):
        print(f"client  {name}: secret here, not admitted by this directory", file=out)
    return 0
