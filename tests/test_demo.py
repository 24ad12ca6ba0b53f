"""``synchub demo`` end to end as a new user runs it: exit 0, and every command it prints works as printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

SYNCHUB = str(Path(sys.executable).parent / "synchub")


def test_the_demo_runs_and_every_command_it_prints_works_as_printed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SYNCHUB_DATABASE_URL"}
    demo = subprocess.run(
        [SYNCHUB, "demo", "--customers", "60", "--products", "8", "--orders", "12"],
        cwd=tmp_path,
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    printed = [
        line.strip() for line in demo.stdout.splitlines() if line.startswith("  ") and "synchub" in line
    ]
    commands = [line for line in printed if line.startswith("SYNCHUB_DATABASE_URL=")]
    assert len(commands) >= 6, demo.stdout[-2000:]

    outputs = {}
    for command in commands:
        if " ui " in command:
            continue
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        outputs[command.split(" synchub ", 1)[-1] if " synchub " in command else command] = done.stdout
    customers = next(out for cmd, out in outputs.items() if "golden export --entity customer" in cmd)
    assert customers.count("\n") > 60  # a header and one line per golden customer

    # The admin view starts as printed and answers on its default port.
    ui = next(command for command in commands if " ui " in command)
    server = subprocess.Popen(
        ["bash", "-c", ui],
        start_new_session=True,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = requests.get("http://127.0.0.1:8090/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert answer is not None and answer.status_code == 200, server.stdout.read() if server.poll() else ""
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
