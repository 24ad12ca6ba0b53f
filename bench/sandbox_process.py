"""Run `synchub sandbox up` as a separate process for a benchmark, and read its connections."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from sandbox.runner import read_env_file

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sandboxes(*arguments: str, timeout: float = 1200) -> Iterator[dict[str, str]]:
    """Start the sandboxes with ``arguments`` (e.g. ``--seed 42 --customers 10000``); yield their env.

    The env (AIRFLOW_CONN_SYNCHUB_CRM, AIRFLOW_CONN_SYNCHUB_ERP, REQUESTS_CA_BUNDLE) is also put into
    this process's environment, as `source var/sandbox.env` would.
    """
    with TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "sandbox.env"
        command = [
            str(ROOT / ".venv" / "bin" / "synchub"),
            "sandbox",
            "up",
            *arguments,
            "--crm-port",
            str(free_port()),
            "--erp-port",
            str(free_port()),
            "--env-file",
            str(env_file),
        ]
        print("$", " ".join(command[1:]), flush=True)
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while not env_file.exists():
                if process.poll() is not None:
                    raise SystemExit(f"sandbox exited early: {process.stderr.read().decode()}")
                if time.monotonic() - started > timeout:
                    raise SystemExit("sandboxes did not start in time")
                time.sleep(0.2)
            env = read_env_file(env_file)
            os.environ.update(env)
            print(f"sandboxes seeded and up in {time.monotonic() - started:.1f} s", flush=True)
            yield env
        finally:
            process.terminate()
            process.wait(60)
