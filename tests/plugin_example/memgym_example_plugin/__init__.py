"""An example third-party memgym environment package; it lives outside memgym on purpose.

``tests/test_env_plugin.py`` installs it the way pip would (a ``.dist-info`` with ``entry_points.txt`` on
``sys.path``) and checks that memgym discovers it through the ``memgym.envs`` entry-point group. A real
package declares the same in its ``pyproject.toml``::

    [project.entry-points."memgym.envs"]
    "example/Diary-v0" = "memgym_example_plugin:DiaryEnv"    # an env class, registered under this id
    example = "memgym_example_plugin:register_envs"          # a callable that registers its own ids

``DiaryEnv`` is a complete environment in about forty lines: subclass :class:`memgym.envs.base.MemoryEnv`,
say what a step shows (``_build_units``), how its prompt looks (``_messages``) and how an action becomes
operations (``_parse_text``); the base class does retrieval, answering, rewards, spaces and state.
"""

from __future__ import annotations

from typing import Any

from memgym.envs.action_parser import ParseError
from memgym.envs.base import MemoryEnv, Unit
from memgym.envs.episode import Episode
from memgym.envs.memory_bank import MemoryEntry
from memgym.envs.operations import Operation

SYSTEM = (
    "You keep a diary of a conversation. After each session, write ONE line with what is worth "
    "remembering, or '-' if nothing is."
)


class DiaryEnv(MemoryEnv):
    """One step per session; the action is one diary line, stored as a new memory ('-' stores nothing)."""

    final_system_prompt = SYSTEM

    def _build_units(self, episode: Episode) -> list[Unit]:
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

    def _messages(self, unit: Unit, shown: list[MemoryEntry]) -> list[dict[str, str]]:
        user = f"Diary so far:\n{self.bank.render()}\n\nSession ({unit.date_time}):\n{unit.text}"
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _parse_text(self, text: Any, unit: Unit) -> tuple[list[Operation], list, ParseError | None, str]:
        if not isinstance(text, str) or not text.strip():
            return [], [], ParseError("empty_line", "write one diary line, or '-'"), "none"
        line = text.strip().splitlines()[0]
        return ([Operation.noop()] if line == "-" else [Operation.add(line)]), [], None, "diary_line"

    def _render_action(self, ops: list[Operation]) -> str:
        return next((op.text for op in ops if op.kind == "ADD" and op.text), "-")

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
