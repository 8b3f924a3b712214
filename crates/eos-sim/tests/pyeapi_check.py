#!/usr/bin/env python3
"""Arista's own eAPI client, pyeapi, against eos-sim.

Prints one JSON object with what pyeapi got: `show version` and
`show interfaces status` (json), `show version` as text, the CommandError
of an unknown command, and a config session through Node.config().
"""
import argparse
import json

import pyeapi
from pyeapi.client import Node
from pyeapi.eapilib import CommandError, SocketEapiConnection


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["http_local", "socket"], required=True)
    parser.add_argument("--port", type=int, help="for http_local")
    parser.add_argument("--socket", help="for socket: the unix socket path")
    args = parser.parse_args()

    if args.transport == "socket":
        # pyeapi.connect() does not pass a socket path through (it always
        # uses /var/run/command-api.sock), but pyeapi's own socket connection
        # class takes one.
        connection = SocketEapiConnection(path=args.socket, timeout=10)
    else:
        connection = pyeapi.connect(transport="http_local", port=args.port, timeout=10)
    node = Node(connection)

    replies = node.enable(["show version", "show interfaces status"])
    text = node.enable(["show version"], encoding="text")[0]["result"]["output"]
    try:
        node.enable(["show bogus"])
        error = None
    except CommandError as exc:
        error = {"code": exc.error_code, "text": exc.error_text, "command_error": exc.command_error}
    config = node.config(["hostname pyeapi-" + args.transport])

    print(json.dumps({
        "transport": args.transport,
        "show version": replies[0]["result"],
        "show interfaces status": replies[1]["result"],
        "show version text": text,
        "unknown command": error,
        "config": config,
    }, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
