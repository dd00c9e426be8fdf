"""Action parsing (Mem0 JSON and tool calls) and the memory tool schemas."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import get_args

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers.utils.chat_template_utils import render_jinja_template

from memgym.envs.action_parser import (
    ActionFormat,
    ParsedAction,
    ParseError,
    ParseErrorCode,
    SearchRequest,
    parse_action,
)
from memgym.envs.memory_bank import MEM_ALPHA_TIERS, MemoryBank
from memgym.envs.memory_tools import MEMORY_TOOL_SCHEMAS, TOOL_ALIASES, TOOL_NAMES, tool_schemas
from memgym.envs.operations import OP_KINDS, Operation


def ops_of(action: ParsedAction) -> list[tuple]:
    return [(op.kind, op.id, op.text, op.tier) for op in action.ops]


def call(name: str, **arguments: object) -> str:
    return json.dumps({"name": name, "arguments": arguments})


# ---------------------------------------------------------------------------------------------- Mem0


def test_mem0_json_with_every_event() -> None:
    text = json.dumps(
        {
            "memory": [
                {"id": "0", "text": "Ann likes jazz", "event": "ADD"},
                {
                    "id": "m1",
                    "text": "Ann moved to Oslo",
                    "event": "update",
                    "old_memory": "Ann lives in Rome",
                },
                {"id": "m2", "text": "Ann has a cat", "event": " Delete "},
                {"id": "m3", "text": "Ann is 34", "event": "NONE"},
                {"id": "m4", "text": "x", "event": "noop"},
                {"id": 7, "text": "by number", "event": "UPDATE"},
            ]
        }
    )
    action = parse_action(text)
    assert action.format == "mem0_json" and action.error is None and action.ok
    assert ops_of(action) == [
        ("ADD", None, "Ann likes jazz", None),  # the bank assigns ids: the item's is ignored
        ("UPDATE", "m1", "Ann moved to Oslo", None),
        ("DELETE", "m2", None, None),
        ("NOOP", "m3", None, None),
        ("NOOP", "m4", None, None),
        ("UPDATE", "7", "by number", None),
    ]
    assert (action.n_items, action.n_invalid, action.searches) == (6, 0, [])


def test_mem0_bare_list_single_item_tiers_and_default_tier() -> None:
    items = [
        {"text": "a", "event": "ADD"},
        {"text": "b", "event": "ADD", "tier": "episodic"},
        {"id": "m1", "text": "c", "event": "UPDATE"},
    ]
    action = parse_action(json.dumps(items), default_tier="semantic")
    assert ops_of(action) == [
        ("ADD", None, "a", "semantic"),
        ("ADD", None, "b", "episodic"),
        ("UPDATE", "m1", "c", None),
    ]  # default_tier is for inserts only
    single = parse_action('{"event": "DELETE", "id": "m5"}')
    assert (single.format, ops_of(single)) == ("mem0_json", [("DELETE", "m5", None, None)])


@pytest.mark.parametrize("text", ['{"memory": []}', "[]", 'Nothing new here: ```json\n{"memory": []}\n```'])
def test_empty_memory_list_is_a_noop_without_error(text: str) -> None:
    action = parse_action(text)
    assert (action.format, ops_of(action), action.error) == ("mem0_json", [("NOOP", None, None, None)], None)


def test_partial_validity_keeps_valid_ops_and_describes_invalid_items() -> None:
    text = json.dumps(
        {
            "memory": [
                {"text": "ok", "event": "ADD"},
                {"text": "no id", "event": "UPDATE"},
                "just a string",
                {"id": "m1", "event": "DELETE"},
                {"id": "m2", "text": "x", "event": "MERGE"},
            ]
        }
    )
    action = parse_action(text)
    assert ops_of(action) == [("ADD", None, "ok", None), ("DELETE", "m1", None, None)]
    assert action.error == ParseError(
        "invalid_item",
        "item 2 of 'memory': UPDATE needs 'id'; item 3 of 'memory': expected an object, got a string; "
        "item 5 of 'memory': unknown event 'MERGE'; use ADD, UPDATE, DELETE or NONE",
    )
    assert (action.n_items, action.n_invalid, action.ok) == (5, 3, False)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"text": "a"}, "item 1 of 'memory': needs an 'event': ADD, UPDATE, DELETE or NONE"),
        ({"event": "ADD"}, "item 1 of 'memory': ADD needs 'text' (a string)"),
        ({"event": "ADD", "text": ["a"]}, "item 1 of 'memory': ADD needs 'text' (a string)"),
        ({"event": "UPDATE", "id": "m1"}, "item 1 of 'memory': UPDATE needs 'text' (a string)"),
        ({"event": "DELETE"}, "item 1 of 'memory': DELETE needs 'id'"),
        ({"event": "DELETE", "id": True}, "item 1 of 'memory': 'id' must be a string, got a boolean"),
        ({"event": "DELETE", "id": "  "}, "item 1 of 'memory': DELETE needs 'id'"),
        (
            {"event": "ADD", "text": "a", "tier": 3},
            "item 1 of 'memory': 'tier' must be a string, got a number",
        ),
    ],
)
def test_invalid_mem0_items(item: dict, message: str) -> None:
    action = parse_action(json.dumps({"memory": [item]}))
    assert action.ops == [] and action.error == ParseError("invalid_item", message)


def test_memory_that_is_not_a_list() -> None:
    action = parse_action('{"memory": "Ann likes jazz"}')
    assert action.format == "mem0_json" and action.error == ParseError(
        "invalid_item", "'memory' must be a list of items, got a string"
    )


# ----------------------------------------------------------------------------------------- tool calls


def test_hermes_tool_calls_many_and_an_unclosed_last_one() -> None:
    text = (
        "I'll store this.\n<tool_call>\n"
        + call("memory_insert", content="Ann likes jazz", tier="semantic")
        + "\n</tool_call>\n<tool_call>"
        + call("memory_search", query="jazz", top_k=3)
        + "</tool_call>\n"
        + "<tool_call>\n"
        + call("memory_delete", memory_id="m2")  # cut off by the stop token
    )
    action = parse_action(text)
    assert action.format == "tool_calls" and action.error is None
    assert ops_of(action) == [("ADD", None, "Ann likes jazz", "semantic"), ("DELETE", "m2", None, None)]
    assert action.searches == [SearchRequest("jazz", None, 3)]
    assert action.n_items == 3


def test_tool_call_tags_inside_json_strings_are_just_text() -> None:
    mem0 = parse_action(json.dumps({"memory": [{"text": "the <tool_call> tag", "event": "ADD"}]}))
    assert (mem0.format, ops_of(mem0), mem0.error) == (
        "mem0_json",
        [("ADD", None, "the <tool_call> tag", None)],
        None,
    )
    text = "<tool_call>" + call("memory_insert", content="x <tool_call> y </tool_call>") + "</tool_call>"
    tools = parse_action(text)
    assert (ops_of(tools), tools.error, tools.n_items) == (
        [("ADD", None, "x <tool_call> y </tool_call>", None)],
        None,
        1,
    )


def test_bare_tool_call_objects_lists_and_consecutive_objects() -> None:
    one = parse_action(call("memory_update", memory_id="m1", new_content="new"))
    assert ops_of(one) == [("UPDATE", "m1", "new", None)]
    many = parse_action(
        "[" + call("memory_insert", content="a") + ", " + call("memory_delete", memory_id=3) + "]"
    )
    assert ops_of(many) == [("ADD", None, "a", None), ("DELETE", "3", None, None)]
    lines = parse_action(call("memory_insert", content="a") + "\n" + call("memory_insert", content="b"))
    assert ops_of(lines) == [("ADD", None, "a", None), ("ADD", None, "b", None)]


def test_openai_tool_calls_with_json_string_arguments() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "memory_update",
                    "arguments": json.dumps({"memory_id": "m3", "new_content": "z"}),
                },
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "memory_search", "arguments": '{"query": "q"}'},
            },
        ],
    }
    for action in (parse_action(json.dumps(message)), parse_action(message)):  # as text and as decoded JSON
        assert action.format == "tool_calls" and action.error is None
        assert ops_of(action) == [("UPDATE", "m3", "z", None)] and action.searches == [SearchRequest("q")]


def test_openai_message_without_tool_calls_changes_nothing() -> None:
    action = parse_action('{"role": "assistant", "content": "nothing to store", "tool_calls": null}')
    assert (action.format, action.ops, action.error) == ("tool_calls", [], None)


def test_aliases_mem_alpha_spelling_and_llama_parameters() -> None:
    text = "\n".join(
        [
            call("new_memory_insert", memory_type="episodic_memory", content="met Ann"),
            call("memory_update", memory_type="core_memory", new_content="User: Ann"),
            json.dumps(
                {"name": "search_memory", "parameters": {"query": "Ann", "memory_type": "semantic_memory"}}
            ),
            call("add_memory", data="mem0 style"),
            call("memory_add", text="alias"),
            call("delete_memory", id="m1"),
        ]
    )
    action = parse_action(text, default_tier="semantic")
    assert action.error is None
    assert ops_of(action) == [
        ("ADD", None, "met Ann", "episodic"),
        ("UPDATE", None, "User: Ann", "core"),
        ("ADD", None, "mem0 style", "semantic"),
        ("ADD", None, "alias", "semantic"),
        ("DELETE", "m1", None, None),
    ]
    assert action.searches == [SearchRequest("Ann", "semantic", None)]
    assert set(TOOL_ALIASES.values()) <= set(TOOL_NAMES)


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (
            call("memory_update", new_content="x"),
            "invalid_item",
            "tool call 1 (memory_update): needs 'memory_id'",
        ),
        (
            call("memory_update", memory_id="m1"),
            "invalid_item",
            "tool call 1 (memory_update): needs 'new_content' (a string)",
        ),
        (
            call("memory_insert", content=5),
            "invalid_item",
            "tool call 1 (memory_insert): needs 'content' (a string)",
        ),
        (call("memory_search"), "invalid_item", "tool call 1 (memory_search): needs 'query' (a string)"),
        (
            call("memory_search", query="q", top_k=0),
            "invalid_item",
            "tool call 1 (memory_search): 'top_k' must be a positive integer, got 0",
        ),
        (
            json.dumps({"name": "memory_insert", "arguments": [1]}),
            "invalid_item",
            "tool call 1 (memory_insert): 'arguments' must be an object, got a list",
        ),
        (
            json.dumps({"name": "memory_insert", "arguments": '{"content": "a",}'}),
            "invalid_json",
            "tool call 1 (memory_insert): its arguments are not valid JSON: Expecting property name enclosed in "
            "double quotes at char 16",
        ),
        (json.dumps({"function": {"arguments": {}}}), "invalid_item", "tool call 1: needs the tool's 'name'"),
        (
            call("memroy_delete", memory_id="m1"),
            "unknown_tool",
            "tool call 1 ('memroy_delete'): unknown tool 'memroy_delete'. Did you mean memory_delete? "
            "Tools: memory_insert, memory_update, memory_delete, memory_search",
        ),
        (
            '{"tool_calls": {"name": "memory_insert"}}',
            "invalid_item",
            "'tool_calls' must be a list, got an object",
        ),
    ],
)
def test_invalid_tool_calls(text: str, code: str, message: str) -> None:
    action = parse_action(text)
    assert action.format == "tool_calls" and action.ops == [] and action.searches == []
    assert action.error == ParseError(code, message)  # type: ignore[arg-type]


def test_top_k_as_digit_string_and_partial_tool_calls() -> None:
    text = (
        "<tool_call>" + call("memory_search", query="q", top_k="5") + "</tool_call>"
        '<tool_call>{"name": "memory_insert", "arguments": {"content": "a",}}</tool_call>'
        "<tool_call>" + call("forget_all") + "</tool_call>"
    )
    action = parse_action(text)
    assert action.searches == [SearchRequest("q", None, 5)] and action.ops == []
    assert action.error is not None and action.error.code == "invalid_json"  # the broken block comes first
    assert action.error.message.startswith("<tool_call> block 2: invalid JSON at line 1, column")
    assert "tool call 2 ('forget_all'): unknown tool 'forget_all'" in action.error.message
    assert (action.n_items, action.n_invalid) == (3, 2)


def test_trl_parsed_message_is_accepted() -> None:
    # The dict TRL's parse_response returns for a Qwen3 tool call.
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": "memory_insert", "arguments": {"content": "a", "tier": "episodic"}},
            }
        ],
    }
    assert ops_of(parse_action(message)) == [("ADD", None, "a", "episodic")]


# ----------------------------------------------------------------------------- prose, fences, errors


def test_json_in_prose_and_fences_first_matching_candidate_wins() -> None:
    text = (
        'Thoughts: {"reasoning": "Ann moved"} so I update.\n```json\n'
        '{"memory": [{"id": "m1", "text": "Ann lives in Oslo", "event": "UPDATE"}]}\n```\n'
        'Alternative: {"memory": [{"text": "ignored", "event": "ADD"}]}'
    )
    action = parse_action(text)
    assert ops_of(action) == [("UPDATE", "m1", "Ann lives in Oslo", None)] and action.error is None


def test_a_broken_attempt_followed_by_a_fixed_one_uses_the_fixed_one() -> None:
    text = '{"memory": [{"text": "a", "event": "ADD"},]}\nOops, fixed: {"memory": [{"text": "a", "event": "ADD"}]}'
    assert ops_of(parse_action(text)) == [("ADD", None, "a", None)]


@pytest.mark.parametrize(
    ("text", "code", "pattern"),
    [
        ("I have nothing to store [see above].", "no_json", "no JSON found"),
        ("", "no_json", "no JSON found"),
        (
            '```json\n{"memory": [\n  {"text": "a", "event": "ADD"},\n]}\n```',
            "invalid_json",
            r"invalid JSON at line 4, column 1 \(char \d+\): Expecting value, near",
        ),
        (
            "{'memory': []}",
            "invalid_json",
            "line 1, column 2 (char 1): Expecting property name enclosed in double",
        ),
        ('{"memory": [{"text": "cut off by max_new_tokens", "ev', "invalid_json", "Unterminated string"),
        ("[" * 5000, "invalid_json", "nested too deeply"),
        (
            'Result: {"answer": "Oslo"}',
            "unknown_format",
            "found JSON at char 8 (an object with keys 'answer'), but it is neither Mem0's",
        ),
        ("[1, 2, 3]", "unknown_format", "(a list of 3 item(s))"),
        (
            "<tool_call>I want to add a memory</tool_call>",
            "invalid_json",
            "<tool_call> block 1: no JSON object inside",
        ),
    ],
)
def test_error_codes_with_what_and_where(text: str, code: str, pattern: str) -> None:
    action = parse_action(text)
    assert action.error is not None and action.error.code == code
    assert re.search(pattern if "\\" in pattern else re.escape(pattern), action.error.message)
    assert action.ops == [] and action.searches == []


def test_fragments_of_a_broken_action_are_not_taken_for_the_action() -> None:
    # The inner item is well-formed JSON, but the action around it is broken: nothing may be applied.
    action = parse_action('{"memory": [{"text": "a", "event": "ADD"}, {"text": "b" "event": "ADD"}]}')
    assert action.ops == [] and action.error is not None and action.error.code == "invalid_json"
    assert "Expecting ',' delimiter" in action.error.message


def test_a_parser_bug_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one place a stand-in is needed: a bug cannot be produced on purpose in the real parser.
    def broken(text: str, default_tier: str | None) -> ParsedAction:
        raise KeyError("boom")

    monkeypatch.setattr("memgym.envs.action_parser._parse_text", broken)
    action = parse_action('{"memory": []}')
    assert action.error == ParseError("internal_error", "the parser failed on this input (KeyError: 'boom')")


@pytest.mark.parametrize("value", [None, 42, 3.5, object(), ("memory",)])
def test_non_text_input_is_invalid_input(value: object) -> None:
    action = parse_action(value)
    assert action.error is not None and action.error.code == "invalid_input"
    assert type(value).__name__ in action.error.message


def test_bytes_are_decoded() -> None:
    assert ops_of(parse_action('{"memory": [{"text": "café", "event": "ADD"}]}'.encode())) == [
        ("ADD", None, "café", None)
    ]


def test_parsed_ops_drive_a_real_bank() -> None:
    bank = MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",))
    first = parse_action(
        "<tool_call>"
        + call("memory_insert", content="Ann likes jazz", tier="semantic")
        + "</tool_call><tool_call>"
        + call("memory_update", tier="core", new_content="User: Ann")
        + "</tool_call>"
    )
    assert [r.ok for r in bank.apply(first.ops)] == [True, True]
    second = parse_action(
        '{"memory": [{"id": "m1", "text": "Ann likes blues", "event": "UPDATE"},'
        ' {"id": "m9", "event": "DELETE"}]}'
    )
    results = bank.apply(second.ops)
    assert [(r.ok, r.error) for r in results] == [(True, None), (False, "unknown_id")]
    assert bank.render() == (
        "<core>\n[m2] User: Ann\n</core>\n<semantic>\n[m1] Ann likes blues\n</semantic>"
        "\n<episodic>\n(no memories)\n</episodic>"
    )


# -------------------------------------------------------------------------------------- tool schemas

# TRL's Qwen3 chat template, read from the installed package (importing trl takes many seconds).
QWEN3_TEMPLATE = (
    Path(importlib.util.find_spec("trl").submodule_search_locations[0]) / "chat_templates" / "qwen3.jinja"
).read_text(encoding="utf-8")


def test_tool_schemas_fill_the_tier_enum() -> None:
    schemas = {
        s["function"]["name"]: s["function"]["parameters"]
        for s in tool_schemas(MEM_ALPHA_TIERS, single_slot_tiers=["core"])
    }
    assert list(schemas) == list(TOOL_NAMES)
    assert schemas["memory_insert"]["properties"]["tier"]["enum"] == [
        "semantic",
        "episodic",
    ]  # core: update only
    assert schemas["memory_update"]["properties"]["tier"]["enum"] == ["core", "semantic", "episodic"]
    assert schemas["memory_update"]["required"] == ["tier", "new_content"]  # core is rewritten without an id
    assert schemas["memory_delete"]["required"] == ["tier"]
    flat = {
        s["function"]["name"]: s["function"]["parameters"] for s in tool_schemas(["memory"], search=False)
    }
    assert list(flat) == ["memory_insert", "memory_update", "memory_delete"]
    assert "tier" not in flat["memory_insert"]["properties"]
    assert flat["memory_update"]["required"] == ["memory_id", "new_content"]
    tiered = {
        s["function"]["name"]: s["function"]["parameters"] for s in tool_schemas(["semantic", "episodic"])
    }
    assert tiered["memory_update"]["required"] == ["tier", "memory_id", "new_content"]
    assert MEMORY_TOOL_SCHEMAS == tool_schemas(MEM_ALPHA_TIERS, single_slot_tiers=("core",))


EXAMPLE_ARGUMENTS = {
    "memory_insert": {"content": "Ann likes jazz", "tier": "episodic"},
    "memory_update": {"memory_id": "m1", "new_content": "Ann likes blues", "tier": "semantic"},
    "memory_delete": {"memory_id": "m1", "tier": "semantic"},
    "memory_search": {"query": "jazz", "tier": "semantic", "top_k": 2},
}


SCHEMA_CONFIGS = {
    "mem_alpha": tool_schemas(MEM_ALPHA_TIERS, single_slot_tiers=("core",)),
    "tiered": tool_schemas(("semantic", "episodic")),
    "flat": tool_schemas(("memory",)),
    "single_block": tool_schemas(("memory",), single_slot_tiers=("memory",)),  # MemAgent-style overwrite
}


@pytest.mark.parametrize("config", list(SCHEMA_CONFIGS))
def test_schemas_are_valid_json_schema_and_agree_with_the_parser(config: str) -> None:
    for schema in SCHEMA_CONFIGS[config]:
        name, parameters = schema["function"]["name"], schema["function"]["parameters"]
        jsonschema.Draft202012Validator.check_schema(parameters)
        full = {k: v for k, v in EXAMPLE_ARGUMENTS[name].items() if k in parameters["properties"]}
        if "tier" in full:
            full["tier"] = parameters["properties"]["tier"]["enum"][-1]
        minimal = {k: v for k, v in full.items() if k in parameters["required"]}
        for arguments in (full, minimal):
            jsonschema.validate(arguments, parameters)  # what the schema allows...
            action = parse_action(call(name, **arguments))  # ...the parser accepts
            assert action.error is None and len(action.ops) + len(action.searches) == 1, (name, arguments)
        if "tier" in parameters["properties"]:
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate({**full, "tier": "procedural"}, parameters)


def test_schemas_render_through_a_real_chat_template_and_round_trip() -> None:
    calls = [
        {"type": "function", "function": {"name": n, "arguments": a}} for n, a in EXAMPLE_ARGUMENTS.items()
    ]
    conversation = [
        {"role": "user", "content": "Ann: I like jazz."},
        {"role": "assistant", "content": "", "tool_calls": calls},
    ]
    rendered = render_jinja_template([conversation], tools=MEMORY_TOOL_SCHEMAS, chat_template=QWEN3_TEMPLATE)[
        0
    ][0]
    for name in TOOL_NAMES:
        assert f'"name": "{name}"' in rendered
    reply = rendered.split("<|im_start|>assistant")[-1]
    action = parse_action(reply)
    assert action.error is None
    assert ops_of(action) == [
        ("ADD", None, "Ann likes jazz", "episodic"),
        ("UPDATE", "m1", "Ann likes blues", "semantic"),
        ("DELETE", "m1", None, "semantic"),
    ]
    assert action.searches == [SearchRequest("jazz", "semantic", 2)]


# ------------------------------------------------------------------------------------ property tests

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = [
    "memory",
    "event",
    "id",
    "text",
    "tier",
    "name",
    "arguments",
    "parameters",
    "function",
    "tool_calls",
    "content",
    "new_content",
    "memory_id",
    "query",
    "top_k",
    "memory_type",
    "old_memory",
]
STRINGS = [
    "ADD",
    "update",
    "DELETE",
    "NONE",
    "noop",
    "memory_insert",
    "memory_update",
    "memory_delete",
    "memory_search",
    "new_memory_insert",
    "core",
    "semantic_memory",
    "m1",
    "",
    "5",
    '{"content": "x"}',
]
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=10),
        st.sampled_from(STRINGS),
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), children, max_size=5)
    ),
    max_leaves=25,
)
wrappers = st.sampled_from(
    [
        "{}",
        "Here you go: {} done",
        "```json\n{}\n```",
        "<tool_call>{}</tool_call>",
        "<tool_call>\n{}",
        "{}\n{}",
    ]
)


def check_well_formed(action: object) -> None:
    assert isinstance(action, ParsedAction)
    assert all(isinstance(op, Operation) and op.kind in OP_KINDS for op in action.ops)
    assert all(op.text is None or isinstance(op.text, str) for op in action.ops)
    assert all(op.id is None or isinstance(op.id, str) for op in action.ops)
    assert all(op.tier is None or isinstance(op.tier, str) for op in action.ops)
    assert all(isinstance(s, SearchRequest) and isinstance(s.query, str) for s in action.searches)
    assert action.format in get_args(ActionFormat)
    assert 0 <= action.n_invalid <= action.n_items
    if action.error is not None:
        assert action.error.code in get_args(ParseErrorCode) and action.error.code != "internal_error"
        assert isinstance(action.error.message, str) and action.error.message
    # What the parser lets through never crashes the bank either.
    MemoryBank(MEM_ALPHA_TIERS, single_slot_tiers=("core",)).apply(action.ops)


@PROPERTY_SETTINGS
@given(text=st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    check_well_formed(parse_action(text))


@PROPERTY_SETTINGS
@given(value=json_values, wrapper=wrappers, tier=st.one_of(st.none(), st.sampled_from(MEM_ALPHA_TIERS)))
def test_arbitrary_json_never_raises(value: object, wrapper: str, tier: str | None) -> None:
    check_well_formed(parse_action(value, default_tier=tier))
    check_well_formed(parse_action(wrapper.replace("{}", json.dumps(value)), default_tier=tier))


mem0_items = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["ADD", "UPDATE", "DELETE", "NONE"]),
        "id": st.sampled_from(["m1", "m2", "m3"]),
        "text": st.text(min_size=1, max_size=20),
    },
)


@PROPERTY_SETTINGS
@given(items=st.lists(mem0_items, max_size=8))
def test_valid_mem0_actions_parse_to_exactly_their_operations(items: list[dict]) -> None:
    action = parse_action("Memory update:\n```json\n" + json.dumps({"memory": items}) + "\n```")
    expected = [
        {
            "ADD": ("ADD", None, i["text"], None),
            "UPDATE": ("UPDATE", i["id"], i["text"], None),
            "DELETE": ("DELETE", i["id"], None, None),
            "NONE": ("NOOP", i["id"], None, None),
        }[i["event"]]
        for i in items
    ] or [("NOOP", None, None, None)]
    assert action.error is None and ops_of(action) == expected


tool_call_specs = st.tuples(
    st.sampled_from(["memory_insert", "memory_update", "memory_delete", "memory_search"]),
    st.sampled_from(["m1", "m2"]),
    st.text(max_size=20),
    st.sampled_from(MEM_ALPHA_TIERS),
)


@PROPERTY_SETTINGS
@given(
    specs=st.lists(tool_call_specs, min_size=1, max_size=6),
    style=st.sampled_from(["hermes", "openai", "list"]),
)
def test_valid_tool_calls_parse_to_exactly_their_operations(specs: list[tuple], style: str) -> None:
    arguments = {
        "memory_insert": lambda i, t, tier: {"content": t, "tier": tier},
        "memory_update": lambda i, t, tier: {"memory_id": i, "new_content": t, "tier": tier},
        "memory_delete": lambda i, t, tier: {"memory_id": i, "tier": tier},
        "memory_search": lambda i, t, tier: {"query": t, "tier": tier},
    }
    calls = [{"name": name, "arguments": arguments[name](i, t, tier)} for name, i, t, tier in specs]
    if style == "hermes":
        text = "".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>\n" for c in calls)
    elif style == "openai":
        text = json.dumps(
            {
                "tool_calls": [
                    {
                        "type": "function",
                        "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                    }
                    for c in calls
                ]
            }
        )
    else:
        text = json.dumps(calls)
    action = parse_action(text)
    expected_ops = [
        {
            "memory_insert": ("ADD", None, t, tier),
            "memory_update": ("UPDATE", i, t, tier),
            "memory_delete": ("DELETE", i, None, tier),
        }[name]
        for name, i, t, tier in specs
        if name != "memory_search"
    ]
    expected_searches = [SearchRequest(t, tier) for name, _, t, tier in specs if name == "memory_search"]
    assert action.error is None
    assert (ops_of(action), action.searches, action.n_items) == (expected_ops, expected_searches, len(specs))
