import json

import pytest

from stillmake.errors import InputError
from stillmake.inputs.compose import negative, shot_prompt
from stillmake.inputs.prompts import load_prompts
from tests.conftest import assert_located


def write(tmp_path, data, name="prompts.json"):
    p = tmp_path / name
    p.write_text(
        data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8"
    )
    return p


BASE = {
    "project": "T",
    "global": {"style": "grounded", "constraints": ["one action"], "negative": "cgi"},
    "characters": {"leyla": {"description": "girl, 15, green coat", "refs": ["refs/l.png"]}},
}


def test_list_and_mapping_forms_load_the_same(tmp_path):
    shots = [
        {
            "id": "s1",
            "prompt": "a",
            "negative": "blur",
            "lighting": "fluorescent",
            "characters": ["leyla"],
            "extra_key": 1,
        }
    ]
    a = load_prompts(write(tmp_path, {**BASE, "shots": shots}, "a.json"))
    b = load_prompts(
        write(
            tmp_path,
            {**BASE, "shots": {"s1": {k: v for k, v in shots[0].items() if k != "id"}}},
            "b.json",
        )
    )
    assert a.shots == b.shots
    assert a.shot_ids == ["s1"]


def test_negative_prompt_alias_and_composition(tmp_path):
    prod = load_prompts(
        write(
            tmp_path,
            {
                **BASE,
                "shots": [
                    {
                        "id": "s1",
                        "prompt": "Leyla opens a door",
                        "negative_prompt": "extra fingers",
                        "lighting": "red_emergency",
                        "characters": ["leyla"],
                    }
                ],
            },
        )
    )
    text = shot_prompt(prod, prod.shot("s1"))
    assert text.startswith("Leyla opens a door\n")
    assert "Style: grounded" in text and "Constraints: one action" in text
    assert "red emergency" in text and "Leyla: girl, 15, green coat" in text
    assert text.endswith("Avoid: cgi; extra fingers")
    assert negative(prod, prod.shot("s1")) == "cgi; extra fingers"
    assert prod.refs_for(prod.shot("s1"))[0].name == "l.png"


def test_utf8_any_script(tmp_path):
    prod = load_prompts(
        write(tmp_path, {"shots": [{"id": "s1", "prompt": "لیلا در راهرو — 走廊"}]})
    )
    assert "走廊" in shot_prompt(prod, prod.shot("s1"))


def test_broken_json_names_line_and_column(tmp_path):
    p = write(tmp_path, '{"shots": [\n  {"id": "s1", "prompt": "a",}\n]}')
    with pytest.raises(InputError) as e:
        load_prompts(p)
    assert str(p) in str(e.value) and "line 2" in str(e.value) and "column" in str(e.value)


@pytest.mark.parametrize(
    "shots, shot, key, words",
    [
        ([{"id": "s1"}], "s1", None, "missing required key 'prompt'"),
        ([{"id": "s1", "prompt": "   "}], "s1", "prompt", "must not be empty"),
        ([{"id": "s1", "prompt": 3}], "s1", "prompt", "3 is a whole number where text belongs"),
        ([{"prompt": "a"}], "#1", None, "missing required key 'id'"),
        ({"s 1": {"prompt": "a"}}, None, None, "does not match"),
        (
            [{"id": "s1", "prompt": "a", "characters": ["nobody"]}],
            "s1",
            "characters",
            "not defined",
        ),
    ],
)
def test_bad_shots_name_file_shot_and_key(tmp_path, shots, shot, key, words):
    p = write(tmp_path, {"shots": shots})
    with pytest.raises(InputError) as e:
        load_prompts(p)
    assert_located(e.value, p, shot, key, words)


def test_duplicate_shot_id_in_list(tmp_path):
    p = write(tmp_path, {"shots": [{"id": "s1", "prompt": "a"}, {"id": "s1", "prompt": "b"}]})
    with pytest.raises(InputError, match="shot s1.*appears twice"):
        load_prompts(p)


def test_duplicate_shot_id_in_mapping(tmp_path):
    p = write(tmp_path, '{"shots": {"s1": {"prompt": "a"}, "s1": {"prompt": "b"}}}')
    with pytest.raises(InputError, match="'s1' appears twice"):
        load_prompts(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_prompts(tmp_path / "nope.json")


def test_not_utf8(tmp_path):
    p = tmp_path / "p.json"
    p.write_bytes(b'{"shots": [{"id": "s1", "prompt": "\xff"}]}')
    with pytest.raises(InputError, match="not UTF-8"):
        load_prompts(p)


def test_directory_is_one_clear_error(tmp_path):
    with pytest.raises(InputError) as e:
        load_prompts(tmp_path)
    assert_located(e.value, tmp_path, None, None, "is a directory, not a file")


def test_utf8_with_byte_order_mark_loads(tmp_path):
    p = tmp_path / "p.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"shots": [{"id": "s1", "prompt": "a"}]}).encode())
    assert load_prompts(p).shot_ids == ["s1"]


@pytest.mark.parametrize(
    "text, shot, key, lines",
    [
        # list form: the shot is named by its id, not by the repeated key
        (
            '{"shots": [\n {"id": "s1", "prompt": "a"},\n {"id": "s2",\n  "prompt": "b",\n'
            '  "prompt": "c"}\n]}',
            "s2",
            "prompt",
            (4, 5),
        ),
        # mapping form, a key inside one shot
        (
            '{"shots": {\n "s1": {"prompt": "a",\n  "lighting": "x", "lighting": "y"}}}',
            "s1",
            "lighting",
            (3, 3),
        ),
        # mapping form, the shot itself twice
        ('{"shots": {\n "s1": {"prompt": "a"},\n "s1": {"prompt": "b"}\n}}', "s1", None, (2, 3)),
        # outside the shots
        (
            '{"project": "T",\n "project": "U", "shots": [{"id": "s1", "prompt": "a"}]}',
            None,
            "project",
            (1, 2),
        ),
    ],
)
def test_duplicate_keys_name_shot_key_and_both_lines(tmp_path, text, shot, key, lines):
    p = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        load_prompts(p)
    words = f"appears twice (lines {lines[0]} and {lines[1]})"
    if lines[0] == lines[1]:
        words = f"appears twice (line {lines[0]})"
    assert_located(e.value, p, shot, key, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"shots": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        (
            '{"shots": [{"id": "s1", "prompt": "a", "n": 1' + "0" * 5000 + "}]}",
            "cannot be read as JSON",
        ),
    ],
    ids=["deep nesting", "5000-digit number"],
)
def test_json_the_parser_cannot_take_is_one_clear_error(tmp_path, text, words):
    p = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        load_prompts(p)
    assert_located(e.value, p, None, None, words)
