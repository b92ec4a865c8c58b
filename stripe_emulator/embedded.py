"""The emulator on free ports in a background thread of the calling process (the pytest plugin's server)."""

import asyncio
import socket
import threading

from stripe_emulator.control_client import ControlClient, FaultControls
from stripe_emulator.core import Config
from stripe_emulator.server import Handle, build_emulator


def free_port(host="127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedEmulator:
    """``start()``, then ``api_base``, ``secret_key``, ``publishable_key``, ``control`` and ``faults``."""

    def __init__(self, **config):
        config.setdefault("port", free_port())
        config.setdefault("control_port", free_port())
        self.config = Config(**config)
        self.api_base = f"http://{self.config.host}:{self.config.port}"
        self.control_base = f"http://{self.config.control_host}:{self.config.control_port}"
        self.secret_key = self.config.secret_key
        self.publishable_key = self.config.publishable_key
        self.control = ControlClient(self.control_base)
        self.faults = FaultControls(self.control)
        self._loop = None
        self._thread = None
        self._handle = None

    def start(self, timeout=30.0):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stripe-emulator", daemon=True)
        self._thread.start()
        self._handle = Handle(build_emulator(self.config))
        try:
            self._run(self._handle.start(), timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=10.0):
        if self._loop is None:
            return
        if self._handle is not None:
            self._run(self._handle.stop(), timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()
        self._loop = self._handle = None

    def _run(self, coro, timeout):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
