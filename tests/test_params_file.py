"""Reading a params.json file strictly (`HeadModel.read_params`): whatever the bytes, a valid
head or a one-line ValueError that starts with the file's name (FileNotFoundError when there
is no file), never another exception, never slowly."""

from __future__ import annotations

import base64
import json
import math
import random
import re
import struct
import time

import pytest
import torch

from text2head.api import load_params
from text2head.heads import params
from text2head.heads.params import HeadParams

NAME = "params.json"


@pytest.fixture(scope="module")
def painted(head_model) -> HeadParams:
    """A random head with styles and a painted texture residual."""
    generator = torch.Generator().manual_seed(11)
    head = head_model.sample(generator).with_styles(hair="long01", facial_hair="goatee")
    head.texture = tuple(torch.randn(t.shape, generator=generator) for t in head.texture)
    return head


@pytest.fixture(scope="module")
def valid(head_model) -> dict:
    """A valid params.json (no painted residual: small, so mutations hit the parameters)."""
    return json.loads(head_model.to_json(head_model.sample(torch.Generator().manual_seed(5))))


def write(tmp_path, content, name: str = NAME):
    path = tmp_path / name
    if not isinstance(content, bytes | str):
        content = json.dumps(content)
    path.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str)
                     else content)
    return path


def rejection(head_model, path) -> str:
    """The message of the ValueError reading `path` raises (and checks its form)."""
    with pytest.raises(ValueError) as caught:
        head_model.read_params(path)
    message = str(caught.value)
    assert message.startswith(f"{path.name}: "), message
    assert "\n" not in message and len(message) <= params.MAX_MESSAGE_CHARS, message
    return message


def assert_same_head(a: HeadParams, b: HeadParams) -> None:
    for (name, value), (_, other) in zip(a.groups(), b.groups(), strict=True):
        assert torch.equal(value, other), name
    assert a.styles == b.styles
    assert len(a.texture) == len(b.texture)
    for grid, other in zip(a.texture, b.texture, strict=True):
        assert torch.equal(grid, other)


# ----- valid files ---------------------------------------------------------------------------
def test_round_trip_of_a_painted_random_head(head_model, painted, tmp_path):
    path = write(tmp_path, head_model.to_json(painted))
    assert path.stat().st_size < params.MAX_FILE_BYTES
    assert_same_head(head_model.read_params(path), painted)
    assert_same_head(load_params(head_model, str(path)), painted)  # the API and CLI reader
    assert_same_head(head_model.from_json(path.read_text()), painted)  # text still works


def test_largest_file_the_writer_makes_fits_under_the_limit(head_model, painted, tmp_path):
    """Every value with the longest float repr there is, and every level painted."""
    head = painted
    for name, spec in head_model.specs.items():
        low, high = spec.column("low"), spec.column("high")
        long_values = low + (high - low) * torch.full_like(low, 0.123456789)
        head = head.with_group(name, -long_values.abs()[None] if name == "pose"
                               else long_values[None])
    size = len(head_model.to_json(head).encode())
    assert size < 0.8 * params.MAX_FILE_BYTES, size


def test_utf8_bom_and_missing_names(head_model, tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + json.dumps(
        {"format": params.JSON_FORMAT, "expression": {"jawOpen": 0.5}}).encode())
    head = head_model.read_params(path)
    assert float(head.expression[0, head_model.specs["expression"].index("jawOpen")]) == 0.5


# ----- the file itself -----------------------------------------------------------------------
def test_missing_path_names_it(head_model, tmp_path):
    path = tmp_path / "gone.json"
    with pytest.raises(FileNotFoundError, match=re.escape(f"gone.json: parameter file not "
                                                          f"found: {path}")):
        head_model.read_params(path)


def test_folder(head_model, tmp_path):
    folder = tmp_path / "heads.json"
    folder.mkdir()
    assert "is a folder" in rejection(head_model, folder)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b" \n\t ", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\xff", "is not a text file (not UTF-8"),
        (b'{"format": "text2head.params/1", "identity": {"age": "\xe9"}}',
         "is not a text file (not UTF-8: byte 0xe9"),
        (b"glTF\x02\x00\x00\x00\x14\x00\x00\x00" + b"\x00" * 8,
         "looks like a GLB model (binary glTF), not a params.json"),
    ],
)
def test_not_a_json_text(head_model, tmp_path, content, expected):
    assert expected in rejection(head_model, write(tmp_path, content))


def test_glb_renamed_json(head_model, tmp_path):
    chunk = json.dumps({"asset": {"version": "2.0"}}).encode().ljust(28, b" ")
    glb = (b"glTF" + struct.pack("<II", 2, 12 + 8 + len(chunk))
           + struct.pack("<I", len(chunk)) + b"JSON" + chunk)
    assert "looks like a GLB model" in rejection(head_model, write(tmp_path, glb, "head.json"))


@pytest.mark.parametrize("factor", [1.5, 1.0])
def test_too_large_says_size_and_limit(head_model, tmp_path, factor):
    size = int(factor * params.MAX_FILE_BYTES) + 1
    path = write(tmp_path, b" " * size)
    message = rejection(head_model, path)
    assert f"({size:,} bytes; the limit is {params.MAX_FILE_BYTES:,} bytes)" in message


def test_size_is_checked_before_reading(head_model, tmp_path, monkeypatch):
    path = write(tmp_path, b" " * (params.MAX_FILE_BYTES + 1))

    def forbidden(*args, **kwargs):
        raise AssertionError("an oversized file must not be opened")

    monkeypatch.setattr("builtins.open", forbidden)
    assert "is too large" in rejection(head_model, path)


# ----- JSON ----------------------------------------------------------------------------------
def test_malformed_json_gives_line_and_column(head_model, tmp_path):
    text = '{"format": "text2head.params/1",\n "identity": {"age": 0.5,}}'
    message = rejection(head_model, write(tmp_path, text))
    assert "not valid JSON" in message and "line 2, column 26" in message


@pytest.mark.parametrize("unit", [b"[", b'{"a":', b'{"a":[', b"[" * 999 + b"]" * 999 + b"["])
def test_deep_nesting_is_quick_and_clear(head_model, tmp_path, unit):
    path = write(tmp_path, (unit * (params.MAX_FILE_BYTES // len(unit)))[: params.MAX_FILE_BYTES])
    start = time.perf_counter()
    message = rejection(head_model, path)
    assert time.perf_counter() - start < 2.0
    assert "nested too deeply" in message


def test_brackets_inside_strings_are_not_nesting(head_model, tmp_path, valid):
    data = {**valid, "styles": {**valid["styles"], "hair": "[{" * 10_000 + '\\"' + "]}"}}
    assert "unknown hair style '[{[{" in rejection(head_model, write(tmp_path, data))


def test_huge_integer_literal(head_model, tmp_path, valid):
    text = '{"format": "text2head.params/1", "pose": {"yaw": ' + "9" * 5000 + "}}"
    assert "not valid JSON: a number is too long" in rejection(head_model, write(tmp_path, text))


@pytest.mark.parametrize(("content", "found"), [([], "a list"), ('"text"', "the text 'text'"),
                                                (None, "null"), (1.5, "1.5")])
def test_top_level_must_be_an_object(head_model, tmp_path, content, found):
    message = rejection(head_model, write(tmp_path, content))
    assert f"the top level must be a JSON object, found {found}" in message


# ----- schema and version --------------------------------------------------------------------
def test_missing_format(head_model, tmp_path, valid):
    data = {key: value for key, value in valid.items() if key != "format"}
    assert 'not a text2head parameter file: it has no "format"' in rejection(
        head_model, write(tmp_path, data))


def test_other_version_is_named(head_model, tmp_path, valid):
    message = rejection(head_model, write(tmp_path, {**valid, "format": "text2head.params/2"}))
    assert "'text2head.params/2' is version 2" in message
    assert "reads only 'text2head.params/1'" in message


def test_other_format(head_model, tmp_path, valid):
    message = rejection(head_model, write(tmp_path, {**valid, "format": "gltf"}))
    assert "not a text2head parameter file: format is the text 'gltf'" in message


def test_every_unknown_key_is_named_with_its_place(head_model, tmp_path, valid):
    data = json.loads(json.dumps(valid))
    data["hats"] = {}
    data["identity"].update(foo=1, bar=2)
    data["expression"]["jawopen"] = 0.5
    data["styles"]["cape"] = "red"
    message = rejection(head_model, write(tmp_path, data))
    for part in ("unknown group(s) at the top level: 'hats'",
                 "unknown parameter(s) in identity: 'foo', 'bar'",
                 "unknown parameter(s) in expression: 'jawopen' (did you mean 'jawOpen'?)",
                 "unknown part(s) in styles: 'cape'"):
        assert part in message


def test_unknown_texture_keys_and_long_lists(head_model, tmp_path, painted, valid):
    data = json.loads(head_model.to_json(painted))
    data["texture_residual"][2]["dtype"] = "f4"
    assert "unknown key(s) in texture_residual level 2: 'dtype'" in rejection(
        head_model, write(tmp_path, data))
    many = {**valid, "pose": {f"{'x' * 50}{i}": 0 for i in range(500)}}
    message = rejection(head_model, write(tmp_path, many))
    assert message.startswith(f"{NAME}: unknown parameter(s) in pose: 'xxx") and "more" in message


# ----- values --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("group", "key", "literal", "expected"),
    [
        ("identity", "age", "NaN", "identity parameter 'age' is NaN"),
        ("pose", "yaw", "Infinity", "pose parameter 'yaw' is infinite"),
        ("pose", "roll", "-Infinity", "pose parameter 'roll' is infinite"),
        ("expression", "jawOpen", "1e999", "expression parameter 'jawOpen' is infinite"),
        ("identity", "age", "1e308", "identity parameter 'age' = 1e+308 is outside [0, 1]"),
        ("identity", "age", "-1" + "0" * 400, "identity parameter 'age' is infinite"),
        ("hair", "hair_grey", "1e39", "hair parameter 'hair_grey' = 1e+39 is outside [0, 1]"),
        ("pose", "yaw", '"12"', "pose parameter 'yaw' must be a number, found the text '12'"),
        ("identity", "age", "true", "identity parameter 'age' must be a number, found true"),
        ("identity", "age", "null", "identity parameter 'age' must be a number, found null"),
        ("identity", "age", "[0.5]", "identity parameter 'age' must be a number, found a list"),
    ],
)
def test_bad_values_are_named(head_model, tmp_path, valid, group, key, literal, expected):
    text = json.dumps({**valid, group: {key: 0}}).replace(f'"{key}": 0', f'"{key}": {literal}')
    assert expected in rejection(head_model, write(tmp_path, text))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"identity": [0.5]}, "identity must be an object of parameter names to numbers, "
                              "found a list"),
        ({"pose": None}, "pose must be an object of parameter names to numbers, found null"),
        ({"styles": 3}, "styles must be an object of part names to style names, found 3"),
        ({"styles": {"hair": 1}}, "hair style must be a name, found 1"),
        ({"styles": {"hair": "mohawk"}}, "unknown hair style 'mohawk'; known: none, buzz, afro01"),
        ({"texture_residual": "painted"}, "texture_residual must be a list of 6 levels or null"),
        ({"texture_residual": [None] * 6}, "texture_residual level 0 must be an object"),
    ],
)
def test_wrong_types_are_named(head_model, tmp_path, valid, edit, expected):
    assert expected in rejection(head_model, write(tmp_path, {**valid, **edit}))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"shape": [3, 9, 9]}, "texture_residual level 1 must have shape [3, 16, 16], "
                               "found [3, 9, 9]"),
        ({"shape": "3x16x16"}, "must have shape [3, 16, 16], found the text '3x16x16'"),
        ({"float32_base64": 5}, "level 1: float32_base64 must be a text, found 5"),
        ({"float32_base64": "@@@@"}, "level 1: float32_base64 is not valid base64"),
        ({"float32_base64": "é"}, "level 1: float32_base64 is not valid base64"),
        ({"float32_base64": "AAAA"}, "texture_residual level 1 holds 3 bytes"),
        ({"float32_base64": base64.b64encode(struct.pack("<f", math.nan) * 768).decode()},
         "texture level 1 contains NaN or inf"),
    ],
)
def test_bad_texture_residual(head_model, tmp_path, painted, change, expected):
    data = json.loads(head_model.to_json(painted))
    data["texture_residual"][1].update(change)
    assert expected in rejection(head_model, write(tmp_path, data))


# ----- fuzz ----------------------------------------------------------------------------------
TOKENS = ["{", "}", "[", "]", ",", ":", '"', "null", "true", "false", "NaN", "Infinity",
          "-Infinity", "1e999", "1e308", "-0", "0.5", '"x"', "\\", "\\u0000", '"\\ud800"', "{}",
          "[]", '{"a": 1}', "9" * 30, "[" * 50, "\x00", "\u00e9", '"format"', ",,"]
VALUES = [None, True, False, 0, -1, 0.5, 1e308, -1e-320, 10**30, "", "none", "long01",
          "text2head.params/1", [], [0.5], {}, {"age": 0.5}, {"shape": [3, 8, 8]}]


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return rng.choice(TOKENS).encode("utf-8", "surrogatepass")
    kind = rng.randrange(5)
    at = rng.randrange(len(data) + 1)
    if kind == 0:  # flip bits of one byte
        return data[:at] + bytes([data[at % len(data)] ^ rng.randrange(1, 256)]) + data[at + 1:]
    if kind == 1:
        return data[:at]
    if kind == 2:
        return data[:at] + rng.choice(TOKENS).encode("utf-8", "surrogatepass") + data[at:]
    if kind == 3:
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8))) + data[at:]
    end = min(len(data), at + rng.randrange(1, 40))
    return data[:at] + data[end:]


def _containers(value, found):
    if isinstance(value, dict | list):
        found.append(value)
        for child in (value.values() if isinstance(value, dict) else value):
            _containers(child, found)
    return found


def _mutate_structure(data: dict, rng: random.Random) -> dict:
    data = json.loads(json.dumps(data))
    for _ in range(rng.randrange(1, 4)):
        container = rng.choice(_containers(data, []))
        if not container:
            continue
        key = (rng.choice(list(container)) if isinstance(container, dict)
               else rng.randrange(len(container)))
        kind = rng.randrange(4)
        if kind == 0:
            del container[key]
        elif kind == 1:
            container[key] = rng.choice([v for v in VALUES if type(v) is not type(container[key])])
        elif kind == 2 and isinstance(container, dict):
            container[key + rng.choice(["", "_", "x"])] = container.pop(key)
        else:
            container[key] = rng.choice([float("nan"), float("inf"), -float("inf"), 1e308,
                                         -1e308, 2.0, -200.0])
    return data


def test_mutation_fuzz_loads_a_valid_head_or_names_the_file(head_model, tmp_path, valid,
                                                            painted):
    rng = random.Random(20240610)
    base = json.dumps(valid, indent=1).encode()
    painted_base = json.loads(head_model.to_json(painted))
    loaded = rejected = 0
    for case in range(300):
        if case % 3 == 0:
            source = painted_base if case % 30 == 0 else valid
            content = json.dumps(_mutate_structure(source, rng)).encode()
        else:
            content = base
            for _ in range(rng.randrange(1, 4)):
                content = _mutate_bytes(content, rng)
        path = write(tmp_path, content)
        try:
            head = head_model.read_params(path)
        except ValueError as error:
            message = str(error)
            assert message.startswith(f"{NAME}: "), (case, message)
            assert "\n" not in message and len(message) <= params.MAX_MESSAGE_CHARS, message
            rejected += 1
        else:
            head_model.validate(head)
            loaded += 1
    assert loaded >= 10 and rejected >= 100, (loaded, rejected)  # both kinds were tried
