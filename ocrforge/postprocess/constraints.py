"""Constrained decoding: allow/deny character lists and field patterns that restrict the beam.

A constraint answers two questions for the beam search:
- ``class_mask(charset)``: which classes may ever be emitted (applied before the per-frame top-k,
  so a forbidden look-alike cannot crowd the allowed character out of the candidates);
- ``start()`` / ``step(state, char)`` / ``accepts(state)``: a character automaton; a hypothesis whose
  prefix cannot be completed into a match is dropped, and only accepting hypotheses are returned.

Patterns are a small regular-expression dialect compiled here to an NFA and run as a lazily built
DFA (subset construction on demand, cached per (state, char)). Python's ``re`` cannot answer "can
this prefix still match?" (no partial matching); the third-party ``regex`` module can, but one call
per hypothesis and candidate per frame is far slower than a cached DFA step, and it would be a new
inference dependency. Supported syntax: literals, ``.``, escapes ``\\d \\D \\s \\S \\w \\W`` and
escaped metacharacters, classes ``[...]`` with ranges and ``^``, groups ``(...)`` / ``(?:...)``,
alternation ``|``, quantifiers ``* + ? {m} {m,} {m,n}``. The whole text must match (like ``re.fullmatch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ConfigError

Pred = Callable[[str], bool]
DEAD = -1

# Field patterns for key-field extraction and the API's ``pattern=`` argument. ASCII digits only:
# the charset also has full-width digits, which receipts print rarely in these fields.
FIELD_PATTERNS: Dict[str, str] = {
    "digits": r"\d+",
    "integer": r"[-+]?\d{1,3}(?:,?\d{3})*",
    "amount": r"(?:[-+]|(?:RM|USD|\$|¥|￥) ?)?\d{1,3}(?:,?\d{3})*[.,]\d{2}",
    "date": (r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{4}年\d{1,2}月\d{1,2}日"
             r"|\d{1,2} ?(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]* ?\d{2,4})"),
    "time": r"\d{1,2}:\d{2}(?::\d{2})?(?: ?[AP]M)?",
    "invoice_number": r"[A-Z0-9][A-Z0-9/-]{3,24}",
    "phone": r"\+?\d[\d -]{5,18}\d|\(\d{2,4}\) ?\d[\d -]{4,12}\d",
}


# ----------------------------------------------------------------------------------------------
# Parsing


_CLASS_ESCAPES: Dict[str, Pred] = {
    "d": lambda c: "0" <= c <= "9",
    "s": lambda c: c.isspace(),
    "w": lambda c: c.isalnum() or c == "_",
}


def _escape_pred(ch: str) -> Pred:
    low = ch.lower()
    if low in _CLASS_ESCAPES:
        base = _CLASS_ESCAPES[low]
        return base if ch == low else (lambda c, b=base: not b(c))
    lit = {"n": "\n", "t": "\t"}.get(ch, ch)
    return lambda c, lit=lit: c == lit


@dataclass
class _Node:
    kind: str  # "pred" | "cat" | "alt" | "rep"
    pred: Optional[Pred] = None
    items: List["_Node"] = field(default_factory=list)
    lo: int = 0
    hi: Optional[int] = None


class _Parser:
    def __init__(self, pattern: str):
        self.s = pattern
        self.i = 0

    def error(self, msg: str) -> ConfigError:
        return ConfigError(f"pattern {self.s!r}: {msg} at position {self.i}")

    def peek(self) -> Optional[str]:
        return self.s[self.i] if self.i < len(self.s) else None

    def take(self) -> str:
        if self.i >= len(self.s):
            raise self.error("unexpected end")
        ch = self.s[self.i]
        self.i += 1
        return ch

    def parse(self) -> _Node:
        node = self.alt()
        if self.i != len(self.s):
            raise self.error("unbalanced ')'")
        return node

    def alt(self) -> _Node:
        branches = [self.seq()]
        while self.peek() == "|":
            self.take()
            branches.append(self.seq())
        return branches[0] if len(branches) == 1 else _Node("alt", items=branches)

    def seq(self) -> _Node:
        items = []
        while self.peek() not in (None, "|", ")"):
            items.append(self.quantified(self.atom()))
        return _Node("cat", items=items)

    def atom(self) -> _Node:
        ch = self.take()
        if ch == "(":
            if self.s.startswith("?:", self.i):
                self.i += 2
            node = self.alt()
            if self.take() != ")":
                raise self.error("missing ')'")
            return node
        if ch == "[":
            return _Node("pred", pred=self.char_class())
        if ch == ".":
            return _Node("pred", pred=lambda c: c != "\n")
        if ch == "\\":
            return _Node("pred", pred=_escape_pred(self.take()))
        if ch in "*+?{":
            raise self.error(f"nothing to repeat before {ch!r}")
        if ch in "^$":
            raise self.error("anchors are implicit (the whole text must match)")
        return _Node("pred", pred=lambda c, lit=ch: c == lit)

    def char_class(self) -> Pred:
        negate = self.peek() == "^"
        if negate:
            self.take()
        preds: List[Pred] = []
        chars = set()
        first = True
        while True:
            ch = self.take()
            if ch == "]" and not first:
                break
            first = False
            if ch == "\\":
                esc = self.take()
                if esc.lower() in _CLASS_ESCAPES:
                    preds.append(_escape_pred(esc))
                    continue
                ch = {"n": "\n", "t": "\t"}.get(esc, esc)
            if self.peek() == "-" and self.i + 1 < len(self.s) and self.s[self.i + 1] != "]":
                self.take()
                hi = self.take()
                if hi == "\\":
                    hi = self.take()
                if hi < ch:
                    raise self.error(f"bad range {ch}-{hi}")
                preds.append(lambda c, a=ch, b=hi: a <= c <= b)
            else:
                chars.add(ch)
        frozen = frozenset(chars)

        def pred(c: str) -> bool:
            hit = c in frozen or any(p(c) for p in preds)
            return hit != negate

        return pred

    def quantified(self, node: _Node) -> _Node:
        while True:
            q = self.peek()
            if q == "*":
                self.take()
                node = _Node("rep", items=[node], lo=0, hi=None)
            elif q == "+":
                self.take()
                node = _Node("rep", items=[node], lo=1, hi=None)
            elif q == "?":
                self.take()
                node = _Node("rep", items=[node], lo=0, hi=1)
            elif q == "{":
                end = self.s.find("}", self.i)
                if end < 0:
                    raise self.error("missing '}'")
                body = self.s[self.i + 1 : end]
                try:
                    if "," in body:
                        a, b = body.split(",", 1)
                        lo, hi = int(a), (int(b) if b.strip() else None)
                    else:
                        lo = hi = int(body)
                except ValueError:
                    raise self.error(f"bad repetition {{{body}}}") from None
                if hi is not None and hi < lo:
                    raise self.error(f"bad repetition {{{body}}}")
                self.i = end + 1
                node = _Node("rep", items=[node], lo=lo, hi=hi)
            else:
                return node


# ----------------------------------------------------------------------------------------------
# NFA + lazy DFA


class _NFA:
    def __init__(self):
        self.eps: List[List[int]] = []
        self.edges: List[List[Tuple[Pred, int]]] = []

    def new(self) -> int:
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def build(self, node: _Node) -> Tuple[int, int]:
        if node.kind == "pred":
            a, b = self.new(), self.new()
            self.edges[a].append((node.pred, b))
            return a, b
        if node.kind == "cat":
            start = cur = self.new()
            for item in node.items:
                s, e = self.build(item)
                self.eps[cur].append(s)
                cur = e
            return start, cur
        if node.kind == "alt":
            a, b = self.new(), self.new()
            for item in node.items:
                s, e = self.build(item)
                self.eps[a].append(s)
                self.eps[e].append(b)
            return a, b
        # repetition: lo mandatory copies, then (hi-lo) optional ones or a loop
        start = cur = self.new()
        child = node.items[0]
        for _ in range(node.lo):
            s, e = self.build(child)
            self.eps[cur].append(s)
            cur = e
        if node.hi is None:
            s, e = self.build(child)
            end = self.new()
            self.eps[cur] += [s, end]
            self.eps[e] += [s, end]
            return start, end
        end = self.new()
        for _ in range(node.hi - node.lo):
            s, e = self.build(child)
            self.eps[cur] += [s, end]
            cur = e
        self.eps[cur].append(end)
        return start, end


class Pattern:
    """A compiled field pattern: a character automaton with cached transitions."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self._nfa = _NFA()
        self._start, self._final = self._nfa.build(_Parser(pattern).parse())
        self._ids: Dict[FrozenSet[int], int] = {}
        self._sets: List[FrozenSet[int]] = []
        self._trans: Dict[Tuple[int, str], int] = {}
        self._init = self._intern(self._closure({self._start}))

    def _closure(self, states) -> FrozenSet[int]:
        stack, seen = list(states), set(states)
        while stack:
            s = stack.pop()
            for t in self._nfa.eps[s]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)

    def _intern(self, states: FrozenSet[int]) -> int:
        if not states:
            return DEAD
        sid = self._ids.get(states)
        if sid is None:
            sid = len(self._sets)
            self._ids[states] = sid
            self._sets.append(states)
        return sid

    def start(self) -> int:
        return self._init

    def step(self, state: int, ch: str) -> int:
        if state == DEAD:
            return DEAD
        key = (state, ch)
        nxt = self._trans.get(key)
        if nxt is None:
            moved = {t for s in self._sets[state] for pred, t in self._nfa.edges[s] if pred(ch)}
            nxt = self._intern(self._closure(moved)) if moved else DEAD
            self._trans[key] = nxt
        return nxt

    def accepts(self, state: int) -> bool:
        return state != DEAD and self._final in self._sets[state]

    def fullmatch(self, text: str) -> bool:
        s = self.start()
        for ch in text:
            s = self.step(s, ch)
            if s == DEAD:
                return False
        return self.accepts(s)

    def can_emit(self, ch: str) -> bool:
        return any(pred(ch) for edges in self._nfa.edges for pred, _ in edges)


# ----------------------------------------------------------------------------------------------
# What the decoder uses


@dataclass
class Constraint:
    """Allowed / denied characters and an optional pattern the whole line must match."""

    allow: Optional[str] = None  # only these characters (None: any)
    deny: str = ""  # never these
    pattern: Optional[Union[str, Pattern]] = None  # a FIELD_PATTERNS name or a pattern
    _compiled: Optional[Pattern] = field(default=None, init=False, repr=False)
    _masks: Dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if isinstance(self.pattern, Pattern):
            self._compiled = self.pattern
        elif self.pattern:
            self._compiled = Pattern(FIELD_PATTERNS.get(self.pattern, self.pattern))

    @property
    def automaton(self) -> Optional[Pattern]:
        return self._compiled

    def char_ok(self, ch: str) -> bool:
        if self.allow is not None and ch not in self.allow:
            return False
        if ch in self.deny:
            return False
        return self._compiled is None or self._compiled.can_emit(ch)

    def class_mask(self, charset) -> np.ndarray:
        """(num_classes,) bool: which classes may be emitted; the blank (0) always may."""
        key = id(charset)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.array([True] + [self.char_ok(ch) for ch in charset.chars], bool)
            self._masks[key] = mask
        return mask

    def check(self, text: str) -> bool:
        if not all(self.char_ok(ch) for ch in text):
            return False
        return self._compiled is None or self._compiled.fullmatch(text)


def make_constraint(allow: Optional[str] = None, deny: str = "", pattern: Optional[str] = None) -> Optional[Constraint]:
    if allow is None and not deny and not pattern:
        return None
    return Constraint(allow=allow, deny=deny, pattern=pattern)


def known_patterns() -> Sequence[str]:
    return sorted(FIELD_PATTERNS)
