"""An example third-party memgym environment package; it lives outside memgym on purpose.

``tests/test_env_plugin.py`` installs it the way pip would (a ``.dist-info`` with ``entry_points.txt`` on
``sys.path``) and checks that memgym discovers it through the ``memgym.envs`` entry-point group. A real
package declares the same in its ``pyproject.toml``::

    [project.entry-points."memgym.envs"]
    "example/Diary-v0" = "memgym_example_plugin:DiaryEnv"    # an env class, registered under this id
    example = "memgym_example_plugin:register_envs"          # a callable that registers its own ids

``DiaryEnv`` is a complete environment in about forty lines: subclass :class:`memgym.envs.base.MemoryEnv`,
say what a step shows (``build_units``), how its prompt looks (``build_messages``), how an action becomes
operations (``parse_text``) and how operations are written as an action (``render_action``: what the
oracle and the baselines write); the base class does retrieval, answering, rewards, spaces and state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memgym.envs.action_parser import ParsedAction, ParseError
from memgym.envs.base import MemoryEnv
from memgym.envs.episode import Episode
from memgym.envs.memory_bank import MemoryEntry
from memgym.envs.operations import Operation
from memgym.envs.units import Unit

SYSTEM = (
    "You keep a diary of a conversation. After each session, write ONE line with what is worth "
    "remembering, or '-' if nothing is."
)


class DiaryEnv(MemoryEnv):
    """One step per session; the action is one diary line, stored as a new memory ('-' stores nothing)."""

    final_system_prompt = SYSTEM

    def build_units(self, episode: Episode) -> list[Unit]:
        units = []
        for session in episode.sessions:
            if session.turns:
                text = "\n".join(f"{t.speaker}: {t.text}" for t in session.turns)
                units.append(
                    Unit(
                        index=len(units),
                        id=session.id,
                        turns=tuple(session.turns),
                        text=text,
                        date_time=session.date_time,
                        n_tokens=len(text.split()),
                    )
                )
        return units

    def build_messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        user = f"Diary so far:\n{self.bank.render()}\n\nSession ({unit.date_time}):\n{unit.text}"
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def parse_text(self, text: Any, unit: Unit) -> ParsedAction:
        if not isinstance(text, str) or not text.strip():
            return ParsedAction(error=ParseError("empty_line", "write one diary line, or '-'"))  # type: ignore[arg-type]
        line = text.strip().splitlines()[0]
        return ParsedAction(ops=[Operation.noop()] if line == "-" else [Operation.add(line)], format="diary_line")  # type: ignore[arg-type]

    def action_grammar(self, style: str = "format", max_tokens: int = 72) -> str | None:
        """One line of at most ``max_tokens`` tokens (for constrained decoding)."""
        return f"start: line\nline[max_tokens={max_tokens - 1}]: /[^\\n]+/\n"

    def render_action(self, ops: Sequence[Operation]) -> str:
        """What is added, as one diary line ('-' when nothing is); this env cannot update or delete."""
        added = [" ".join(op.text.split()) for op in ops if op.kind == "ADD" and op.text]
        return "; ".join(added) or "-"

    def malformed_actions(self) -> list[Any]:
        if self.action_mode == "structured":
            return super().malformed_actions()
        return ["", "   \n", None]


def register_envs() -> None:
    """The callable entry point: registers a variant with its own defaults."""
    from memgym.envs import register

    register(
        "example/DiaryShort-v0", "memgym_example_plugin:DiaryEnv", kwargs={"top_k": 3, "answer_top_k": 5}
    )
