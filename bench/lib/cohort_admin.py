"""Talks to a Cohort agent's admin socket: one JSON request per line, one JSON reply per line."""

import json
import socket


def ask(sock_path, verb="status", timeout=1.0, arguments=None):
    """Sends one request, with `arguments` (a dict) when given; returns the parsed reply, or None when
    the agent does not answer (yet). `timeout` bounds the connect and each read."""
    request = {"verb": verb}
    if arguments is not None:
        request["arguments"] = arguments
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(sock_path)
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return json.loads(data) if data else None
    except (OSError, ValueError):
        return None
