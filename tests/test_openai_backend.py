"""The OpenAI-compatible HTTP backend against real servers on loopback.

* ``transformers serve`` on a tiny real model (session fixture): batches, ordering, a real 400 and a
  timeout. Slow: the server takes ~10-30 s to start on two shared cores.
* A small stdlib HTTP server that answers from a script (503, 429, 400, slow replies): a real server,
  used where a model server cannot be made to fail on demand (retries, concurrency bound, headers).
* A port with nothing listening: connection errors are retried, then reported.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from memgym.errors import ConfigError
from memgym.policies.backends import SamplingParams, make_backend
from memgym.policies.backends.openai_http import BackendError, OpenAIBackend, chat_completions_url

PROMPTS = [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Note {i}: {'x ' * i}"}]
    for i in range(6)
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- transformers serve


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model(seed=0)
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def served(tiny_dir, tmp_path_factory):
    """``transformers serve`` pinned to the tiny model on 127.0.0.1; yields the base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    exe = Path(sys.executable).with_name("transformers")
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(exe), "serve", str(tiny_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"transformers serve exited with {server.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after 180 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_concurrent_batch_matches_local_greedy_and_keeps_order(served, tiny_dir):

    from memgym.policies.backends.hf import TransformersBackend

    params = SamplingParams(max_new_tokens=8)
    with OpenAIBackend(served, str(tiny_dir), concurrency=4) as client:
        remote = client.generate(PROMPTS, params)
        alone = client.generate(PROMPTS[3:4], params)[0]
    local = TransformersBackend(tiny_dir).generate(PROMPTS, params)
    assert [g.text for g in remote] == [g.text for g in local]  # same model, greedy: same words, same order
    assert len({g.text for g in remote}) == len(PROMPTS) and all(remote)
    assert alone.text == remote[3].text
    assert all(g.finish_reason == "length" for g in remote)
    assert remote[0].logprobs is None and remote[0].token_ids is None  # this server returns neither


@pytest.mark.slow
def test_client_error_is_not_retried_and_names_url_status_and_reason(served, caplog):
    caplog.set_level(logging.WARNING, logger="memgym.policies.backends.openai_http")
    client = make_backend("openai", base_url=f"{served}/v1", model="some-other-model", backoff=0.01)
    with pytest.raises(BackendError, match="status 400") as info:
        client.generate(PROMPTS[:1], SamplingParams(max_new_tokens=2))
    assert info.value.status == 400 and info.value.url == f"{served}/v1/chat/completions"
    assert served in str(info.value) and "pinned" in str(info.value)  # the server's own explanation
    assert not caplog.records  # no retry
    client.close()


@pytest.mark.slow
def test_timeout_is_reported(served, tiny_dir):
    with OpenAIBackend(served, str(tiny_dir), timeout=0.05, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(BackendError, match="ReadTimeout") as info:
            client.generate(PROMPTS[:1], SamplingParams(max_new_tokens=400))
    assert time.monotonic() - started < 5
    assert info.value.status is None and served in str(info.value) and "1 attempt" in str(info.value)


# --------------------------------------------------------------------------- scripted server


class ScriptedServer:
    """A threaded stdlib HTTP server answering ``/v1/chat/completions`` from a list of replies."""

    def __init__(self, replies: list[tuple[int, dict, dict]] | None = None, delay: float = 0.0) -> None:
        self.replies = list(replies or [])
        self.delay = delay
        self.requests: list[tuple[dict, dict]] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _next(self, body: dict) -> tuple[int, dict, dict]:
        if self.replies:
            return self.replies.pop(0)
        content = body["messages"][-1]["content"].upper()  # echo, so order can be checked
        return 200, completion(content), {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append((dict(self.headers), body))
                    status, payload, headers = server._next(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay)
                with server._lock:
                    server.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str, logprobs: list[float] | None = None, finish: str = "stop") -> dict:
    choice: dict = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = {
            "content": [{"token": "t", "logprob": lp, "top_logprobs": []} for lp in logprobs]
        }
    return {"id": "x", "object": "chat.completion", "choices": [choice]}


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def start(replies=None, delay=0.0) -> ScriptedServer:
        servers.append(ScriptedServer(replies, delay))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_retries_503_and_429_then_succeeds(scripted, caplog):
    caplog.set_level(logging.WARNING, logger="memgym.policies.backends.openai_http")
    server = scripted(
        [
            (503, {"error": {"message": "overloaded"}}, {}),
            (429, {"error": {"message": "slow down"}}, {"Retry-After": "0.05"}),
            (200, completion("done", logprobs=[-0.5, -1.25]), {}),
        ]
    )
    with OpenAIBackend(server.url, "m", backoff=0.01, max_retries=3) as client:
        (result,) = client.generate(PROMPTS[:1])
    assert result.text == "done" and result.logprobs == [-0.5, -1.25] and result.finish_reason == "stop"
    assert len(server.requests) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "status 503: overloaded" in messages[0] and "slow down" in messages[1]


def test_gives_up_after_max_retries_on_5xx(scripted):
    server = scripted([(500, {"detail": "boom"}, {})] * 5)
    with OpenAIBackend(server.url, "m", backoff=0.01, max_retries=2) as client:
        with pytest.raises(BackendError, match="after 3 attempt") as info:
            client.generate(PROMPTS[:1])
    assert info.value.status == 500 and "boom" in str(info.value) and len(server.requests) == 3


def test_concurrency_is_bounded_and_order_kept(scripted):
    server = scripted(delay=0.15)
    with OpenAIBackend(server.url, "m", concurrency=3) as client:
        started = time.monotonic()
        results = client.generate(PROMPTS)
        elapsed = time.monotonic() - started
    assert [r.text for r in results] == [p[-1]["content"].upper() for p in PROMPTS]
    assert 2 <= server.max_in_flight <= 3
    assert elapsed < 6 * 0.15  # concurrent, not one after another


def test_request_fields_and_api_key(scripted, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-general")
    monkeypatch.setenv("MEMGYM_API_KEY", "sk-memgym")
    server = scripted()
    params = SamplingParams(max_new_tokens=5, temperature=0.7, top_p=0.9, seed=10, stop=["\n"])
    with OpenAIBackend(server.url + "/v1/", "my-model", extra_body={"top_k": 4}) as client:
        client.generate(PROMPTS[:2], params)
    (h0, b0), (_, b1) = sorted(server.requests, key=lambda r: r[1]["seed"])
    assert h0["Authorization"] == "Bearer sk-memgym"
    assert b0 == {
        "model": "my-model",
        "messages": PROMPTS[0],
        "max_tokens": 5,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 10,
        "stop": ["\n"],
        "logprobs": True,
        "top_k": 4,
    }
    assert b1["seed"] == 11 and b1["messages"] == PROMPTS[1]  # each prompt its own seed

    monkeypatch.delenv("MEMGYM_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    with OpenAIBackend(server.url, "m", logprobs=False) as client:
        client.generate(PROMPTS[:1])
    headers, body = server.requests[-1]
    assert "Authorization" not in headers and "logprobs" not in body and "seed" not in body


def test_malformed_answer_is_reported(scripted):
    server = scripted([(200, {"unexpected": True}, {})])
    with OpenAIBackend(server.url, "m") as client:
        with pytest.raises(BackendError, match="without choices"):
            client.generate(PROMPTS[:1])


# --------------------------------------------------------------------------- nothing listening


def test_connection_refused_is_retried_then_fails(caplog):
    caplog.set_level(logging.WARNING, logger="memgym.policies.backends.openai_http")
    url = f"http://127.0.0.1:{free_port()}"
    with OpenAIBackend(url, "m", max_retries=2, backoff=0.01) as client:
        started = time.monotonic()
        with pytest.raises(BackendError, match="after 3 attempt") as info:
            client.generate(PROMPTS[:1])
    assert time.monotonic() - started < 3
    assert "ConnectError" in str(info.value) and f"{url}/v1/chat/completions" in str(info.value)
    assert info.value.status is None
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2


def test_url_and_argument_checks():
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://h/api/v1/chat/completions") == "https://h/api/v1/chat/completions"
    with pytest.raises(ConfigError, match="http://"):
        OpenAIBackend("localhost:8000", "m")
    with pytest.raises(ConfigError, match="concurrency"):
        OpenAIBackend("http://127.0.0.1:1", "m", concurrency=0)
    with OpenAIBackend("http://127.0.0.1:1", "m") as client, pytest.raises(ConfigError, match="temperature"):
        client.generate(PROMPTS[:1], SamplingParams(temperature=-0.1))
