"""Located YAML/JSON: every value's line by its pydantic-style path, and one-line pydantic errors."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from agentotel.core.yaml_lines import LocatedSyntaxError, error_message, parse_located

TEXT = """\
name: demo
items:
  - id: a
    tags: [x, y]
  - id: b

    nested:
      deep: 1
7: seven
"""


def test_every_value_is_located_at_its_key_or_item_line():
    doc = parse_located(TEXT)
    assert doc.data["items"][1]["nested"] == {"deep": 1}
    assert doc.line_of(()) == 1 and doc.line_of(("name",)) == 1 and doc.line_of(("items",)) == 2
    assert doc.line_of(("items", 0)) == 3 and doc.line_of(("items", 0, "tags", 1)) == 4
    assert doc.line_of(("items", 1)) == 5 and doc.line_of(("items", 1, "nested", "deep")) == 8
    assert doc.line_of((7,)) == 9
    # a path the file does not hold (a missing key) falls back to the nearest enclosing value
    assert doc.line_of(("items", 1, "missing", "x")) == 5


def test_merge_keys_are_located_where_the_anchor_has_them_unless_set_again():
    doc = parse_located("base: &b {kind: x, size: 1}\nitem:\n  <<: *b\n  size: 2\n")
    assert doc.data["item"] == {"kind": "x", "size": 2}
    assert doc.line_of(("item", "kind")) == 1 and doc.line_of(("item", "size")) == 4
    assert ("item", "<<") not in doc.lines


def test_json_is_located_too_and_syntax_errors_name_the_line():
    doc = parse_located(json.dumps({"a": [1, {"b": 2}]}, indent=2), json_syntax=True)
    assert doc.data == {"a": [1, {"b": 2}]} and doc.line_of(("a", 1, "b")) == 5
    with pytest.raises(LocatedSyntaxError, match="invalid JSON at line 2 column 1") as json_error:
        parse_located('{"a": 1,\n}', json_syntax=True)
    assert json_error.value.line == 2
    with pytest.raises(LocatedSyntaxError, match="invalid YAML at line 2 column 1") as yaml_error:
        parse_located("a: 1\n- b\n")
    assert yaml_error.value.line == 2


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    size: int = 0


class _Doc(BaseModel):
    items: list[_Item]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"items": [{"id": "a", "sise": 1}]}, "'items' item 1: unknown field 'sise'"),
        ({"items": [{}]}, "'items' item 1: 'id' is required"),
        ({"items": [{"id": "a", "size": "big"}]}, "'items' item 1 'size': Input should be a valid integer, unable to parse string as an integer"),
        ({"items": [[1]]}, "'items' item 1: must be a mapping, got list"),
    ],
)
def test_pydantic_errors_read_as_one_line(data, message):
    with pytest.raises(ValidationError) as excinfo:
        _Doc.model_validate(data)
    assert error_message(excinfo.value.errors()[0]) == message
