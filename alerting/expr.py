"""Composite rule expressions: ``a and (b or not c)`` over other rules' conditions.

``parse_expr`` turns the text into nested tuples (``("ref", name)``, ``("not", t)``, ``("and", l, r)``,
``("or", l, r)``); ``names`` lists the rules a tree refers to; ``evaluate`` computes it given each
rule's truth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Tree = tuple[Any, ...]
_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z_][\w.\-]*)")


def parse_expr(text: str) -> Tree:
    """Parse ``a and (b or not c)``; ``ValueError`` says what is wrong and where."""
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"unexpected character at {pos}: {text[pos:pos + 10]!r}")
        tokens.append(match.group(1))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    tree, rest = _parse_or(tokens)
    if rest:
        raise ValueError(f"unexpected {rest[0]!r}")
    return tree


def _parse_or(tokens: list[str]) -> tuple[Tree, list[str]]:
    left, tokens = _parse_and(tokens)
    while tokens and tokens[0].lower() == "or":
        right, tokens = _parse_and(tokens[1:])
        left = ("or", left, right)
    return left, tokens


def _parse_and(tokens: list[str]) -> tuple[Tree, list[str]]:
    left, tokens = _parse_not(tokens)
    while tokens and tokens[0].lower() == "and":
        right, tokens = _parse_not(tokens[1:])
        left = ("and", left, right)
    return left, tokens


def _parse_not(tokens: list[str]) -> tuple[Tree, list[str]]:
    if not tokens:
        raise ValueError("expression ends too early")
    head = tokens[0]
    if head.lower() == "not":
        inner, rest = _parse_not(tokens[1:])
        return ("not", inner), rest
    if head == "(":
        inner, rest = _parse_or(tokens[1:])
        if not rest or rest[0] != ")":
            raise ValueError("missing ')'")
        return inner, rest[1:]
    if head == ")" or head.lower() in ("and", "or"):
        raise ValueError(f"unexpected {head!r}")
    return ("ref", head), tokens[1:]


def names(tree: Tree | None) -> set[str]:
    """The rule ids ``tree`` refers to."""
    if tree is None:
        return set()
    if tree[0] == "ref":
        return {tree[1]}
    return set().union(*(names(t) for t in tree[1:]))


def evaluate(tree: Tree, truth: Callable[[str], bool]) -> bool:
    """The value of ``tree`` given ``truth(rule_id)``."""
    kind = tree[0]
    if kind == "ref":
        return truth(tree[1])
    if kind == "not":
        return not evaluate(tree[1], truth)
    if kind == "and":
        return evaluate(tree[1], truth) and evaluate(tree[2], truth)
    return evaluate(tree[1], truth) or evaluate(tree[2], truth)
