"""Go text/template's parser, for the subset sluice runs: the node tree the executor walks.

Follows ``text/template/parse/parse.go``: actions with pipelines (``|``),
variable declarations (``$x :=``, ``$i, $e :=`` in range) and assignments
(``$x =``), ``if``/``else if``/``else``, ``range`` (with ``else``,
``break``, ``continue``), ``with``/``else with``, parenthesised pipelines and
field chains. Variables and functions are checked when the template is
parsed, as Go does. ``define``, ``template`` and ``block`` raise
UnsupportedTemplateError: a commit message is one template.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from services.image.gotemplate.errors import TemplateParseError, UnsupportedTemplateError
from services.image.gotemplate.lex import Token, TokenKind, lex

__all__ = [
    "ActionNode",
    "BoolNode",
    "BranchNode",
    "ChainNode",
    "CommandNode",
    "DotNode",
    "FieldNode",
    "IdentifierNode",
    "ListNode",
    "LoopControlNode",
    "NilNode",
    "Node",
    "NumberNode",
    "PipeNode",
    "StringNode",
    "TextNode",
    "VariableNode",
    "parse",
]


@dataclass
class Node:
    pos: int


@dataclass
class TextNode(Node):
    text: str


@dataclass
class DotNode(Node):
    pass


@dataclass
class NilNode(Node):
    pass


@dataclass
class BoolNode(Node):
    value: bool


@dataclass
class NumberNode(Node):
    text: str
    value: int | float


@dataclass
class StringNode(Node):
    value: str


@dataclass
class IdentifierNode(Node):
    name: str


@dataclass
class FieldNode(Node):
    idents: tuple[str, ...]  # without dots


@dataclass
class VariableNode(Node):
    idents: tuple[str, ...]  # "$x" then field names


@dataclass
class ChainNode(Node):
    node: Node
    fields: tuple[str, ...]


@dataclass
class CommandNode(Node):
    args: list[Node]


@dataclass
class PipeNode(Node):
    commands: list[CommandNode]
    decl: tuple[str, ...] = ()
    is_assign: bool = False


@dataclass
class ActionNode(Node):
    pipe: PipeNode


@dataclass
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)


@dataclass
class BranchNode(Node):
    keyword: str  # "if" | "range" | "with"
    pipe: PipeNode
    body: ListNode
    otherwise: ListNode | None


@dataclass
class LoopControlNode(Node):
    keyword: str  # "break" | "continue"


def parse(text: str, *, name: str, functions: Collection[str]) -> ListNode:
    """The template's tree. Raises TemplateParseError (UnsupportedTemplateError) naming the line."""
    return _Parser(text, name, functions).parse()


_LITERALS = (BoolNode, DotNode, NilNode, NumberNode, StringNode)


class _Parser:
    def __init__(self, text: str, name: str, functions: Collection[str]) -> None:
        self.text = text
        self.name = name
        self.functions = functions
        self.tokens = lex(text, name=name)
        self.index = 0
        self.variables: list[str] = ["$"]
        self.range_depth = 0

    # -- tokens

    def next(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def peek(self) -> Token:
        return self.tokens[self.index]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind is TokenKind.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.index -= 1
        return token

    def error(self, pos: int, message: str, *, unsupported: bool = False) -> TemplateParseError:
        line = self.text.count("\n", 0, pos) + 1
        kind = UnsupportedTemplateError if unsupported else TemplateParseError
        return kind(f"template: {self.name}:{line}: {message}")

    def expect(self, kind: TokenKind, context: str) -> Token:
        token = self.next_non_space()
        if token.kind is not kind:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Token, context: str) -> TemplateParseError:
        shown = "EOF" if token.kind is TokenKind.EOF else f"{token.value!r}"
        return self.error(token.pos, f"unexpected {shown} in {context}")

    # -- lists and actions

    def parse(self) -> ListNode:
        body, ending = self.item_list()
        if ending is not None:
            raise self.error(ending.pos, f"unexpected {{{{{ending.value}}}}}")
        return body

    def item_list(self) -> tuple[ListNode, Token | None]:
        """Nodes up to EOF, or up to an ``{{end}}``/``{{else}}`` (returned, its ``}}`` not read)."""
        body = ListNode(pos=self.peek().pos)
        while True:
            token = self.next()
            if token.kind is TokenKind.EOF:
                self.index -= 1
                return body, None
            if token.kind is TokenKind.TEXT:
                body.nodes.append(TextNode(pos=token.pos, text=token.value))
                continue
            keyword = self.peek_non_space()
            if keyword.kind is TokenKind.KEYWORD and keyword.value in ("end", "else"):
                self.next_non_space()
                return body, keyword
            body.nodes.append(self.action())

    def action(self) -> Node:
        token = self.peek_non_space()
        if token.kind is TokenKind.KEYWORD and token.value != "nil":
            self.next_non_space()
            if token.value in ("if", "range", "with"):
                return self.branch(token)
            if token.value in ("break", "continue"):
                if not self.range_depth:
                    raise self.error(token.pos, f"{{{{{token.value}}}}} outside {{{{range}}}}")
                self.expect(TokenKind.RIGHT, token.value)
                return LoopControlNode(pos=token.pos, keyword=token.value)
            raise self.error(
                token.pos, f"{{{{{token.value}}}}} is not supported here", unsupported=True
            )
        pipe = self.pipeline("command", end=TokenKind.RIGHT)
        return ActionNode(pos=pipe.pos, pipe=pipe)

    def branch(self, keyword: Token) -> BranchNode:
        saved = len(self.variables)
        pipe = self.pipeline(keyword.value, end=TokenKind.RIGHT)
        if keyword.value == "range":
            self.range_depth += 1
        body, ending = self.item_list()
        if keyword.value == "range":
            self.range_depth -= 1
        if ending is None:
            raise self.error(len(self.text), "unexpected EOF")
        otherwise = None
        if ending.value == "else":
            chained = self.peek_non_space()
            if keyword.value in ("if", "with") and chained.value == keyword.value:
                # "{{else if x}}" is "{{else}}{{if x}}...{{end}}" sharing the outer {{end}}.
                self.next_non_space()
                otherwise = ListNode(pos=chained.pos, nodes=[self.branch(chained)])
            else:
                self.expect(TokenKind.RIGHT, "else")
                otherwise, ending = self.item_list()
                if ending is None or ending.value != "end":
                    raise self.error(len(self.text), "unexpected EOF")
                self.expect(TokenKind.RIGHT, "end")
        else:
            self.expect(TokenKind.RIGHT, "end")
        del self.variables[saved:]
        return BranchNode(
            pos=keyword.pos, keyword=keyword.value, pipe=pipe, body=body, otherwise=otherwise
        )

    # -- pipelines

    def pipeline(self, context: str, *, end: TokenKind) -> PipeNode:
        start = self.peek_non_space()
        pipe = PipeNode(pos=start.pos, commands=[])
        self.declarations(pipe, context)
        while True:
            token = self.peek_non_space()
            if token.kind is end:
                self.next_non_space()
                break
            if token.kind is TokenKind.EOF or token.kind in (
                TokenKind.RIGHT,
                TokenKind.RIGHT_PAREN,
            ):
                raise self.unexpected(token, context)
            pipe.commands.append(self.command(context))
            if self.peek_non_space().kind is TokenKind.PIPE:
                self.next_non_space()
        if not pipe.commands:
            raise self.error(start.pos, f"missing value for {context}")
        for number, command in enumerate(pipe.commands[1:], start=2):
            if isinstance(command.args[0], _LITERALS):
                raise self.error(command.pos, f"non executable command in pipeline stage {number}")
        return pipe

    def declarations(self, pipe: PipeNode, context: str) -> None:
        start = self.index
        first = self.next_non_space()
        if first.kind is not TokenKind.VARIABLE:
            self.index = start
            return
        after = self.next_non_space()
        if after.kind in (TokenKind.DECLARE, TokenKind.ASSIGN):
            pipe.decl = (first.value,)
            pipe.is_assign = after.kind is TokenKind.ASSIGN
        elif after.kind is TokenKind.COMMA and context == "range":
            second = self.next_non_space()
            operator = self.next_non_space()
            if operator.kind is TokenKind.COMMA:
                raise self.error(first.pos, "too many declarations in range")
            if second.kind is not TokenKind.VARIABLE or operator.kind not in (
                TokenKind.DECLARE,
                TokenKind.ASSIGN,
            ):
                raise self.error(first.pos, "range can only initialize variables")
            pipe.decl = (first.value, second.value)
            pipe.is_assign = operator.kind is TokenKind.ASSIGN
        else:
            self.index = start
            return
        for name in pipe.decl:
            if pipe.is_assign:
                if name not in self.variables:
                    raise self.error(first.pos, f"undefined variable {name!r}".replace("'", '"'))
            else:
                self.variables.append(name)

    def command(self, context: str) -> CommandNode:
        command = CommandNode(pos=self.peek_non_space().pos, args=[])
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                command.args.append(operand)
            token = self.next()
            if token.kind is TokenKind.SPACE:
                continue
            if token.kind in (TokenKind.RIGHT, TokenKind.RIGHT_PAREN):
                self.index -= 1
            elif token.kind is not TokenKind.PIPE:
                raise self.unexpected(token, "operand")
            else:
                self.index -= 1
            break
        if not command.args:
            raise self.error(command.pos, "empty command")
        return command

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().kind is not TokenKind.FIELD:
            return node
        # Go gives the node the position of the first chained field.
        pos = self.peek().pos
        fields: list[str] = []
        while self.peek().kind is TokenKind.FIELD:
            fields.append(self.next().value[1:])
        if isinstance(node, FieldNode):
            return FieldNode(pos=pos, idents=(*node.idents, *fields))
        if isinstance(node, VariableNode):
            return VariableNode(pos=pos, idents=(*node.idents, *fields))
        if isinstance(node, _LITERALS):
            raise self.error(node.pos, "unexpected . after term")
        return ChainNode(pos=pos, node=node, fields=tuple(fields))

    def term(self) -> Node | None:
        token = self.next_non_space()
        kind = token.kind
        if kind is TokenKind.IDENTIFIER:
            if token.value not in self.functions:
                raise self.error(
                    token.pos, f'function "{token.value}" not defined', unsupported=True
                )
            return IdentifierNode(pos=token.pos, name=token.value)
        if kind is TokenKind.DOT:
            return DotNode(pos=token.pos)
        if kind is TokenKind.KEYWORD and token.value == "nil":
            return NilNode(pos=token.pos)
        if kind is TokenKind.VARIABLE:
            if token.value not in self.variables:
                raise self.error(token.pos, f'undefined variable "{token.value}"')
            return VariableNode(pos=token.pos, idents=(token.value,))
        if kind is TokenKind.FIELD:
            return FieldNode(pos=token.pos, idents=(token.value[1:],))
        if kind is TokenKind.BOOL:
            return BoolNode(pos=token.pos, value=token.value == "true")
        if kind in (TokenKind.NUMBER, TokenKind.CHAR):
            return NumberNode(pos=token.pos, text=token.value, value=self.number(token))
        if kind is TokenKind.STRING:
            return StringNode(pos=token.pos, value=token.value)
        if kind is TokenKind.LEFT_PAREN:
            pipe = self.pipeline("parenthesized pipeline", end=TokenKind.RIGHT_PAREN)
            return pipe
        self.index -= 1
        return None

    def number(self, token: Token) -> int | float:
        if token.kind is TokenKind.CHAR:
            return ord(token.value)
        text = token.value.replace("_", "")
        if text.endswith("i"):
            raise self.error(token.pos, "complex numbers are not supported", unsupported=True)
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits.isdigit():
            text = text.replace(digits, "0o" + digits[1:], 1)  # Go reads 010 as octal
        try:
            return int(text, 0)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise self.error(token.pos, f"illegal number syntax: {token.value!r}") from None
