"""Inside an isolated sandbox: loopback forwarders, then ``exec`` of the server.

The sandbox's network namespace has only ``lo`` (bubblewrap brings it up). This wrapper, run as
the sandbox's command, listens on ``127.0.0.1:<egress port>`` and relays every connection to the
host's egress proxy over a bind-mounted unix socket (:mod:`.egress`), so ``HTTP_PROXY`` works
for ordinary clients; for HTTP transports it also serves a unix socket that the host's ingress
relay connects to and relays each connection to the server on ``127.0.0.1:<target port>``.

The relays run in a grandchild that the sandbox's init adopts (the server never sees an extra
child); the wrapper then ``exec``s the server, which keeps the wrapper's PID, stdin and stdout.
When the server exits, the sandbox's PID namespace ends and takes the relays with it.

Runs as ``python -I -S netns_relay.py …`` with the interpreter alone: stdlib only, threads
instead of asyncio to start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence

_CHUNK = 65536
#: How long a connection waits for the host's egress proxy to be listening.
_PROXY_WAIT = 10.0


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy until EOF (then half-close); on a reset, shut both down so neither side hangs."""
    try:
        while data := src.recv(_CHUNK):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _relay(client: socket.socket, dial: Callable[[], socket.socket]) -> None:
    try:
        upstream = dial()
    except OSError:
        client.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _serve(listener: socket.socket, dial: Callable[[], socket.socket]) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_relay, args=(client, dial), daemon=True).start()


def _unix_dialer(path: str) -> Callable[[], socket.socket]:
    """Connect to the host's proxy; it starts alongside the sandbox, so wait for it a while."""

    def dial() -> socket.socket:
        deadline = time.monotonic() + _PROXY_WAIT
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
                continue
            except OSError:
                sock.close()
                raise
            return sock

    return dial


def _tcp_dialer(port: int) -> Callable[[], socket.socket]:
    return lambda: socket.create_connection(("127.0.0.1", port))


def _run_relays(jobs: list[tuple[socket.socket, Callable[[], socket.socket]]]) -> None:
    # The relays must not hold the server's stdio (a stdio server's stdout is the protocol).
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    threads = [threading.Thread(target=_serve, args=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netns_relay")
    parser.add_argument("--egress-port", type=int, required=True)
    parser.add_argument("--egress-socket", required=True)
    parser.add_argument("--ingress-socket")
    parser.add_argument("--ingress-port", type=int)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no server command after --")

    egress = socket.create_server(("127.0.0.1", args.egress_port), backlog=128)
    jobs = [(egress, _unix_dialer(args.egress_socket))]
    if args.ingress_socket and args.ingress_port:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.ingress_socket)
        ingress = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ingress.bind(args.ingress_socket)
        ingress.listen(128)
        jobs.append((ingress, _tcp_dialer(args.ingress_port)))

    child = os.fork()
    if child == 0:
        if os.fork() == 0:
            try:
                _run_relays(jobs)
            finally:
                os._exit(0)
        os._exit(0)
    os.waitpid(child, 0)
    for listener, _ in jobs:
        listener.close()
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc}", file=sys.stderr, flush=True)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
