"""Generation through any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM serve, transformers
serve, llama.cpp, hosted APIs), for answer agents and judges that run outside the training process.

Requests of one batch run concurrently on a thread pool (bounded by ``concurrency``) over one
``httpx.Client``; transient failures (connection errors, timeouts, 429, 5xx) are retried with
exponential backoff, other 4xx answers fail at once. Every error names the URL and, where there is
one, the HTTP status and the server's message.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends.base import ChatPrompt, Generation, SamplingParams
from memgym.policies.backends.chat import check_params, check_prompts

logger = logging.getLogger(__name__)

API_KEY_ENV_VARS = ("MEMGYM_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))  # other 4xx: the request itself is wrong
MAX_RETRY_AFTER_S = 60.0


class BackendError(MemgymError, RuntimeError):
    """A generation request failed; ``url`` and ``status`` (None for network errors) say where and how."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url, self.status = url, status


def chat_completions_url(base_url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/v1`` both mean ``http://host:8000/v1/chat/completions``."""
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
    if base.endswith("/chat/completions"):
        return base
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


class OpenAIBackend:
    """A :class:`~memgym.policies.backends.GenerationBackend` over an OpenAI-compatible HTTP server.

    Args:
        base_url: Server address, with or without the trailing ``/v1``.
        model: The ``model`` field of each request.
        api_key: Bearer token; defaults to ``$MEMGYM_API_KEY``, then ``$OPENAI_API_KEY``; none is sent
            if neither is set (local servers).
        timeout: Seconds allowed for each attempt of a request, as a whole: connecting, sending and
            reading the answer together (a server that drips its answer byte by byte is cut off too).
        max_retries: Retries after the first attempt for transient failures.
        backoff: First retry delay in seconds; it doubles on every retry. A 429's ``Retry-After`` wins
            when longer (capped at 60 s).
        concurrency: Requests in flight at once.
        logprobs: Ask for the sampled tokens' log-probs (OpenAI's ``logprobs: true``).
        extra_body: Fields merged into every request, for server-specific options (vLLM's
            ``return_token_ids``, ``top_k``, ...).

    Token ids are filled only when the server returns them (vLLM with ``return_token_ids``); a seed
    ``s`` gives prompt ``i`` the seed ``s + i``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 8,
        logprobs: bool = True,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if concurrency < 1 or max_retries < 0 or timeout <= 0 or backoff < 0:
            raise ConfigError(
                f"need concurrency >= 1, max_retries >= 0, timeout > 0, backoff >= 0; got {concurrency}, "
                f"{max_retries}, {timeout}, {backoff}"
            )
        self.url = chat_completions_url(base_url)
        self.model = model
        self.max_retries, self.backoff, self.concurrency = max_retries, backoff, concurrency
        self.logprobs = logprobs
        self.extra_body = dict(extra_body or {})
        key = api_key or next((os.environ[v] for v in API_KEY_ENV_VARS if os.environ.get(v)), None)
        if key and _plain_http_to_another_host(self.url):
            warnings.warn(
                f"sending the API key over plain http to {httpx.URL(self.url).host}: anyone on the network "
                "can read it; use https:// (plain http is fine for localhost)",
                UserWarning,
                stacklevel=2,
            )
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout = float(timeout)
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="memgym-openai")

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        """Send one request per prompt, ``concurrency`` at a time; results keep the prompts' order.

        The batch fails as a whole: the first request that still fails after its retries raises.
        """
        params = check_params(params)
        check_prompts(prompts)
        bodies = [self._body(prompt, params, i) for i, prompt in enumerate(prompts)]
        return list(self._pool.map(self._complete, bodies))

    def close(self) -> None:
        """Release the connections and the worker threads."""
        self._pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _body(self, prompt: ChatPrompt, params: SamplingParams, index: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": prompt,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed + index
        if params.stop:
            body["stop"] = list(params.stop)
        if self.logprobs:
            body["logprobs"] = True
        return body | self.extra_body

    def _complete(self, body: dict[str, Any]) -> Generation:
        return _parse_completion(self._post(body), self.url)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries on transient failures; returns the decoded JSON answer."""
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            delay = self.backoff * 2**attempt
            try:
                response = self._post_once(body)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem, status = f"{type(exc).__name__}: {exc or 'no detail'}", None
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise BackendError(
                            f"POST {self.url} returned status {response.status_code} with a body that is not "
                            f"JSON: {response.text[:200]!r}",
                            url=self.url,
                            status=response.status_code,
                        ) from exc
                status = response.status_code
                problem = f"status {status}: {_server_message(response)}"
                if status not in RETRY_STATUS:
                    raise BackendError(f"POST {self.url} failed with {problem}", url=self.url, status=status)
                delay = max(delay, _retry_after(response))
            if attempt + 1 < attempts:
                logger.warning(
                    "POST %s failed (%s); retry %d/%d in %.2fs",
                    self.url,
                    problem,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
        raise BackendError(
            f"POST {self.url} failed after {attempts} attempt(s); last error: {problem}",
            url=self.url,
            status=status,
        )


    def _post_once(self, body: dict[str, Any]) -> httpx.Response:
        """One attempt, bounded by ``timeout`` as a whole (checked as the answer's bytes arrive)."""
        deadline = time.monotonic() + self.timeout
        with self._client.stream("POST", self.url, json=body) as response:
            chunks = []
            for chunk in response.iter_raw():  # still encoded: the rebuilt response decodes it once
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"the answer took longer than the {self.timeout:g} s timeout")
            return httpx.Response(
                response.status_code, headers=response.headers, content=b"".join(chunks), request=response.request
            )


def _plain_http_to_another_host(url: str) -> bool:
    """Whether ``url`` is plain http to a host other than this machine."""
    parsed = httpx.URL(url)
    return parsed.scheme == "http" and parsed.host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def _parse_completion(payload: Any, url: str) -> Generation:
    """A chat completion as a :class:`Generation`; any other shape is a :class:`BackendError` naming it."""
    try:
        choice = payload["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict) or not isinstance(choice, dict):
            raise TypeError(f"choices[0].message is {type(message).__name__}, not an object")
        content = (
            (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
        )
        logprobs = [float(item["logprob"]) for item in content] if content else None
        token_ids = choice.get("token_ids")
        prompt_token_ids = payload.get("prompt_token_ids") or choice.get("prompt_token_ids")
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise TypeError(f"choices[0].message.content is {type(text).__name__}, not a string")
        return Generation(
            text=text,
            prompt_token_ids=[int(t) for t in prompt_token_ids] if prompt_token_ids else None,
            token_ids=[int(t) for t in token_ids] if token_ids else None,
            logprobs=logprobs,
            finish_reason=choice.get("finish_reason"),
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise BackendError(
            f"{url} answered without choices[0].message in the expected shape ({type(exc).__name__}: {exc}): "
            f"{str(payload)[:200]}",
            url=url,
        ) from exc


def _server_message(response: httpx.Response) -> str:
    """The server's own error text: OpenAI's ``{"error": {"message": ...}}``, FastAPI's ``detail``, or raw."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if error or payload.get("detail"):
            return str(error or payload.get("detail"))[:300]
    return str(payload)[:300]


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", 0)), MAX_RETRY_AFTER_S)
    except ValueError:  # an HTTP date: fall back to our own backoff
        return 0.0
