"""Free TCP ports on 127.0.0.1 for the agents a benchmark starts."""

import socket


def free_ports(count):
    """`count` distinct ports that were free a moment ago (bound together, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
