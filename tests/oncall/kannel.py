"""A real Kannel SMS gateway on loopback for the SMS paging tests: bearerbox and smsbox
(Debian package `kannel`) with two fake SMSC links that Kannel's own test handset,
`fakesmsc` (Debian package `kannel-extras`), connects to:

- `phone`: a fakesmsc left running; every SMS the gateway sends lands in its output;
- `keypad`: one fakesmsc per reply typed at the handset (`Handset.reply`): it sends the
  reply as a mobile-originated SMS and prints the gateway's answer, which Kannel routes back
  to the link the reply came from.

Kannel's sms-service calls our /sms/inbound and the delivery reports our /sms/dlr at
`callback_port`, where the test runs the API (`api_server`)."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from tests.serving import free_port

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
SHORT_CODE = "4247"
SECRET = "kannel-callback-secret-0123"
USERNAME, PASSWORD = "mla", "sendsms-password"


def missing() -> str | None:
    absent = [str(p) for p in (BEARERBOX, SMSBOX, FAKESMSC) if not p.exists()]
    return ", ".join(absent) or None


CONFIG = """
group = core
admin-port = {admin}
admin-password = kannel-admin
admin-interface = 127.0.0.1
smsbox-port = {smsbox}
box-allow-ip = 127.0.0.1
log-file = "{dir}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = phone
port = {phone}
connect-allow-ip = 127.0.0.1
denied-smsc-id = keypad

group = smsc
smsc = fake
smsc-id = keypad
port = {keypad}
connect-allow-ip = 127.0.0.1
allowed-smsc-id = keypad

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{dir}/smsbox.log"
log-level = 1

group = sendsms-user
username = {username}
password = {password}

group = sms-service
keyword = default
get-url = "http://127.0.0.1:{callback}/sms/inbound?secret={secret}&from=%p&text=%a"
max-messages = 1
omit-empty = true
"""


@dataclass
class Handset:
    """The fake handset: what reached it, and replies typed at it."""

    directory: Path
    keypad_port: int
    log: Path

    def received(self) -> list[tuple[str, str, str]]:
        """(sender, receiver, text) of every SMS that reached the phone link so far."""
        found = re.findall(r"Got message \d+: <(\S+) (\S+) text (.*)>$",
                           self.log.read_text(errors="replace"), re.MULTILINE)
        return [(a, b, c) for a, b, c in found]

    def wait_for(self, to: str, contains: str, timeout: float = 30) -> str:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            for _, receiver, text in self.received():
                if receiver == to and contains in text:
                    return text
            time.sleep(0.05)
        raise AssertionError(f"no SMS to {to} with {contains!r}; got {self.received()}")

    def reply(self, sender: str, text: str, timeout: float = 30) -> str:
        """Types `text` at the handset of `sender` and returns the gateway's answer."""
        limit = time.monotonic() + timeout
        attempt = 0
        while time.monotonic() < limit:
            attempt += 1
            out = self.directory / f"keypad-{time.monotonic_ns()}-{attempt}.log"
            line = f"{sender} {SHORT_CODE} text {text}"
            with out.open("w") as log:
                proc = subprocess.Popen(
                    [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(self.keypad_port), "-m", "1",
                     "-i", "0", line], stdout=log, stderr=subprocess.STDOUT)
            try:
                while time.monotonic() < limit and proc.poll() is None:
                    answer = re.search(r"Got message \d+: <\S+ \S+ text (.*)>$",
                                       out.read_text(errors="replace"), re.MULTILINE)
                    if answer:
                        return answer.group(1)
                    time.sleep(0.05)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            time.sleep(0.5)  # the link was not up yet: the gateway takes it back in a moment
        raise AssertionError(f"no answer to {text!r} from {sender}")


@dataclass
class Kannel:
    sendsms_url: str
    callback_port: int
    handset: Handset
    directory: Path


@contextmanager
def running(directory: Path) -> Iterator[Kannel]:
    ports = {name: free_port() for name in
             ("admin", "smsbox", "phone", "keypad", "sendsms", "callback")}
    conf = directory / "kannel.conf"
    conf.write_text(CONFIG.format(dir=directory, secret=SECRET, username=USERNAME,
                                  password=PASSWORD, **ports))
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *argv: str) -> None:
        log = (directory / f"{name}.out").open("w")
        procs.append(subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                      cwd=directory))

    try:
        start("bearerbox", str(BEARERBOX), str(conf))
        _wait_port(ports["smsbox"], directory)
        start("smsbox", str(SMSBOX), str(conf))
        _wait_port(ports["sendsms"], directory)
        # -m 0: the phone sends nothing by itself, it only receives.
        start("phone", str(FAKESMSC), "-H", "127.0.0.1", "-r", str(ports["phone"]),
              "-m", "0", "nobody nobody text nothing")
        yield Kannel(f"http://127.0.0.1:{ports['sendsms']}/cgi-bin/sendsms",
                     ports["callback"], Handset(directory, ports["keypad"],
                                                directory / "phone.out"),
                     directory)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_port(port: int, directory: Path, timeout: float = 30) -> None:
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in directory.glob("*.out"))
    raise AssertionError(f"Kannel did not open port {port}:\n{logs}")


@contextmanager
def api_server(db_url: str, port: int) -> Iterator[str]:
    """The API on the test database at 127.0.0.1:port, where Kannel calls back."""
    from api.app import create_app

    app = create_app(db_url)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    limit = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < limit, "the API did not start"
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()
