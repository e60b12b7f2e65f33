"""Go text/template's lexer: text, actions between ``{{ }}``, trim markers and comments.

Follows ``text/template/parse/lex.go``: ``{{- `` trims the white space
(space, tab, CR, LF) before an action, `` -}}`` the white space after it;
``{{/* ... */}}`` is a comment; inside an action white space (newlines too)
separates tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from services.image.gotemplate.errors import TemplateParseError

__all__ = ["Token", "TokenKind", "lex"]

_SPACE = " \t\r\n"
_KEYWORDS = frozenset(
    {
        "block",
        "break",
        "continue",
        "define",
        "else",
        "end",
        "if",
        "range",
        "nil",
        "template",
        "with",
    }
)
_NUMBER = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|"
    r"(\d[\d_]*)?\.?\d[\d_]*([eE][+-]?\d+)?i?)"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TokenKind(Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    SPACE = "space"
    IDENTIFIER = "identifier"
    KEYWORD = "keyword"
    BOOL = "bool"
    FIELD = "field"  # .Name
    DOT = "."
    VARIABLE = "variable"  # $ or $name
    STRING = "string"  # "..." or `...`, already unquoted
    CHAR = "char"
    NUMBER = "number"
    LEFT_PAREN = "("
    RIGHT_PAREN = ")"
    PIPE = "|"
    DECLARE = ":="
    ASSIGN = "="
    COMMA = ","
    EOF = "eof"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    value: str
    pos: int  # byte offset in the template, for Go's line:column in errors


def lex(text: str, *, name: str) -> list[Token]:
    """The template's tokens, ending with EOF. Raises TemplateParseError naming the line."""
    return _Lexer(text, name).run()


class _Lexer:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.tokens: list[Token] = []

    def error(self, pos: int, message: str) -> TemplateParseError:
        line = self.text.count("\n", 0, pos) + 1
        return TemplateParseError(f"template: {self.name}:{line}: {message}")

    def run(self) -> list[Token]:
        pos = 0
        trim_next = False
        while True:
            left = self.text.find("{{", pos)
            end = len(self.text) if left < 0 else left
            chunk = self.text[pos:end]
            if trim_next:
                chunk = chunk.lstrip(_SPACE)
            trim_left = left >= 0 and self._left_trim(left)
            if trim_left:
                chunk = chunk.rstrip(_SPACE)
            if chunk:
                self.tokens.append(Token(TokenKind.TEXT, chunk, pos))
            if left < 0:
                self.tokens.append(Token(TokenKind.EOF, "", len(self.text)))
                return self.tokens
            pos, trim_next = self._action(left, trim_left)

    def _left_trim(self, left: int) -> bool:
        after = self.text[left + 2 : left + 4]
        return len(after) == 2 and after[0] == "-" and after[1] in _SPACE

    def _action(self, left: int, trimmed: bool) -> tuple[int, bool]:
        pos = left + (4 if trimmed else 2)
        if self.text.startswith("/*", pos):
            close = self.text.find("*/", pos + 2)
            if close < 0:
                raise self.error(left, "unclosed comment")
            pos = close + 2
            if self.text.startswith(" -}}", pos):
                return pos + 4, True
            if self.text.startswith("}}", pos):
                return pos + 2, False
            raise self.error(left, "comment ends before closing delimiter")
        self.tokens.append(Token(TokenKind.LEFT, "{{", left))
        depth = 0
        while True:
            if pos >= len(self.text):
                raise self.error(left, "unclosed action")
            if self.text.startswith("}}", pos) or (
                self.text[pos] in _SPACE and self.text.startswith("-}}", pos + 1)
            ):
                if depth:
                    raise self.error(pos, "unclosed left paren")
                trim = not self.text.startswith("}}", pos)
                if trim:
                    self.tokens.append(Token(TokenKind.SPACE, " ", pos))
                    pos += 2
                self.tokens.append(Token(TokenKind.RIGHT, "}}", pos))
                return pos + 2, trim
            pos, depth = self._token(pos, depth)

    def _token(self, pos: int, depth: int) -> tuple[int, int]:
        text = self.text
        char = text[pos]
        if char in _SPACE:
            end = pos
            while end < len(text) and text[end] in _SPACE and not text.startswith("-}}", end + 1):
                end += 1
            end = max(end, pos + 1)
            self.tokens.append(Token(TokenKind.SPACE, " ", pos))
            return end, depth
        if text.startswith(":=", pos):
            self.tokens.append(Token(TokenKind.DECLARE, ":=", pos))
            return pos + 2, depth
        simple = {
            "=": TokenKind.ASSIGN,
            "|": TokenKind.PIPE,
            ",": TokenKind.COMMA,
            "(": TokenKind.LEFT_PAREN,
            ")": TokenKind.RIGHT_PAREN,
        }
        if char in simple:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth < 0:
                    raise self.error(pos, "unexpected right paren")
            self.tokens.append(Token(simple[char], char, pos))
            return pos + 1, depth
        if char == '"':
            return self._quoted(pos), depth
        if char == "`":
            close = text.find("`", pos + 1)
            if close < 0:
                raise self.error(pos, "unterminated raw quoted string")
            self.tokens.append(Token(TokenKind.STRING, text[pos + 1 : close], pos))
            return close + 1, depth
        if char == "'":
            return self._char(pos), depth
        if char == "$":
            match = _IDENTIFIER.match(text, pos + 1)
            end = match.end() if match else pos + 1
            self.tokens.append(Token(TokenKind.VARIABLE, text[pos:end], pos))
            return end, depth
        if char == ".":
            match = _IDENTIFIER.match(text, pos + 1)
            if match:
                self.tokens.append(Token(TokenKind.FIELD, text[pos : match.end()], pos))
                return match.end(), depth
            if pos + 1 < len(text) and text[pos + 1].isdigit():
                return self._number(pos), depth
            self.tokens.append(Token(TokenKind.DOT, ".", pos))
            return pos + 1, depth
        if char.isdigit() or (char in "+-" and pos + 1 < len(text) and text[pos + 1].isdigit()):
            return self._number(pos), depth
        match = _IDENTIFIER.match(text, pos)
        if match:
            word = match.group()
            if word in ("true", "false"):
                kind = TokenKind.BOOL
            elif word in _KEYWORDS:
                kind = TokenKind.KEYWORD
            else:
                kind = TokenKind.IDENTIFIER
            self.tokens.append(Token(kind, word, pos))
            return match.end(), depth
        raise self.error(pos, f"unexpected {char!r} in command")

    def _number(self, pos: int) -> int:
        match = _NUMBER.match(self.text, pos)
        if not match or not match.group():
            raise self.error(pos, f"bad number syntax: {self.text[pos : pos + 10]!r}")
        end = match.end()
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "."):
            raise self.error(pos, f'bad number syntax: "{self.text[pos : end + 1]}"')
        self.tokens.append(Token(TokenKind.NUMBER, match.group(), pos))
        return end

    def _quoted(self, pos: int) -> int:
        end = pos + 1
        while end < len(self.text) and self.text[end] != '"':
            if self.text[end] == "\n":
                break
            end += 2 if self.text[end] == "\\" else 1
        if end >= len(self.text) or self.text[end] != '"':
            raise self.error(pos, "unterminated quoted string")
        value = unquote(self.text[pos + 1 : end], quote='"', fail=lambda m: self.error(pos, m))
        self.tokens.append(Token(TokenKind.STRING, value, pos))
        return end + 1

    def _char(self, pos: int) -> int:
        end = pos + 1
        while end < len(self.text) and self.text[end] != "'":
            end += 2 if self.text[end] == "\\" else 1
        if end >= len(self.text):
            raise self.error(pos, "unterminated character constant")
        value = unquote(self.text[pos + 1 : end], quote="'", fail=lambda m: self.error(pos, m))
        if len(value) != 1:
            raise self.error(pos, f"malformed character constant: {self.text[pos : end + 1]}")
        self.tokens.append(Token(TokenKind.CHAR, value, pos))
        return end + 1


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def unquote(body: str, *, quote: str, fail: Callable[[str], Exception]) -> str:
    """Go's strconv.Unquote of a quoted body (escapes \\n, \\xNN, \\uNNNN, \\NNN, ...)."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = body[index + 1 : index + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            index += 2
        elif escape == quote:
            out.append(quote)
            index += 2
        elif escape in _HEX_ESCAPES:
            width = _HEX_ESCAPES[escape]
            digits = body[index + 2 : index + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise fail("invalid syntax")
            out.append(chr(int(digits, 16)))
            index += 2 + width
        elif escape and escape in "01234567":
            digits = body[index + 1 : index + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                raise fail("invalid syntax")
            out.append(chr(int(digits, 8)))
            index += 4
        else:
            raise fail("invalid syntax")
    return "".join(out)
