"""Pack environment steps into tensors, and score their completion tokens with the policy.

Every step is one (prompt, completion) pair whose token ids come from the generation engine (never
re-tokenized). Rows follow TRL's layout: the prompt left-padded, the completion right-padded, so the
completion tokens of every row sit in the last ``C`` columns and the last prompt token at column ``P - 1``.
Only completion tokens carry loss (``completion_mask``); the environment's tokens (the prompt) never do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from trl.trainer.utils import pad, selective_log_softmax


@dataclass
class StepBatch:
    """Padded tensors of a batch of steps.

    ``input_ids``/``attention_mask``/``position_ids``: shape ``(B, P + C)``. ``completion_ids`` and
    ``completion_mask``: ``(B, C)``, 1 on the tokens the policy sampled. ``prompt_length`` is ``P``.
    ``allowed``: for completions sampled under a grammar, the packed allowed-token masks ``(B, C, W)``
    (int32 bitmasks, :func:`memgym.policies.backends.grammar.allowed_masks`; all ones for rows without a
    grammar), so log-probs are those of the constrained policy; ``None`` when nothing was constrained.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    prompt_length: int
    allowed: torch.Tensor | None = None

    @property
    def loss_mask(self) -> torch.Tensor:
        """``(B, P + C)``: 1 exactly on the tokens whose log-probs enter the loss."""
        prompt_zeros = torch.zeros(
            self.input_ids.shape[0], self.prompt_length, dtype=self.completion_mask.dtype
        )
        return torch.cat([prompt_zeros, self.completion_mask], dim=1)


def pack_steps(
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    allowed: Sequence[torch.Tensor | None] | None = None,
) -> StepBatch:
    """Pad the engine's prompt and completion ids of each step into one batch (no re-tokenization).

    ``allowed``: per step, its packed allowed-token masks ``(len(completion), W)`` or ``None``.
    """
    if len(prompt_ids) != len(completion_ids) or not prompt_ids:
        raise ValueError(
            f"need as many prompts as completions (got {len(prompt_ids)}, {len(completion_ids)})"
        )
    prompts = [torch.tensor(list(p), dtype=torch.long) for p in prompt_ids]
    # An empty completion (the engine stopped at once) still gets one padded column so shapes stay valid.
    completions = [torch.tensor(list(c) or [pad_token_id], dtype=torch.long) for c in completion_ids]
    c_masks = [torch.tensor([1] * len(c) or [0], dtype=torch.long) for c in completion_ids]
    p = pad(prompts, padding_value=pad_token_id, padding_side="left")
    p_mask = pad([torch.ones_like(t) for t in prompts], padding_value=0, padding_side="left")
    c = pad(completions, padding_value=pad_token_id, padding_side="right")
    c_mask = pad(c_masks, padding_value=0, padding_side="right")
    attention = torch.cat([p_mask, c_mask], dim=1)
    # Positions count real tokens only, as generation did; left padding must not shift them.
    position_ids = (attention.cumsum(dim=1) - 1).clamp(min=0)
    return StepBatch(
        input_ids=torch.cat([p, c], dim=1),
        attention_mask=attention,
        position_ids=position_ids,
        completion_ids=c,
        completion_mask=c_mask,
        prompt_length=p.shape[1],
        allowed=_pack_allowed(allowed, c.shape[1]) if allowed and any(a is not None for a in allowed) else None,
    )


def _pack_allowed(allowed: Sequence[torch.Tensor | None], width: int) -> torch.Tensor:
    words = next(a for a in allowed if a is not None).shape[-1]
    out = torch.full((len(allowed), width, words), -1, dtype=torch.int32)  # all bits set: anything allowed
    for row, mask in enumerate(allowed):
        if mask is not None and len(mask):
            out[row, : mask.shape[0]] = mask
    return out


def select_rows(batch: StepBatch, rows: torch.Tensor | Sequence[int]) -> StepBatch:
    """The sub-batch of some rows, trimmed of columns that are padding in all of them."""
    idx = torch.as_tensor(rows, dtype=torch.long)
    attention = batch.attention_mask[idx]
    P = batch.prompt_length
    keep_left = int(attention[:, :P].sum(dim=1).max())  # longest prompt among the rows
    keep_right = max(int(batch.completion_mask[idx].sum(dim=1).max()), 1)
    lo, hi = P - keep_left, P + keep_right
    return StepBatch(
        input_ids=batch.input_ids[idx, lo:hi],
        attention_mask=attention[:, lo:hi],
        position_ids=batch.position_ids[idx, lo:hi],
        completion_ids=batch.completion_ids[idx, :keep_right],
        completion_mask=batch.completion_mask[idx, :keep_right],
        prompt_length=keep_left,
        allowed=None if batch.allowed is None else batch.allowed[idx, :keep_right],
    )


def completion_logps(
    model: torch.nn.Module, batch: StepBatch, temperature: float = 1.0, return_hidden: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs of the completion tokens under ``model``: ``(B, C)``, 0 on padding.

    Logits are divided by ``temperature`` (the sampling temperature) before the softmax, as TRL does, so
    they match the engine's log-probs; with ``batch.allowed`` the softmax runs over the tokens the grammar
    allowed at each position (the constrained policy the completions were sampled from). With ``return_hidden`` the last layer's hidden state at the last prompt
    token, ``(B, H)``, comes back too (PPO's value head reads the state there).
    """
    C = batch.completion_ids.shape[1]
    device, home = next(model.parameters()).device, batch.input_ids.device  # a GPU model, CPU batches
    out = model(
        input_ids=batch.input_ids.to(device),
        attention_mask=batch.attention_mask.to(device),
        position_ids=batch.position_ids.to(device),
        logits_to_keep=C + 1,
        output_hidden_states=return_hidden,
        use_cache=False,
    )
    logits = out.logits[:, :-1, :].float()  # position t predicts token t + 1
    if batch.allowed is not None:
        from memgym.policies.backends.grammar import mask_logits_, unpack

        logits = mask_logits_(logits.clone(), unpack(batch.allowed, logits.shape[-1]))
    if temperature and temperature != 1.0:
        logits = logits / temperature
    logps = selective_log_softmax(logits, batch.completion_ids.to(device)) * batch.completion_mask.to(device)
    hidden = out.hidden_states[-1][:, batch.prompt_length - 1, :] if return_hidden else None
    return logps.to(home), None if hidden is None else hidden.to(home)
