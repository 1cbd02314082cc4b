"""Evaluating a parsed line: values, operators, parameter binding, errors as PowerShell shows them.

Rule 1 — values. Strings, whole numbers, ``$true``/``$false``/``$null``, arrays, secure
strings, script blocks and the cmdlets' objects (:class:`PSObject`: certificates, files).
``$name`` is ``$null`` until assigned (PowerShell's default, not strict mode).

Rule 2 — operators work as PowerShell's do on these values: comparisons ignore case unless
``c``-prefixed; ``-like`` takes ``*``, ``?`` and ``[...]`` over the whole string; ``-match``
is a regular expression found anywhere; an array on the left filters its elements;
``-and``/``-or``/``-xor``/``-not`` use PowerShell's truth (``LanguagePrimitives.IsTrue``:
``$null``, 0, "" and an empty array are false).

Rule 3 — binding (``about_Parameters``, and the binder's texts in PowerShell's
``ParameterBinderStrings.resx``): a parameter is named by its name, an alias or an
unambiguous prefix, in any letter case; a switch needs no value (``-Switch:$false`` gives
one); every other parameter takes the next argument or its ``:value``; the remaining
arguments fill the positional parameters in order; pipeline input binds by value, or by a
property of the same name. Each refusal has PowerShell's words: ``NamedParameterNotFound``,
``AmbiguousParameter``, ``MissingArgument``, ``ParameterAlreadyBound``,
``PositionalParameterNotFound``, ``MissingMandatoryParameter`` (the lab's shell is
non-interactive, as ``powershell -NonInteractive``: it does not prompt), conversions
(``Cannot bind parameter 'Password'. Cannot convert the "x" value of type "System.String"
to type "System.Security.SecureString".``), ``InputObjectNotBound``. Real parameters the lab
does not model are refused with a message that says so.

Rule 4 — errors print as Windows PowerShell 5.1 prints them: ``Cmdlet : message``, then
``At line:1 char:N``, the line and a ``~`` marker under the culprit, then ``CategoryInfo``
and, where the cmdlet's .NET class is known, ``FullyQualifiedErrorId``; a parse error puts
the position first and the message after the marker.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._syntax import (
    ArrayLiteral,
    Assignment,
    Binary,
    Command,
    Expandable,
    Member,
    Node,
    Number,
    Parameter,
    Paren,
    ParseError,
    Pipeline,
    ScriptBlock,
    Statement,
    SubExpression,
    Text,
    Unary,
    Unsupported,
    Variable,
)

__all__ = [
    "PSError",
    "PSObject",
    "SecureString",
    "ScriptBlockValue",
    "Param",
    "Cmdlet",
    "Kind",
    "Evaluator",
    "COMMON_PARAMETERS",
    "is_true",
    "to_text",
    "format_error",
    "format_parse_error",
]


class PSError(Exception):
    """A PowerShell error record: what the console prints for a failed command.

    ``command`` is the cmdlet named before the colon (None for errors of the engine),
    ``offset``/``length`` the culprit in the line, ``category`` and ``reason`` the
    CategoryInfo, ``target`` its target, ``error_id`` the FullyQualifiedErrorId (None
    when the cmdlet's .NET class is not known to the lab).
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int,
        length: int = 1,
        command: str | None = None,
        category: str = "NotSpecified",
        reason: str = "",
        target: str = "",
        error_id: str | None = None,
        activity: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.length = max(1, length)
        self.command = command
        # CategoryInfo's activity: the command, except for a command that was not found.
        self.activity = command if activity is None else activity
        self.category = category
        self.reason = reason
        self.target = target
        self.error_id = error_id


def _marker(line: str, offset: int, length: int) -> list[str]:
    shown = line.splitlines()[0] if line else ""
    offset = min(offset, len(shown))
    return [f"At line:1 char:{offset + 1}", f"+ {shown}", "+ " + " " * offset + "~" * max(1, min(length, len(shown) - offset or 1))]


def format_error(line: str, error: PSError) -> str:
    """``error`` as the Windows PowerShell 5.1 console shows it."""
    head = f"{error.command} : {error.message}" if error.command else error.message
    lines = [head, *_marker(line, error.offset, error.length)]
    lines.append(f"    + CategoryInfo          : {error.category}: ({error.target or ':'}) [{error.activity or ''}], {error.reason}")
    if error.error_id:
        lines.append(f"    + FullyQualifiedErrorId : {error.error_id}")
    return "\n".join(lines)


def format_parse_error(line: str, error: ParseError) -> str:
    """A parse error: the position first, then the message (PowerShell's ParseException)."""
    lines = [*_marker(line, error.offset, 1), error.message]
    lines.append("    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException")
    lines.append(f"    + FullyQualifiedErrorId : {error.error_id}")
    return "\n".join(lines)


# -- values --------------------------------------------------------------------------------


class SecureString:
    """``System.Security.SecureString``: shown as its type name, never as its text."""

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        """The plain text, for the cmdlet that consumes it."""
        return self._text

    def __str__(self) -> str:
        return "System.Security.SecureString"


@dataclass(frozen=True)
class ScriptBlockValue:
    block: ScriptBlock

    def __str__(self) -> str:
        return self.block.text


class PSObject:
    """An object a cmdlet emits: a .NET type name and properties (case-insensitive)."""

    type_name = "System.Object"

    def properties(self) -> dict[str, Any]:
        return {}

    def get(self, name: str) -> Any:
        wanted = name.lower()
        return next((v for k, v in self.properties().items() if k.lower() == wanted), None)

    def __str__(self) -> str:
        return self.type_name


def is_true(value: Any) -> bool:
    """PowerShell's truth (``LanguagePrimitives.IsTrue``)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value != ""
    if isinstance(value, list):
        if not value:
            return False
        return is_true(value[0]) if len(value) == 1 else True
    return True


def to_text(value: Any) -> str:
    """A value as PowerShell converts it to a string (arrays joined by spaces)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return " ".join(to_text(v) for v in value)
    return str(value)


def _flatten(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


def _unwrap(values: list[Any]) -> Any:
    """A pipeline's output as one value: nothing is $null, one object is itself."""
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def wildcard(pattern: str, *, case: bool) -> re.Pattern[str]:
    """A ``-like`` pattern (``*``, ``?``, ``[abc]``, backtick escapes) as a regular expression."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "`" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                out.append("[" + pattern[i + 1:end].replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL | (0 if case else re.IGNORECASE))


def _compare_scalar(op: str, left: Any, right: Any, case: bool, offset: int) -> bool:
    if op in ("like", "notlike"):
        hit = bool(wildcard(to_text(right), case=case).match(to_text(left)))
        return hit if op == "like" else not hit
    if op in ("match", "notmatch"):
        try:
            hit = re.search(to_text(right), to_text(left), 0 if case else re.IGNORECASE) is not None
        except re.error:
            raise PSError(f"The regular expression pattern {to_text(right)} is not valid.", offset=offset,
                          category="InvalidOperation", reason="RuntimeException", error_id="InvalidRegularExpression") from None
        return hit if op == "match" else not hit
    if isinstance(left, (int, bool)) and not isinstance(left, bool) and isinstance(right, str):
        try:
            right = int(right)
        except ValueError:
            pass
    if isinstance(left, str) or isinstance(right, str):
        a, b = to_text(left), to_text(right)
        if not case:
            a, b = a.lower(), b.lower()
    else:
        a, b = left, right
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    try:
        return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]  # type: ignore[operator]
    except TypeError:
        return False


def compare(op: str, left: Any, right: Any, offset: int) -> Any:
    """A comparison operator (``op`` lower case, without the dash) on two values."""
    case = op.startswith("c") and op[1:] in _BASES
    base = op[1:] if op[:1] in ("c", "i") and op[1:] in _BASES else op
    if base in ("contains", "notcontains", "in", "notin"):
        collection, item = (left, right) if base in ("contains", "notcontains") else (right, left)
        items = collection if isinstance(collection, list) else [collection]
        found = any(_compare_scalar("eq", x, item, case, offset) for x in items)
        return found if base in ("contains", "in") else not found
    if isinstance(left, list):
        return [x for x in left if _compare_scalar(base, x, right, case, offset)]
    return _compare_scalar(base, left, right, case, offset)


_BASES = {"eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch", "contains", "notcontains", "in", "notin"}


# -- cmdlets and binding -------------------------------------------------------------------


class Kind:
    """Parameter types, by the .NET name PowerShell shows in its errors."""

    SWITCH = "System.Management.Automation.SwitchParameter"
    STRING = "System.String"
    STRINGS = "System.String[]"
    BOOLEAN = "System.Boolean"
    INT = "System.Int32"
    SECURE = "System.Security.SecureString"
    SCRIPT = "System.Management.Automation.ScriptBlock"
    OBJECT = "System.Object"
    OBJECTS = "System.Object[]"
    CREDENTIAL = "System.Management.Automation.PSCredential"


@dataclass(frozen=True)
class Param:
    """One parameter of a cmdlet. ``kind`` is a :class:`Kind` name or a .NET type the
    cmdlet converts itself (certificates, identities, enumerations with ``choices``);
    ``modelled=False`` marks a real parameter the lab does not run."""

    name: str
    kind: str = Kind.STRING
    mandatory: bool = False
    position: int | None = None
    pipeline: str | None = None  # "value" or "property"
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    modelled: bool = True


#: PowerShell's common parameters with their aliases (``about_CommonParameters``). The lab
#: models -Verbose (accepted, no effect beyond what the cmdlet prints) and -Debug.
COMMON_PARAMETERS: tuple[Param, ...] = (
    Param("Verbose", Kind.SWITCH, aliases=("vb",)),
    Param("Debug", Kind.SWITCH, aliases=("db",)),
    Param("ErrorAction", aliases=("ea",), modelled=False),
    Param("WarningAction", aliases=("wa",), modelled=False),
    Param("InformationAction", aliases=("infa",), modelled=False),
    Param("ErrorVariable", aliases=("ev",), modelled=False),
    Param("WarningVariable", aliases=("wv",), modelled=False),
    Param("InformationVariable", aliases=("iv",), modelled=False),
    Param("OutVariable", aliases=("ov",), modelled=False),
    Param("OutBuffer", Kind.INT, aliases=("ob",), modelled=False),
    Param("PipelineVariable", aliases=("pv",), modelled=False),
)
#: -WhatIf and -Confirm, for cmdlets that support ShouldProcess (not modelled: the lab's
#: shell neither previews nor prompts).
SHOULD_PROCESS: tuple[Param, ...] = (
    Param("WhatIf", Kind.SWITCH, aliases=("wi",), modelled=False),
    Param("Confirm", Kind.SWITCH, aliases=("cf",), modelled=False),
)

Run = Callable[["Evaluator", "Invocation"], Awaitable[list[Any]]]


@dataclass(frozen=True)
class Cmdlet:
    """A command the lab's hosts know: its parameters, where it exists, what it does.

    ``hosts`` are the topology roles (``ca``, ``frontend``, ``ucc``) where it is installed;
    ``dotnet`` the implementing class, for FullyQualifiedErrorId (None: not known).
    ``binds_itself`` leaves binding to the command (native programs such as certutil,
    whose arguments are words, and Request-CsCertificate, bound by the CA stand-in's own
    parser).
    """

    name: str
    params: tuple[Param, ...]
    run: Run
    hosts: tuple[str, ...] = ("ca", "frontend", "ucc")
    dotnet: str | None = None
    should_process: bool = False
    binds_itself: bool = False

    def all_params(self) -> tuple[Param, ...]:
        return self.params + COMMON_PARAMETERS + (SHOULD_PROCESS if self.should_process else ())


@dataclass
class Invocation:
    """A command being run: what was bound, the pipeline input, where it is in the line."""

    cmdlet: Cmdlet
    command: Command
    bound: dict[str, Any]
    input: list[Any] | None
    arguments: list[tuple[Parameter | None, Any]] = field(default_factory=list)  # for binds_itself

    def error(self, message: str, *, category: str = "InvalidArgument", reason: str = "", target: str = "",
              error_id: str | None = None, offset: int | None = None, length: int | None = None) -> PSError:
        """An error of this command, marked under the whole command unless told."""
        fqid = f"{error_id},{self.cmdlet.dotnet}" if error_id and self.cmdlet.dotnet else None
        return PSError(message, offset=self.command.offset if offset is None else offset,
                       length=(self.command.end - self.command.offset) if length is None else length,
                       command=self.cmdlet.name, category=category, reason=reason, target=target, error_id=fqid)


class Evaluator:
    """Runs the statements of one line against ``commands`` (by lower-case name and alias).

    ``resolve`` finds a command for a name on this host (None: not recognized). Each
    statement's output is kept for display unless assigned.
    """

    def __init__(self, line: str, resolve: Callable[[str], Cmdlet | None], variables: dict[str, Any] | None = None) -> None:
        self.line = line
        self.resolve = resolve
        self.variables: dict[str, Any] = {"true": True, "false": False, "null": None}
        for name, value in (variables or {}).items():
            self.variables[name.lower()] = value
        self.output: list[Any] = []

    async def run(self, statements: Sequence[Statement]) -> list[Any]:
        for statement in statements:
            values = await self.statement(statement)
            if not isinstance(statement, Assignment):
                self.output.extend(values)
        return self.output

    async def statement(self, statement: Statement) -> list[Any]:
        if isinstance(statement, Assignment):
            self.variables[statement.variable.lower()] = _unwrap(await self.pipeline(statement.value))
            return []
        return await self.pipeline(statement)

    async def pipeline(self, pipeline: Pipeline) -> list[Any]:
        values: list[Any] | None = None
        for element in pipeline.elements:
            if isinstance(element, Command):
                values = await self.command(element, values)
            else:
                value = await self.value(element)
                values = value if isinstance(value, list) else ([] if value is None else [value])
        return values or []

    # -- values ----------------------------------------------------------------------------------
    async def value(self, node: Node) -> Any:
        if isinstance(node, Text):
            return node.value
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Variable):
            return self.variables.get(node.name.lower())
        if isinstance(node, Expandable):
            parts = []
            for part in node.parts:
                parts.append(part if isinstance(part, str) else to_text(await self.value(part)))
            return "".join(parts)
        if isinstance(node, Member):
            target = await self.value(node.target)
            return self.member(target, node.name)
        if isinstance(node, Paren):
            return _unwrap(await self.statement(node.pipeline))
        if isinstance(node, SubExpression):
            values: list[Any] = []
            for statement in node.statements:
                values.extend(await self.statement(statement))
            return values if node.array else _unwrap(values)
        if isinstance(node, ArrayLiteral):
            return [await self.value(item) for item in node.items]
        if isinstance(node, ScriptBlock):
            return ScriptBlockValue(node)
        if isinstance(node, Unary):
            return not is_true(await self.value(node.operand))
        if isinstance(node, Binary):
            left = await self.value(node.left)
            if node.operator == "and":
                return is_true(left) and is_true(await self.value(node.right))
            if node.operator == "or":
                return is_true(left) or is_true(await self.value(node.right))
            right = await self.value(node.right)
            if node.operator == "xor":
                return is_true(left) != is_true(right)
            return compare(node.operator, left, right, node.offset)
        raise AssertionError(f"unknown node {node!r}")

    @staticmethod
    def member(target: Any, name: str) -> Any:
        """``target.name``: a property, or over an array each element's (member enumeration)."""
        if isinstance(target, list):
            found = [Evaluator.member(t, name) for t in target]
            return [f for f in found if f is not None]
        if isinstance(target, PSObject):
            return target.get(name)
        if isinstance(target, str) and name.lower() == "length":
            return len(target)
        if name.lower() == "count":
            return 0 if target is None else 1
        return None

    async def script(self, block: ScriptBlockValue, item: Any) -> list[Any]:
        """Run a script block with ``$_``/``$PSItem`` set to ``item``."""
        saved = {k: self.variables.get(k) for k in ("_", "psitem")}
        self.variables["_"] = self.variables["psitem"] = item
        try:
            out: list[Any] = []
            for statement in block.block.statements:
                out.extend(await self.statement(statement))
            return out
        finally:
            self.variables.update(saved)

    # -- commands --------------------------------------------------------------------------------
    async def command(self, command: Command, input: list[Any] | None) -> list[Any]:
        cmdlet = self.resolve(command.name)
        if cmdlet is None:
            raise PSError(
                f"The term '{command.name}' is not recognized as the name of a cmdlet, function, script file, or "
                "operable program. Check the spelling of the name, or if a path was included, verify that the path "
                "is correct and try again.",
                offset=command.offset, length=len(command.name), command=command.name, category="ObjectNotFound",
                reason="CommandNotFoundException", target=f"{command.name}:String", error_id="CommandNotFoundException",
                activity="",
            )
        arguments: list[tuple[Parameter | None, Any]] = []
        for element in command.elements:
            if isinstance(element, Parameter):
                value = await self.value(element.argument) if element.argument is not None else None
                arguments.append((element, value))
            else:
                arguments.append((None, await self.value(element)))
        invocation = Invocation(cmdlet, command, {}, input, arguments)
        if not cmdlet.binds_itself:
            invocation.bound = self.bind(invocation, command.elements)
        return _flatten(await cmdlet.run(self, invocation))

    def bind(self, call: Invocation, elements: Sequence[Parameter | Node]) -> dict[str, Any]:
        """Named, then positional parameters (Rule 3); conversions; the unmodelled ones refused."""
        cmdlet = call.cmdlet
        bound: dict[str, Any] = {}
        positional: list[tuple[Node, Any]] = []
        items = list(zip(elements, call.arguments, strict=True))
        i = 0
        while i < len(items):
            element, (_, value) = items[i]
            i += 1
            if not isinstance(element, Parameter):
                positional.append((element, value))
                continue
            param = self.resolve_parameter(call, element)
            if param.name in bound:
                raise call.error(
                    f"Cannot bind parameter because parameter '{param.name}' is specified more than once. To provide "
                    "multiple values to parameters that can accept multiple values, use the array syntax. For example, "
                    '"-parameter value1,value2,value3".', reason="ParameterBindingException",
                    error_id="ParameterAlreadyBound", offset=element.offset, length=len(element.text))
            if element.colon:
                if element.argument is None:
                    raise self.missing_argument(call, param, element)
                bound[param.name] = self.convert(call, param, value, element.offset)
            elif param.kind == Kind.SWITCH:
                bound[param.name] = True
            elif i < len(items) and not isinstance(items[i][0], Parameter):
                bound[param.name] = self.convert(call, param, items[i][1][1], element.offset)
                i += 1
            else:
                raise self.missing_argument(call, param, element)
        slots = sorted((p for p in cmdlet.all_params() if p.position is not None and p.name not in bound),
                       key=lambda p: p.position or 0)
        for node, value in positional:
            if not slots:
                raise call.error(f"A positional parameter cannot be found that accepts argument '{to_text(value)}'.",
                                 reason="ParameterBindingException", error_id="PositionalParameterNotFound",
                                 offset=node.offset, length=len(to_text(value)) or 1)
            param = slots.pop(0)
            bound[param.name] = self.convert(call, param, value, node.offset)
        unmodelled = [p.name for p in cmdlet.all_params() if p.name in bound and not p.modelled]
        if unmodelled:
            raise Unsupported(
                f"{cmdlet.name} accepts {', '.join('-' + n for n in unmodelled)}, but the lab's shell does not model "
                f"{'it' if len(unmodelled) == 1 else 'them'}; it runs {cmdlet.name} with "
                f"{', '.join('-' + p.name for p in cmdlet.params if p.modelled) or 'no parameters'}",
                call.command.offset)
        return bound

    def resolve_parameter(self, call: Invocation, element: Parameter) -> Param:
        written = element.name
        wanted = written.lower()
        params = call.cmdlet.all_params()
        for p in params:
            if p.name.lower() == wanted or wanted in (a.lower() for a in p.aliases):
                return p
        matches = [p for p in params if p.name.lower().startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise call.error(
                f"Parameter cannot be processed because the parameter name '{written}' is ambiguous. Possible matches "
                f"include: {' '.join('-' + p.name for p in matches)}.", reason="ParameterBindingException",
                error_id="AmbiguousParameter", offset=element.offset, length=len(element.text))
        raise call.error(f"A parameter cannot be found that matches parameter name '{written}'.",
                         reason="ParameterBindingException", error_id="NamedParameterNotFound",
                         offset=element.offset, length=len(element.text))

    @staticmethod
    def missing_argument(call: Invocation, param: Param, element: Parameter) -> PSError:
        return call.error(f"Missing an argument for parameter '{param.name}'. Specify a parameter of type '{param.kind}' "
                          "and try again.", reason="ParameterBindingException", error_id="MissingArgument",
                          offset=element.offset, length=len(element.text))

    def convert(self, call: Invocation, param: Param, value: Any, offset: int) -> Any:
        """A value as the parameter's type takes it (PowerShell's conversions, their refusals)."""
        kind = param.kind
        shown = to_text(value)

        def cannot(detail: str) -> PSError:
            return call.error(f"Cannot bind parameter '{param.name}'. {detail}", reason="ParameterBindingException",
                              error_id="CannotConvertArgumentNoMessage", offset=offset, length=len(shown) or 1)

        if kind in (Kind.SWITCH, Kind.BOOLEAN):
            if isinstance(value, bool):
                return value
            if isinstance(value, int):
                return value != 0
            source = "System.String" if isinstance(value, str) else type_name(value)
            raise call.error(
                f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
                f'"{source}" to type "{kind}". Boolean parameters accept only Boolean values and numbers, such as '
                "$True, $False, 1 or 0.", reason="ParameterBindingArgumentTransformationException",
                error_id="ParameterArgumentTransformationError", offset=offset, length=len(shown) or 1)
        if kind == Kind.SECURE:
            if isinstance(value, SecureString):
                return value
            raise cannot(f'Cannot convert the "{shown}" value of type "{type_name(value)}" to type "{Kind.SECURE}".')
        if kind == Kind.INT:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            try:
                return int(shown.strip(), 10)
            except ValueError:
                raise cannot(f'Cannot convert value "{shown}" to type "{Kind.INT}". Error: "Input string was not in '
                             'a correct format."') from None
        if kind == Kind.SCRIPT:
            if isinstance(value, ScriptBlockValue):
                return value
            raise cannot(f'Cannot convert the "{shown}" value of type "{type_name(value)}" to type "{Kind.SCRIPT}".')
        if kind == Kind.STRING:
            if value is None:
                raise call.error(f"Cannot bind argument to parameter '{param.name}' because it is null.",
                                 category="InvalidData", reason="ParameterBindingValidationException",
                                 error_id="ParameterArgumentValidationErrorNullNotAllowed", offset=offset)
            return to_text(value)
        if kind == Kind.STRINGS:
            return [to_text(v) for v in (value if isinstance(value, list) else [value])]
        if param.choices:
            wanted = shown.lower()
            for choice in param.choices:
                if choice.lower() == wanted:
                    return choice
            raise cannot(f'Cannot convert value "{shown}" to type "{kind}". Error: "Unable to match the identifier name '
                         f"{shown} to a valid enumerator name. Specify one of the following enumerator names and try "
                         f'again: {", ".join(param.choices)}"')
        return value

    def bind_input(self, call: Invocation, item: Any) -> dict[str, Any]:
        """``call.bound`` plus what ``item`` binds from the pipeline (by value, else by a
        property of the parameter's name or alias)."""
        bound = dict(call.bound)
        for param in call.cmdlet.params:
            if param.pipeline is None or param.name in call.bound:
                continue
            if param.pipeline == "value":
                bound[param.name] = self.convert(call, param, item, call.command.offset)
                return bound
            if isinstance(item, PSObject):
                for name in (param.name, *param.aliases):
                    found = item.get(name)
                    if found is not None:
                        bound[param.name] = self.convert(call, param, found, call.command.offset)
                        return bound
        raise call.error(
            "The input object cannot be bound to any parameters for the command either because the command does not "
            "take pipeline input or the input and its properties do not match any of the parameters that take pipeline "
            "input.", reason="ParameterBindingException", error_id="InputObjectNotBound",
            target=to_text(item))

    def require(self, call: Invocation, bound: dict[str, Any], *names: str) -> None:
        """PowerShell's refusal when a mandatory parameter is missing (non-interactive)."""
        missing = [n for n in names if n not in bound]
        if missing:
            raise call.error("Cannot process command because of one or more missing mandatory parameters:"
                             + "".join(f" {n}" for n in missing) + ".", reason="ParameterBindingException",
                             error_id="MissingMandatoryParameter", length=len(call.command.name))


def type_name(value: Any) -> str:
    """The .NET type name PowerShell gives a value in its errors."""
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, int):
        return "System.Int32"
    if isinstance(value, str):
        return "System.String"
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, SecureString):
        return Kind.SECURE
    if isinstance(value, ScriptBlockValue):
        return Kind.SCRIPT
    if isinstance(value, PSObject):
        return value.type_name
    return "System.Object"
