"""Workers sharing a Hypothesis example database on a real redis-server (loopback only)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from kmem.fuzz.campaign import run_campaign

pytestmark = pytest.mark.fuzz
redis = pytest.importorskip("redis", reason="the redis client package is not installed")
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (CI installs it with apt-get)",
                allow_module_level=True)


@pytest.fixture
def redis_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.skip("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0", client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_two_workers_share_a_redis_database(redis_url, tmp_path):
    url, client = redis_url
    res = run_campaign(seconds=40, seed=4, workers=2, impls="model,mutant:zonelist_upwards",
                       db=url, corpus=None, shrink_seconds=5, sweep=False,
                       out=open(tmp_path / "out", "w"))
    assert res.failure is not None
    keys = client.keys(b"hypothesis-example:*")
    assert keys, "no example reached the shared Redis database"
    # another campaign on the same server replays the stored failure at once
    again = run_campaign(seconds=40, seed=5, workers=1, impls="model,mutant:zonelist_upwards",
                         db=url, corpus=None, shrink_seconds=5, bulk=False, sweep=False,
                         out=open(tmp_path / "out2", "w"))
    assert again.failure is not None and again.examples <= 3
