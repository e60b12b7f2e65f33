"""Go text/template's executor over Python stand-ins for Go values (see ``values``).

Follows ``text/template/exec.go``: a pipeline's value feeds the next
command as its last argument; ``.Field`` reads a struct field, calls a
method without arguments, or looks a key up in a map (a missing key gives
``<no value>``); ``range`` walks slices in order and maps by sorted key;
``if``/``with`` use Go's truth; variables are scoped to their control
structure. Errors are worded as Go's (``executing "NAME" at <.Foo>:
can't evaluate field Foo in type source.TemplateData``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from services.image.gotemplate.errors import TemplateExecError
from services.image.gotemplate.funcs import FunctionError, GoFunc, is_true
from services.image.gotemplate.parse import (
    ActionNode,
    BoolNode,
    BranchNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    LoopControlNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TextNode,
    VariableNode,
)
from services.image.gotemplate.values import (
    MISSING,
    GoMap,
    GoStruct,
    format_value,
    go_sort_key,
    go_type_name,
)

__all__ = ["MAX_OUTPUT", "MAX_STEPS", "describe", "execute"]

# A commit message is short; these bound what a hostile template can make a worker do.
MAX_OUTPUT = 1 << 20
MAX_STEPS = 1_000_000
_NO_FINAL: Any = object()
_GO_KINDS = {"value": "reflect.Value", "float": "float64"}


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def execute(
    tree: ListNode, data: Any, *, name: str, text: str, functions: Mapping[str, GoFunc]
) -> str:
    """The template's output for ``data``. Raises TemplateExecError as Go words it."""
    state = _State(name=name, text=text, functions=functions, data=data)
    state.walk(data, tree)
    return "".join(state.out)


def describe(node: Node) -> str:
    """Go's String() of a node, as its errors quote it."""
    if isinstance(node, FieldNode):
        return "".join(f".{ident}" for ident in node.idents)
    if isinstance(node, VariableNode):
        return ".".join(node.idents)
    if isinstance(node, ChainNode):
        inner = describe(node.node)
        if isinstance(node.node, PipeNode):
            inner = f"({inner})"
        return inner + "".join(f".{field}" for field in node.fields)
    if isinstance(node, IdentifierNode):
        return node.name
    if isinstance(node, CommandNode):
        return " ".join(
            f"({describe(arg)})" if isinstance(arg, PipeNode) else describe(arg)
            for arg in node.args
        )
    if isinstance(node, PipeNode):
        decl = ", ".join(node.decl) + (" = " if node.is_assign else " := ") if node.decl else ""
        return decl + " | ".join(describe(command) for command in node.commands)
    if isinstance(node, StringNode):
        return format_value(node.value).join('""')
    if isinstance(node, NumberNode):
        return node.text
    if isinstance(node, BoolNode):
        return "true" if node.value else "false"
    if isinstance(node, DotNode):
        return "."
    if isinstance(node, NilNode):
        return "nil"
    return type(node).__name__


class _State:
    def __init__(self, *, name: str, text: str, functions: Mapping[str, GoFunc], data: Any) -> None:
        self.name = name
        self.text = text
        self.functions = functions
        self.out: list[str] = []
        self.size = 0
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.current: Node | None = None  # Go's s.at(node): where an error is reported
        self.steps = 0

    def at(self, node: Node) -> None:
        self.current = node
        self.tick()

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.error(None, f"over {MAX_STEPS} evaluation steps")

    def error(self, node: Node | None, message: str) -> TemplateExecError:
        """Go's s.errorf: at ``node``, or at the node last evaluated when None."""
        if node is not None:
            self.current = node
        node = self.current or ListNode(pos=0)
        before = self.text[: node.pos]
        line = before.count("\n") + 1
        column = len(before.encode()) - (len(before[: before.rfind("\n") + 1].encode()))
        return TemplateExecError(
            f'template: {self.name}:{line}:{column}: executing "{self.name}" '
            f"at <{describe(node)}>: {message}"
        )

    def emit(self, node: Node, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise self.error(node, f"output over {MAX_OUTPUT} characters")
        self.out.append(text)

    # -- variables

    def lookup(self, node: Node, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise self.error(node, f"undefined variable: {name}")

    def assign(self, node: Node, name: str, value: Any) -> None:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                self.vars[index] = (name, value)
                return
        raise self.error(node, f"undefined variable: {name}")

    # -- walking

    def walk(self, dot: Any, node: Node) -> None:
        if isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, TextNode):
            self.emit(node, node.text)
        elif isinstance(node, ActionNode):
            value = self.pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.emit(node, format_value(value))
        elif isinstance(node, BranchNode):
            mark = len(self.vars)
            try:
                if node.keyword == "range":
                    self.walk_range(dot, node)
                else:
                    value = self.pipeline(dot, node.pipe)
                    if is_true(value):
                        self.walk(value if node.keyword == "with" else dot, node.body)
                    elif node.otherwise is not None:
                        self.walk(dot, node.otherwise)
            finally:
                del self.vars[mark:]
        elif isinstance(node, LoopControlNode):
            raise _Break() if node.keyword == "break" else _Continue()
        else:
            raise self.error(node, f"unknown node: {describe(node)}")

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        value = self.pipeline(dot, node.pipe)
        pairs = self.iterate(node, value, variables=len(node.pipe.decl))
        mark = len(self.vars)
        ran = False
        for key, element in pairs:
            self.tick()
            ran = True
            decl = node.pipe.decl
            if decl:
                # The pipeline declared (or names) the variables: element last, key first.
                self.assign(node, decl[-1], element)
                if len(decl) == 2:
                    self.assign(node, decl[0], key)
            try:
                self.walk(element, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        if not ran and node.otherwise is not None:
            self.walk(dot, node.otherwise)

    def iterate(self, node: Node, value: Any, *, variables: int) -> Iterator[tuple[Any, Any]]:
        if value is MISSING or value is None:
            return iter(())
        if isinstance(value, list | tuple):
            return iter(enumerate(value))
        if isinstance(value, Mapping):
            keys = sorted(value, key=go_sort_key)
            return iter([(key, value[key]) for key in keys])
        if isinstance(value, int) and not isinstance(value, bool):
            if variables > 1:
                raise self.error(None, f"can't use {value} to iterate over more than one variable")
            return iter((index, index) for index in range(value))
        raise self.error(None, f"range can't iterate over {format_value(value)}")

    # -- pipelines and commands

    def pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        self.at(pipe)
        value = _NO_FINAL
        for command in pipe.commands:
            value = self.command(dot, command, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.assign(pipe, name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(self, dot: Any, command: CommandNode, final: Any) -> Any:
        first = command.args[0]
        if isinstance(first, FieldNode):
            self.at(first)
            return self.field_chain(dot, dot, first, first.idents, command.args, final)
        if isinstance(first, ChainNode):
            return self.chain(dot, first, command.args, final)
        if isinstance(first, IdentifierNode):
            return self.call(dot, first, command, final)
        if isinstance(first, VariableNode):
            return self.variable(dot, first, command.args, final)
        self.at(first)
        self.not_a_function(command, final)
        if isinstance(first, PipeNode):
            return self.pipeline(dot, first)
        if isinstance(first, NilNode):
            raise self.error(first, "nil is not a command")
        return self.literal(dot, first, "any")

    def not_a_function(self, command: CommandNode, final: Any) -> None:
        if len(command.args) > 1 or final is not _NO_FINAL:
            first = command.args[0]
            raise self.error(first, f"can't give argument to non-function {describe(first)}")

    def variable(self, dot: Any, node: VariableNode, args: list[Node], final: Any) -> Any:
        self.at(node)
        value = self.lookup(node, node.idents[0])
        if len(node.idents) == 1:
            if len(args) > 1 or final is not _NO_FINAL:
                raise self.error(node, f"can't give argument to non-function {describe(node)}")
            return value
        return self.field_chain(dot, value, node, node.idents[1:], args, final)

    def chain(self, dot: Any, node: ChainNode, args: list[Node], final: Any) -> Any:
        self.at(node)
        if isinstance(node.node, NilNode):
            raise self.error(node, f"indirection through explicit nil in {describe(node)}")
        receiver = self.argument(dot, "any", node.node)
        return self.field_chain(dot, receiver, node, node.fields, args, final)

    def field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        idents: tuple[str, ...],
        args: list[Node],
        final: Any,
    ) -> Any:
        for ident in idents[:-1]:
            receiver = self.field(node, ident, receiver, has_args=False)
        has_args = len(args) > 1 or final is not _NO_FINAL
        return self.field(node, idents[-1], receiver, has_args=has_args)

    def field(self, node: Node, name: str, receiver: Any, *, has_args: bool) -> Any:
        if receiver is MISSING or receiver is None:
            return MISSING
        if isinstance(receiver, GoStruct):
            if name in receiver.go_methods and has_args:
                raise self.error(None, f"wrong number of args for {name}: want 0 got 1")
            found, value = receiver.go_field(name)
            if found:
                if has_args and name not in receiver.go_methods:
                    raise self.error(
                        None, f"{name} has arguments but cannot be invoked as function"
                    )
                return value
        elif isinstance(receiver, Mapping) and not isinstance(receiver, GoMap):
            if has_args:
                raise self.error(None, f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        raise self.error(None, f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def call(self, dot: Any, node: IdentifierNode, command: Node, final: Any) -> Any:
        self.at(node)
        function = self.functions[node.name]
        nodes = command.args[1:] if isinstance(command, CommandNode) else []
        count = len(nodes) + (final is not _NO_FINAL)
        wanted = len(function.params)
        if count < wanted or (function.variadic is None and count > wanted):
            least = "at least " if function.variadic else ""
            raise self.error(
                node, f"wrong number of args for {node.name}: want {least}{wanted} got {count}"
            )

        def kind(index: int) -> str:
            return function.params[index] if index < wanted else str(function.variadic)

        def thunk(index: int, arg: Node) -> Callable[[], Any]:
            return lambda: self.argument(dot, kind(index), arg)

        thunks = [thunk(index, arg) for index, arg in enumerate(nodes)]
        if final is not _NO_FINAL:
            thunks.append(lambda: self.validate(None, final, kind(len(nodes))))
        try:
            if function.lazy:
                return function.call(*thunks)
            return function.call(*(thunk() for thunk in thunks))
        except (FunctionError, TypeError, ValueError, IndexError) as error:
            if isinstance(error, TemplateExecError):
                raise
            raise self.error(command, f"error calling {node.name}: {error}") from None

    # -- arguments

    def argument(self, dot: Any, kind: str, node: Node) -> Any:
        self.at(node)
        if isinstance(node, DotNode):
            return self.validate(node, dot, kind)
        if isinstance(node, NilNode):
            if kind == "any":
                return None
            if kind == "value":
                return MISSING  # Go's comparisons see nil as the invalid value
            raise self.error(node, f"cannot assign nil to {_GO_KINDS.get(kind, kind)}")
        if isinstance(node, FieldNode):
            value = self.field_chain(dot, dot, node, node.idents, [node], _NO_FINAL)
            return self.validate(node, value, kind)
        if isinstance(node, VariableNode):
            return self.validate(node, self.variable(dot, node, [node], _NO_FINAL), kind)
        if isinstance(node, PipeNode):
            return self.validate(node, self.pipeline(dot, node), kind)
        if isinstance(node, IdentifierNode):
            return self.validate(node, self.call(dot, node, node, _NO_FINAL), kind)
        if isinstance(node, ChainNode):
            return self.validate(node, self.chain(dot, node, [node], _NO_FINAL), kind)
        return self.literal(dot, node, kind)

    def literal(self, dot: Any, node: Node, kind: str) -> Any:
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, BoolNode) and kind in ("bool", "any", "value"):
            return node.value
        if isinstance(node, StringNode) and kind in ("string", "any", "value"):
            return node.value
        if isinstance(node, NumberNode):
            if kind in ("any", "value") or (kind == "int" and isinstance(node.value, int)):
                return node.value
            if kind == "float":
                return float(node.value)
        expected = {"int": "integer"}.get(kind, kind)
        raise self.error(node, f"expected {expected}; found {describe(node)}")

    def validate(self, node: Node | None, value: Any, kind: str) -> Any:
        if kind == "value":  # reflect.Value: Go's comparison builtins see the invalid value
            return value
        if value is MISSING:
            if kind == "any":
                return None
            raise self.error(node, f"invalid value; expected {kind}")
        ok = {
            "any": True,
            "string": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "float": isinstance(value, float),
        }[kind]
        if not ok:
            expected = {"float": "float64"}.get(kind, kind)
            raise self.error(
                node, f"wrong type for value; expected {expected}; got {go_type_name(value)}"
            )
        return value
