"""What every backend shares: checking inputs, rendering chats to token ids, cutting at stop strings.

:func:`encode_chats` is the one way memgym turns chat prompts into prompt token ids (backends and SFT
alike), so a model is trained and sampled on identical prompt tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memgym.errors import ConfigError
from memgym.policies.backends.base import ChatPrompt, SamplingParams


def check_params(params: SamplingParams | None) -> SamplingParams:
    """Return ``params`` (or the defaults), raising :class:`ConfigError` on values no backend can honour."""
    params = params or SamplingParams()
    if params.max_new_tokens < 1:
        raise ConfigError(f"SamplingParams.max_new_tokens must be at least 1, got {params.max_new_tokens}")
    if params.temperature < 0:
        raise ConfigError(f"SamplingParams.temperature must be >= 0 (0 = greedy), got {params.temperature}")
    if not 0 < params.top_p <= 1:
        raise ConfigError(f"SamplingParams.top_p must be in (0, 1], got {params.top_p}")
    if isinstance(params.stop, str) or any(not isinstance(s, str) or not s for s in params.stop):
        raise ConfigError(f"SamplingParams.stop must be a list of non-empty strings, got {params.stop!r}")
    return params


def check_prompts(prompts: list[ChatPrompt]) -> None:
    """Reject prompts that are not lists of ``{"role", "content"}`` messages, naming the bad one."""
    if isinstance(prompts, (str, dict)) or not isinstance(prompts, list):
        raise ConfigError(
            f"prompts must be a list of chat prompts (lists of messages), got {type(prompts).__name__}"
        )
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, list) or not prompt:
            raise ConfigError(f"prompt {i} must be a non-empty list of messages, got {prompt!r:.80}")
        for message in prompt:
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise ConfigError(
                    f"prompt {i}: every message needs 'role' and 'content', got {message!r:.80}"
                )


def load_chat_template(chat_template: str | Path | None) -> str | None:
    """Accept a Jinja template as text or as the path of a ``.jinja`` file."""
    if chat_template is None:
        return None
    path = Path(chat_template)
    if isinstance(chat_template, Path) or (
        str(chat_template).endswith(".jinja") and "{" not in str(chat_template)
    ):
        if not path.is_file():
            raise ConfigError(f"chat template file {path} does not exist")
        return path.read_text(encoding="utf-8")
    return str(chat_template)


def encode_chats(
    tokenizer: Any, prompts: list[ChatPrompt], chat_template: str | None = None
) -> list[list[int]]:
    """Render each chat with the generation prompt appended, then tokenize it.

    The text is tokenized with ``add_special_tokens=False`` because the template already writes any
    special tokens it wants; adding a BOS again would change the prompt the model was trained on.
    """
    if chat_template is None and not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "the tokenizer has no chat template; pass chat_template= (Jinja text or a .jinja file) to the backend"
        )
    texts = [
        tokenizer.apply_chat_template(
            prompt, tokenize=False, add_generation_prompt=True, chat_template=chat_template
        )
        for prompt in prompts
    ]
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string (OpenAI and vLLM leave the stop string out).

    >>> cut_at_stop("Paris. Then Rome; later Oslo", [";", "."])
    ('Paris', True)
    """
    hits = [i for i in (text.find(s) for s in stop) if i >= 0]
    if not hits:
        return text, False
    return text[: min(hits)], True


def tokens_until_stop(tokenizer: Any, tokens: list[int], stop: list[str]) -> int:
    """Fewest leading tokens whose text already contains a stop string (binary search: containment grows)."""
    lo, hi = 1, len(tokens)
    while lo < hi:
        mid = (lo + hi) // 2
        if cut_at_stop(tokenizer.decode(tokens[:mid], skip_special_tokens=True), stop)[1]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def cut_completion_at_stop(
    tokenizer: Any, text: str, tokens: list[int], stop: list[str]
) -> tuple[str, list[int], bool]:
    """Cut a completion at its earliest stop string: ``(text, tokens, hit)``.

    The text ends before the stop string (as in vLLM and OpenAI); the token ids end with the token that
    completes it (the model sampled those tokens, and trainers need them). ``text`` must be ``tokens``
    decoded with ``skip_special_tokens=True``. Without a hit both come back unchanged.
    """
    if not stop:
        return text, tokens, False
    text, hit = cut_at_stop(text, stop)
    if not hit:
        return text, tokens, False
    return text, tokens[: tokens_until_stop(tokenizer, tokens, stop)], True
