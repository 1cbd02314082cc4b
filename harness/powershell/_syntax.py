"""A PowerShell line parsed as Windows PowerShell 5.1 parses it (no I/O: text in, a tree out).

The lab's Windows hosts take one line at a time (``ucclab host HOST -- 'LINE'``). This
module turns the line into statements; :mod:`._runtime` evaluates them. What is parsed,
and how, follows PowerShell's two parsing modes (``about_Parsing``):

Rule 1 — statements. A line is statements separated by ``;`` (or a new line). A statement
is an assignment ``$name = <pipeline>`` or a pipeline.

Rule 2 — pipelines. Elements are separated by ``|``. Only the first element may be an
expression; the others are commands. An element that starts with a letter (or ``.``,
``\\``, ``_``) is a command and is read in *argument mode*; anything else (``$x``, a string,
a number, ``(``, ``-not``, ``!``) is an expression, read in *expression mode*.

Rule 3 — argument mode. After the command name come parameters and arguments, separated
by white space. ``-Name`` is a parameter; ``-Name:value`` binds ``value`` to it in one
token. Any other word is an argument: a bare word is a string (``Cert:\\LocalMachine\\My``,
``ucc01.companya.com-Verbose`` — a dash inside a word does not split it), adjacent quoted
and bare parts join into one word, ``$x`` and ``$x.Prop`` are values, ``(...)`` and
``$(...)`` run what they hold, ``{...}`` is a script block, ``a,b`` an array.

Rule 4 — quoting. ``'single'`` is literal (``''`` is a quote). ``"double"`` expands
``$name``, ``${name}`` and ``$(...)``, and backtick escapes (`` `n``, `` `t``, `` `0``,
`` `" ``, `` `$ `` ...); ``""`` is a quote. PowerShell also takes the typographic quotes
and dashes a web page puts in copied text (“ ” „ ‘ ’ ‚ ‛ – — ―).

Rule 5 — expression mode. Values (variables with ``.Member`` access, strings, numbers,
``(...)``, ``$(...)``, ``@(...)``), the comparison operators (``-eq -ne -gt -ge -lt -le
-like -notlike -match -notmatch -contains -notcontains -in -notin``, each with ``i``/``c``
variants), ``-not``/``!``, and ``-and``/``-or``/``-xor`` (lowest, left to right). A bare
word in expression mode is PowerShell's "Unexpected token".

Errors are :class:`ParseError` with PowerShell's own words and error ids
(``src/System.Management.Automation/resources/ParserStrings.resx`` of PowerShell, MIT
licensed, which Windows PowerShell 5.1 shares): ``TerminatorExpectedAtEndOfString``
"The string is missing the terminator: {0}.", ``MissingEndParenthesisInExpression``,
``MissingEndParenthesisInSubexpression``, ``MissingEndCurlyBrace``, ``UnexpectedToken``,
``EmptyPipeElement``, ``ExpectedValueExpression``, ``ExpressionsMustBeFirstInPipeline``,
``InvalidVariableReference``, ``MissingExpression``. PowerShell syntax the lab does not run
(redirection, ``&``, ``+``, hash tables, type literals, ``if``/``foreach`` ...) is
:class:`Unsupported`, which says so rather than pretending to be PowerShell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

__all__ = [
    "ParseError",
    "Unsupported",
    "Node",
    "Text",
    "Number",
    "Expandable",
    "Variable",
    "Member",
    "Paren",
    "SubExpression",
    "ArrayLiteral",
    "ScriptBlock",
    "Unary",
    "Binary",
    "Parameter",
    "Command",
    "Pipeline",
    "Assignment",
    "Statement",
    "parse_line",
    "COMPARISON_OPERATORS",
    "LOGICAL_OPERATORS",
]

DOUBLE_QUOTES = '"\u201c\u201d\u201e'
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DASHES = "-\u2013\u2014\u2015"
# Characters that end a bare word in argument mode (besides white space).
_WORD_END = ";|(){},&<>\n"
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_NAME = re.compile(r"[A-Za-z0-9_?]+(?::[A-Za-z0-9_]+)?")

_BASE_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch",
                     "contains", "notcontains", "in", "notin")
#: Comparison operators (lower case, without the dash): each base, and its ``i``/``c`` forms.
COMPARISON_OPERATORS = frozenset(p + b for b in _BASE_COMPARISONS for p in ("", "i", "c"))
#: Logical operators (same precedence, below the comparisons, left to right).
LOGICAL_OPERATORS = frozenset({"and", "or", "xor"})
# Operators PowerShell has that the lab's shell does not evaluate.
_OTHER_OPERATORS = frozenset({"replace", "ireplace", "creplace", "split", "isplit", "csplit", "join", "f",
                              "is", "isnot", "as", "band", "bor", "bxor", "bnot", "shl", "shr"})


class ParseError(Exception):
    """The line does not parse: ``message`` in PowerShell's words, ``error_id`` its
    FullyQualifiedErrorId, ``offset`` where (0-based)."""

    def __init__(self, message: str, offset: int, error_id: str) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.error_id = error_id


class Unsupported(Exception):
    """PowerShell the lab's shell does not run; ``offset`` where it starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# -- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A string: a quoted literal or a bare word without variables."""

    value: str
    offset: int
    quoted: bool = False


@dataclass(frozen=True)
class Number:
    value: int
    offset: int
    text: str  # as typed (a native program gets "0012", not 12)


@dataclass(frozen=True)
class Expandable:
    """A double-quoted string (or a bare word) holding ``$variables`` or ``$(...)``."""

    parts: tuple[str | Node, ...]
    offset: int


@dataclass(frozen=True)
class Variable:
    name: str
    offset: int


@dataclass(frozen=True)
class Member:
    target: Node
    name: str
    offset: int


@dataclass(frozen=True)
class Paren:
    """``( pipeline )``: the pipeline's output as a value."""

    pipeline: Statement
    offset: int


@dataclass(frozen=True)
class SubExpression:
    """``$( statements )`` or ``@( statements )`` (``array``): every statement's output."""

    statements: tuple[Statement, ...]
    offset: int
    array: bool = False


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple[Node, ...]
    offset: int


@dataclass(frozen=True)
class ScriptBlock:
    statements: tuple[Statement, ...]
    text: str
    offset: int


@dataclass(frozen=True)
class Unary:
    operator: str  # "not"
    operand: Node
    offset: int


@dataclass(frozen=True)
class Binary:
    operator: str  # lower case, without the dash: "eq", "ilike", "and"
    left: Node
    right: Node
    offset: int


Node = Union[Text, Number, Expandable, Variable, Member, Paren, SubExpression, ArrayLiteral, ScriptBlock, Unary, Binary]


@dataclass(frozen=True)
class Parameter:
    """``-Name`` (``argument`` None), ``-Name:value`` or ``-Name: value`` (``colon``)."""

    name: str
    offset: int
    text: str
    argument: Node | None = None
    colon: bool = False


@dataclass(frozen=True)
class Command:
    name: str
    offset: int
    elements: tuple[Parameter | Node, ...]
    end: int  # offset after the command's last character

    def text(self, line: str) -> str:
        """The command as typed."""
        return line[self.offset:self.end]


@dataclass(frozen=True)
class Pipeline:
    elements: tuple[Command | Node, ...]  # only the first may be an expression
    offset: int


@dataclass(frozen=True)
class Assignment:
    variable: str
    value: Pipeline
    offset: int


Statement = Union[Pipeline, Assignment]


# -- the parser ---------------------------------------------------------------------------------


def parse_line(line: str) -> tuple[Statement, ...]:
    """The statements of ``line`` (see the module's rules); :class:`ParseError` or
    :class:`Unsupported` when it cannot be run."""
    parser = _Parser(line)
    statements = parser.statements(until="")
    if parser.i < len(line):  # a stray ')' or '}'
        raise ParseError(f"Unexpected token '{line[parser.i]}' in expression or statement.", parser.i, "UnexpectedToken")
    return statements


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    # -- characters ------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.s[j] if j < len(self.s) else ""

    def skip_space(self, *, newlines: bool = False) -> None:
        """White space, comments and line continuations (and new lines when asked)."""
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "`" and self.peek(1) in ("\n", "\r"):
                self.i += 2
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            elif c.isspace() and (newlines or c != "\n"):
                self.i += 1
            else:
                return

    def at_end_of_statement(self) -> bool:
        return self.peek() in ("", ";", "\n", ")", "}")

    # -- statements -----------------------------------------------------------------------
    def statements(self, until: str) -> tuple[Statement, ...]:
        """Statements up to ``until`` (``)`` or ``}``; "" for the end of the line), which is
        not consumed."""
        found: list[Statement] = []
        while True:
            self.skip_space(newlines=True)
            c = self.peek()
            if c == ";":
                self.i += 1
                continue
            if c == "" or (until and c == until):
                return tuple(found)
            if c in ")}":
                if not until:
                    raise ParseError(f"Unexpected token '{c}' in expression or statement.", self.i, "UnexpectedToken")
                return tuple(found)  # the caller reports the missing terminator
            found.append(self.statement())
            self.skip_space()
            if not self.at_end_of_statement():
                raise ParseError(f"Unexpected token '{self.token_text()}' in expression or statement.", self.i,
                                 "UnexpectedToken")

    def statement(self) -> Statement:
        start = self.i
        if self.peek() == "$":
            save = self.i
            name = self.variable_name()
            if name is not None:
                self.skip_space()
                if self.peek() == "=" and self.peek(1) != "=":
                    self.i += 1
                    self.skip_space()
                    if self.at_end_of_statement() or self.peek() == "|":
                        raise ParseError("You must provide a value expression following the '=' operator.", self.i,
                                         "ExpectedValueExpression")
                    return Assignment(name, self.pipeline(), start)
            self.i = save
        keyword = re.match(r"(?i)(if|elseif|else|foreach|for|while|do|switch|function|filter|param|try|trap|throw|return|"
                           r"break|continue|exit|begin|process|end|class|enum|using|data)(?![\w-])", self.s[self.i:])
        if keyword:
            raise Unsupported(f"'{keyword.group(1)}' statements are not run by the lab's shell: type one pipeline "
                              "(cmdlets joined by |) per statement", self.i)
        return self.pipeline()

    def pipeline(self) -> Pipeline:
        start = self.i
        elements: list[Command | Node] = [self.element()]
        while True:
            self.skip_space()
            if self.peek() != "|":
                return Pipeline(tuple(elements), start)
            if self.peek(1) == "|":
                raise Unsupported("'||' (run when the previous pipeline failed) is PowerShell 7 syntax; Windows "
                                  "PowerShell 5.1 does not have it", self.i)
            self.i += 1
            self.skip_space()
            if self.at_end_of_statement() or self.peek() == "|":
                raise ParseError("An empty pipe element is not allowed.", self.i, "EmptyPipeElement")
            if not self.starts_command():
                raise ParseError("Expressions are only allowed as the first element of a pipeline.", self.i,
                                 "ExpressionsMustBeFirstInPipeline")
            elements.append(self.command())

    def starts_command(self) -> bool:
        c = self.peek()
        if c in ("?", "%") and (self.peek(1) == "" or self.peek(1).isspace()):
            return True  # the aliases of Where-Object and ForEach-Object
        return bool(c) and (c.isalpha() or c in "_.\\") and not (c == "." and self.peek(1) in ("", " "))

    def element(self) -> Command | Node:
        """A pipeline's first element: a command, or an expression (Rule 2)."""
        c = self.peek()
        if c == "&":
            raise Unsupported("the call operator '&' is not run by the lab's shell: type the command's name", self.i)
        if c == "[":
            raise Unsupported("type literals such as [string] are not evaluated by the lab's shell", self.i)
        if self.starts_command():
            return self.command()
        return self.expression()

    # -- commands (argument mode) -------------------------------------------------------------
    def command(self) -> Command:
        start = self.i
        name = self.bare_word_text()
        elements: list[Parameter | Node] = []
        end = self.i
        while True:
            self.skip_space()
            c = self.peek()
            if c in ("", ";", "\n", "|", ")", "}"):
                return Command(name, start, tuple(elements), end)
            if c in "<>":
                raise Unsupported("redirection ('>', '<') is not run by the lab's shell: the cmdlets write their "
                                  "files themselves (-FilePath)", self.i)
            if c == "&":
                raise Unsupported("'&' (background job, or '&&' of PowerShell 7) is not run by the lab's shell", self.i)
            if c in DASHES and (self.peek(1).isalpha() or self.peek(1) in "_?"):
                elements.append(self.parameter())
            else:
                elements.append(self.argument())
            end = self.i

    def parameter(self) -> Parameter:
        start = self.i
        self.i += 1
        name_start = self.i
        while self.i < len(self.s) and not self.s[self.i].isspace() and self.s[self.i] not in _WORD_END + ":" \
                and self.s[self.i] not in DOUBLE_QUOTES + SINGLE_QUOTES:
            self.i += 1
        name = self.s[name_start:self.i]
        if self.peek() != ":":
            return Parameter(name, start, self.s[start:self.i])
        self.i += 1
        text = self.s[start:self.i]
        glued = self.peek() not in ("",) and not self.peek().isspace() and self.peek() not in ";|)}\n"
        if not glued:
            # "-Name: value": the colon binds the next argument, even one that looks like a parameter.
            self.skip_space()
            if self.at_end_of_statement() or self.peek() == "|":
                return Parameter(name, start, text, None, colon=True)
        return Parameter(name, start, text, self.argument(), colon=True)

    def argument(self) -> Node:
        first = self.argument_item()
        self.skip_space()
        if self.peek() != ",":
            return first
        items = [first]
        while self.peek() == ",":
            self.i += 1
            self.skip_space()
            if self.at_end_of_statement() or self.peek() == "|":
                raise ParseError("Missing expression after ','.", self.i, "MissingExpressionAfterToken")
            items.append(self.argument_item())
            self.skip_space()
        return ArrayLiteral(tuple(items), first_offset(first))

    def argument_item(self) -> Node:
        c = self.peek()
        start = self.i
        if c == "{":
            return self.script_block()
        if c == "(":
            return self.postfix(self.paren())
        if c in "$@" and self.peek(1) == "(":
            return self.postfix(self.subexpression())
        if c == "$":
            value = self.postfix(self.variable())
            if self.at_word_end():
                return value
            self.i = start  # "$HOME\x": one word, expanded
        return self.word()

    def at_word_end(self) -> bool:
        c = self.peek()
        return c == "" or c.isspace() or c in _WORD_END

    def word(self) -> Node:
        """A bare word, with quoted parts and ``$variables`` joined into it (argument mode)."""
        start = self.i
        parts: list[str | Node] = []
        text: list[str] = []
        quoted = False
        while not self.at_word_end():
            c = self.peek()
            if c in DOUBLE_QUOTES:
                quoted = True
                self.i += 1
                self.double_quoted_into(text, parts, start_offset=self.i - 1)
            elif c in SINGLE_QUOTES:
                quoted = True
                self.i += 1
                text.append(self.single_quoted(self.i - 1))
            elif c == "`":
                if self.peek(1) == "":
                    self.i += 1
                else:
                    text.append(self.peek(1))
                    self.i += 2
            elif c == "$" and self.variable_starts():
                if text:
                    parts.append("".join(text))
                    text = []
                parts.append(self.embedded_variable())
            else:
                text.append("-" if c in DASHES else c)
                self.i += 1
        if text or not parts:
            parts.append("".join(text))
        if len(parts) == 1 and isinstance(parts[0], str):
            value = parts[0]
            if not quoted and re.fullmatch(r"[0-9]+", value):
                return Number(int(value), start, value)
            return Text(value, start, quoted)
        return Expandable(tuple(parts), start)

    def bare_word_text(self) -> str:
        """A command name: a bare word (quotes would make it a string expression)."""
        start = self.i
        while not self.at_word_end() and self.peek() not in DOUBLE_QUOTES + SINGLE_QUOTES:
            self.i += 1
        return self.s[start:self.i]

    # -- strings ---------------------------------------------------------------------------------
    def single_quoted(self, start: int) -> str:
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in SINGLE_QUOTES:
                if self.peek(1) and self.peek(1) in SINGLE_QUOTES:
                    out.append("'")
                    self.i += 2
                    continue
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        raise ParseError("The string is missing the terminator: '.", start, "TerminatorExpectedAtEndOfString")

    def double_quoted(self, start: int) -> Node:
        text: list[str] = []
        parts: list[str | Node] = []
        self.double_quoted_into(text, parts, start_offset=start)
        if text or not parts:
            parts.append("".join(text))
        if len(parts) == 1 and isinstance(parts[0], str):
            return Text(parts[0], start, quoted=True)
        return Expandable(tuple(parts), start)

    def double_quoted_into(self, text: list[str], parts: list[str | Node], *, start_offset: int) -> None:
        """Read up to the closing quote; literal characters go to ``text``, each expansion
        closes ``text`` into ``parts`` and is appended after it."""
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "`" and self.i + 1 < len(self.s):
                nxt = self.s[self.i + 1]
                text.append(_ESCAPES.get(nxt, nxt))
                self.i += 2
            elif c in DOUBLE_QUOTES:
                if self.peek(1) and self.peek(1) in DOUBLE_QUOTES:
                    text.append('"')
                    self.i += 2
                    continue
                self.i += 1
                return
            elif c == "$" and self.variable_starts():
                parts.append("".join(text))
                text.clear()
                parts.append(self.embedded_variable())
            else:
                text.append(c)
                self.i += 1
        raise ParseError('The string is missing the terminator: ".', start_offset, "TerminatorExpectedAtEndOfString")

    def variable_starts(self) -> bool:
        nxt = self.peek(1)
        return nxt == "(" or nxt == "{" or nxt == "$" or nxt == "^" or bool(nxt) and (nxt.isalnum() or nxt in "_?")

    def embedded_variable(self) -> Node:
        """``$name``, ``${name}`` or ``$(...)`` inside a string or word: no member access
        (``"$x.Name"`` expands ``$x`` and keeps ``.Name`` as text, as PowerShell does)."""
        if self.peek(1) == "(":
            return self.subexpression()
        return self.variable()

    # -- expressions -----------------------------------------------------------------------------
    def expression(self) -> Node:
        left = self.comparison()
        while True:
            self.skip_space()
            op = self.operator_ahead()
            if op is None or op not in LOGICAL_OPERATORS:
                return left
            offset = self.i
            self.i += 1 + len(op)
            self.skip_space(newlines=True)
            if self.at_end_of_statement() or self.peek() == "|":
                raise ParseError(f"You must provide a value expression following the '-{op}' operator.", self.i,
                                 "ExpectedValueExpression")
            left = Binary(op, left, self.comparison(), offset)

    def comparison(self) -> Node:
        left = self.array_or_unary()
        while True:
            self.skip_space()
            op = self.operator_ahead()
            if op is None or op in LOGICAL_OPERATORS:
                return left
            offset = self.i
            if op not in COMPARISON_OPERATORS:
                if op in _OTHER_OPERATORS:
                    raise Unsupported(f"the '-{op}' operator is not evaluated by the lab's shell (comparisons, "
                                      "-and, -or and -not are)", offset)
                raise ParseError(f"Unexpected token '-{op}' in expression or statement.", offset, "UnexpectedToken")
            self.i += 1 + len(op)
            self.skip_space(newlines=True)
            if self.at_end_of_statement() or self.peek() == "|":
                raise ParseError(f"You must provide a value expression following the '-{op}' operator.", self.i,
                                 "ExpectedValueExpression")
            left = Binary(op, left, self.array_or_unary(), offset)

    def operator_ahead(self) -> str | None:
        """The operator name at the cursor (``-eq`` → ``eq``), if one is there."""
        if self.peek() not in DASHES:
            return None
        found = re.match(r"[A-Za-z]+", self.s[self.i + 1:])
        return found.group(0).lower() if found else None

    def array_or_unary(self) -> Node:
        first = self.unary()
        self.skip_space()
        if self.peek() != ",":
            return first
        items = [first]
        while self.peek() == ",":
            self.i += 1
            self.skip_space(newlines=True)
            if self.at_end_of_statement():
                raise ParseError("Missing expression after ','.", self.i, "MissingExpressionAfterToken")
            items.append(self.unary())
            self.skip_space()
        return ArrayLiteral(tuple(items), first_offset(first))

    def unary(self) -> Node:
        self.skip_space()
        start = self.i
        if self.peek() == "!":
            self.i += 1
            return Unary("not", self.operand_after("!"), start)
        op = self.operator_ahead()
        if op == "not":
            self.i += 4
            return Unary("not", self.operand_after("-not"), start)
        return self.primary()

    def operand_after(self, token: str) -> Node:
        self.skip_space()
        if self.at_end_of_statement() or self.peek() == "|":
            raise ParseError(f"Missing expression after unary operator '{token}'.", self.i, "MissingExpressionAfterOperator")
        return self.unary()

    def primary(self) -> Node:
        c = self.peek()
        start = self.i
        if c in DOUBLE_QUOTES:
            self.i += 1
            return self.postfix(self.double_quoted(start))
        if c in SINGLE_QUOTES:
            self.i += 1
            return self.postfix(Text(self.single_quoted(start), start, quoted=True))
        if c == "(":
            return self.postfix(self.paren())
        if c in "$@" and self.peek(1) == "(":
            return self.postfix(self.subexpression())
        if c == "@" and self.peek(1) == "{":
            raise Unsupported("hash tables (@{...}) and splatting are not evaluated by the lab's shell", start)
        if c == "$":
            return self.postfix(self.variable())
        if c == "{":
            return self.script_block()
        if c.isdigit():
            found = re.match(r"[0-9]+", self.s[self.i:])
            assert found is not None
            self.i += len(found.group(0))
            if not self.at_word_end() and not self.peek().isspace() and self.peek() not in DASHES + ",":
                raise Unsupported(f"the number '{self.token_text(start)}' is not read by the lab's shell (whole "
                                  "numbers are)", start)
            return Number(int(found.group(0)), start, found.group(0))
        if c in "+*/%" or (c in DASHES and not self.peek(1).isalpha()):
            raise Unsupported(f"arithmetic ('{c}') is not evaluated by the lab's shell", start)
        if c in "[":
            raise Unsupported("type literals such as [string] are not evaluated by the lab's shell", start)
        if c == "" or c in ";)}\n":
            raise ParseError("An expression was expected after '('.", start, "ExpectedExpression")
        raise ParseError(f"Unexpected token '{self.token_text()}' in expression or statement.", start, "UnexpectedToken")

    def postfix(self, target: Node) -> Node:
        """``.Member`` accesses after a value (no white space before the dot)."""
        while self.peek() == "." and (self.peek(1).isalpha() or self.peek(1) == "_"):
            offset = self.i
            self.i += 1
            found = re.match(r"[A-Za-z_][A-Za-z0-9_]*", self.s[self.i:])
            assert found is not None
            self.i += len(found.group(0))
            if self.peek() == "(":
                raise Unsupported(f"method calls (.{found.group(0)}()) are not run by the lab's shell", offset)
            target = Member(target, found.group(0), offset)
        if self.peek() == "[":
            raise Unsupported("indexing ([n]) is not evaluated by the lab's shell: use Select-Object -First or "
                              "Where-Object", self.i)
        return target

    def variable_name(self) -> str | None:
        """Read ``$name`` or ``${name}``; None (cursor unmoved) when ``$`` starts none."""
        start = self.i
        if self.peek(1) == "{":
            end = self.s.find("}", self.i + 2)
            if end < 0:
                raise ParseError("Missing } at end of variable name.", start, "IncompleteDollarVariableReference")
            name = self.s[self.i + 2:end]
            if not name:
                raise ParseError("Braced variable name cannot be empty.", start, "EmptyBracedVariableName")
            self.i = end + 1
            return name
        if self.peek(1) in ("$", "^"):
            self.i += 2
            return self.s[start + 1]
        found = _NAME.match(self.s, self.i + 1)
        if not found:
            return None
        self.i = found.end()
        return found.group(0)

    def variable(self) -> Node:
        start = self.i
        name = self.variable_name()
        if name is None:
            raise ParseError("Variable reference is not valid. '$' was not followed by a valid variable name character. "
                             "Consider using ${} to delimit the name.", start, "InvalidVariableReference")
        return Variable(name, start)

    def paren(self) -> Node:
        start = self.i
        self.i += 1
        self.skip_space(newlines=True)
        if self.peek() == ")":
            raise ParseError("An expression was expected after '('.", self.i, "ExpectedExpression")
        inner = self.statement()
        self.skip_space(newlines=True)
        if self.peek() != ")":
            if self.peek() in ("", "}", ";"):
                raise ParseError("Missing closing ')' in expression.", self.i, "MissingEndParenthesisInExpression")
            raise ParseError(f"Unexpected token '{self.token_text()}' in expression or statement.", self.i,
                             "UnexpectedToken")
        self.i += 1
        return Paren(inner, start)

    def subexpression(self) -> Node:
        start = self.i
        array = self.peek() == "@"
        self.i += 2
        inner = self.statements(until=")")
        if self.peek() != ")":
            raise ParseError("Missing closing ')' in subexpression.", self.i, "MissingEndParenthesisInSubexpression")
        self.i += 1
        return SubExpression(inner, start, array)

    def script_block(self) -> Node:
        start = self.i
        self.i += 1
        inner = self.statements(until="}")
        if self.peek() != "}":
            raise ParseError("Missing closing '}' in statement block or type definition.", self.i, "MissingEndCurlyBrace")
        self.i += 1
        return ScriptBlock(inner, self.s[start + 1:self.i - 1], start)

    def token_text(self, start: int | None = None) -> str:
        """The token at ``start`` (default: the cursor), for an error message."""
        j = self.i if start is None else start
        if j >= len(self.s):
            return ""
        if self.s[j] in _WORD_END or self.s[j] in "!=":
            return self.s[j]
        end = j
        while end < len(self.s) and not self.s[end].isspace() and self.s[end] not in _WORD_END:
            end += 1
        return self.s[j:end]


def first_offset(node: Node) -> int:
    """Where ``node`` starts in the line."""
    return node.offset
