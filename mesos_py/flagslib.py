"""stout-style command-line flags: a table of flags and the loader that reads it.

A program declares its flags as a `FlagTable` of `FlagSpec` entries (the
agent's table is `mesos_py.flags.AGENT_FLAGS`); `load()` reads them from the
command line and the environment with the semantics of Mesos's "stout" flags
library (verified against a Mesos 1.11 binary), and `Flags` holds the typed
result. Nothing in this module is specific to the agent.

Sources and syntax
------------------
* ``--name=value``; a boolean flag also as ``--name`` (true) and ``--no-name``
  (false). ``--name=`` (empty value) on a boolean means true. Names are
  case-insensitive (``--PORT=1`` is ``--port=1``) and every argument is
  trimmed of surrounding whitespace first.
* ``--name value`` is NOT supported, exactly as in Mesos: ``--port 5051`` is
  the flag ``--port`` without a value (an error for a non-boolean flag) plus
  the stray argument ``5051``. Beware ``--switch_user false``: it sets the flag
  to true and ignores ``false`` (Mesos does the same); `Flags.warnings` reports
  every ignored argument.
* Arguments that do not start with ``--`` are ignored, and so is everything
  after a lone ``--`` (Mesos ignores them silently; we also list them in
  `Flags.warnings`).
* Every flag can also be set from the environment as ``MESOS_<NAME>`` (the part
  after the prefix is case-insensitive, so ``MESOS_PORT`` and ``MESOS_port``
  both work; if both are present the lowercase one wins, as in Mesos). A
  boolean can be negated as ``MESOS_no-<name>`` with an empty value. Variables
  with the prefix that name no known flag are ignored (other tools use the
  prefix too, e.g. ``MESOS_NUM_SLAVES``). A flag given on the command line in
  any form ignores the environment entirely.
* Giving the same flag twice on the command line (``--port=1 --port=2``, or
  ``--x --no-x``) is an error.
* A value ``file:///some/path`` is replaced by the content of that file. Unlike
  Mesos, the content is stripped of leading/trailing whitespace (Mesos keeps a
  trailing newline, which then fails to parse as a number or boolean). For a
  flag declared with ``conceal_file_contents`` (the agent's ``master`` flag),
  `Flags.as_strings()` shows the path rather than the content, as Mesos does
  for that flag, since the file may hold credentials.

Values
------
Strings and paths are taken verbatim (a path must not be empty). Integers are
decimal with an optional sign. Booleans are ``true``/``false``/``1``/``0``.
`Duration` and `Bytes` (`mesos_py.units`) use stout's units (``15secs``,
``0.5mins``, ``2GB``). Choices must match one of their options exactly
(case-sensitive).

Errors
------
Every problem raises `FlagError`, whose message is a single line naming the
flag (its ``flag`` attribute holds the name). The formats, all but the last
in Mesos's own wording, are::

    Failed to load unknown flag 'NAME'
    Failed to load unknown flag 'NAME' via 'no-NAME'
    Failed to load non-boolean flag 'NAME': Missing value
    Failed to load non-boolean flag 'NAME' via 'no-NAME'
    Failed to load boolean flag 'NAME' via 'no-NAME' with value 'VALUE'
    Flag 'NAME' is already loaded via name 'NAME'
    Failed to load flag 'NAME': Failed to load value 'VALUE': REASON
    Flag 'NAME' is required, but it was not provided
    Failed to validate flag 'NAME': REASON

``VALUE`` is the value as given (``file://...`` included); newlines inside a
message are shown as ``\\n`` so the message stays on one line. When several
things are wrong, the first in command-line order is reported (then the
environment, then required flags and validators, in name order).

--help and --version
--------------------
``help`` and ``version`` are ordinary boolean flags (Mesos lists them, as
``false``, in ``/flags``). `load()` never raises when either of them is true:
it returns a `Flags` whose ``help``/``version`` attribute is true even if other
flags were wrong (their values are then unreliable and must not be used). The
caller must check ``flags.help`` first (print the help text, exit 0), then
``flags.version`` (print the version, exit 0), as mesos-agent does; for the
agent, `mesos_py.flags` has `help_text()` and `version_text()`.

Declaring a flag
----------------
A flag has a fixed ``default``, or a ``default_factory`` called at load time
when the flag is not given, or neither (then it is optional: its value is None
and `as_strings()` omits it) or ``required=True``. ``validate`` is called with
the final typed value (defaults included; never with None) and returns an
error text or None.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, Sequence, TypeVar

from mesos_py.units import Bytes, Duration

__all__ = [
    "BOOL",
    "BYTES",
    "DURATION",
    "ENV_PREFIX",
    "FlagError",
    "FlagSpec",
    "FlagTable",
    "FlagType",
    "Flags",
    "INT",
    "NO_DEFAULT",
    "PATH",
    "STRING",
    "choice",
    "help_text",
    "load",
]

T = TypeVar("T")

ENV_PREFIX = "MESOS_"

# Characters stout's `strings::trim` removes from each argument.
_TRIM = " \t\n\r"


class FlagError(ValueError):
    """A flag could not be loaded; the message is one line naming the flag."""

    def __init__(self, message: str, flag: str | None = None) -> None:
        self.flag = flag
        super().__init__(_one_line(message))


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


# --------------------------------------------------------------------------
# Flag types.


@dataclass(frozen=True)
class FlagType(Generic[T]):
    """How a flag's text becomes a value and back.

    ``parse`` raises ValueError with the reason (it becomes the REASON part of
    the error message); ``format`` gives the text shown by `as_strings()` and
    in the help's defaults. A ``boolean`` type enables ``--name``/``--no-name``.
    """

    name: str
    parse: Callable[[str], T]
    format: Callable[[T], str] = str
    boolean: bool = False


def _parse_string(text: str) -> str:
    return text


def _parse_path(text: str) -> str:
    if text == "":
        raise ValueError("Expecting a non-empty path")
    return text


_INT_RE = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")


def _parse_int(text: str) -> int:
    # What C++ `istream >> int` accepts when it must consume the whole text:
    # leading whitespace, an optional sign, decimal digits.
    if not _INT_RE.fullmatch(text):
        raise ValueError("Failed to convert into required type")
    return int(text)


def _parse_bool(text: str) -> bool:
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError("Expecting a boolean (e.g., true or false)")


def _format_bool(value: bool) -> str:
    return "true" if value else "false"


STRING: FlagType[str] = FlagType("string", _parse_string)
PATH: FlagType[str] = FlagType("path", _parse_path)
INT: FlagType[int] = FlagType("int", _parse_int)
BOOL: FlagType[bool] = FlagType("bool", _parse_bool, _format_bool, boolean=True)
DURATION: FlagType[Duration] = FlagType("duration", Duration.parse)
BYTES: FlagType[Bytes] = FlagType("bytes", Bytes.parse)


def choice(*options: str) -> FlagType[str]:
    """A string restricted to ``options`` (compared case-sensitively)."""
    if not options:
        raise ValueError("choice() needs at least one option")
    allowed = tuple(options)
    listed = ", ".join(f"'{o}'" for o in allowed)

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"Expecting one of {listed}")
        return text

    return FlagType("choice(" + "|".join(allowed) + ")", parse)


# --------------------------------------------------------------------------
# The table.


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()

_NAME_RE = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class FlagSpec:
    """One flag: its name, type, help text and default.

    ``help``: description in plain words; `help_text()` wraps it, and a
    ``\\n`` in it starts a new paragraph.
    ``default``: the value when not given (already typed, e.g. ``5051``).
    ``default_factory``: computes the default at load time instead.
    ``default_help``: text shown as the default in the help (needed for a
    ``default_factory``; optional otherwise).
    ``required``: no default and the flag must be given.
    ``validate``: called with the final value (not None); returns an error
    text or None.
    ``conceal_file_contents``: when the value came from ``file://PATH``,
    `as_strings()` shows PATH instead of the file's content.
    """

    name: str
    type: FlagType[Any]
    help: str
    default: Any = NO_DEFAULT
    default_factory: Callable[[], Any] | None = None
    default_help: str | None = None
    required: bool = False
    validate: Callable[[Any], str | None] | None = None
    conceal_file_contents: bool = False

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name) or self.name.startswith("no-"):
            raise ValueError(f"Invalid flag name '{self.name}'")
        has_default = self.default is not NO_DEFAULT
        if has_default and self.default_factory is not None:
            raise ValueError(f"Flag '{self.name}' has both default and default_factory")
        if self.required and (has_default or self.default_factory is not None):
            raise ValueError(f"Required flag '{self.name}' cannot have a default")
        if self.default_factory is not None and self.default_help is None:
            raise ValueError(f"Flag '{self.name}' with default_factory needs default_help")

    @property
    def boolean(self) -> bool:
        return self.type.boolean

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT or self.default_factory is not None


class FlagTable:
    """An immutable set of `FlagSpec`, iterated in name order (as Mesos
    lists flags)."""

    __slots__ = ("_specs",)

    def __init__(self, specs: Iterable[FlagSpec]) -> None:
        by_name: dict[str, FlagSpec] = {}
        for spec in specs:
            if spec.name in by_name:
                raise ValueError(f"Duplicate flag '{spec.name}'")
            by_name[spec.name] = spec
        self._specs: Mapping[str, FlagSpec] = MappingProxyType(
            dict(sorted(by_name.items()))
        )

    def __iter__(self) -> Iterator[FlagSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str) -> FlagSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return list(self._specs)


# --------------------------------------------------------------------------
# The loaded flags.

SOURCE_COMMAND_LINE = "command line"
SOURCE_ENVIRONMENT = "environment"
SOURCE_DEFAULT = "default"


class Flags:
    """Loaded flag values: ``flags.port``, ``flags.work_dir``, ...

    An optional flag that was not given reads as None. Immutable.
    """

    __slots__ = ("_table", "_values", "_sources", "_shown", "warnings")

    _table: FlagTable
    _values: Mapping[str, Any]
    _sources: Mapping[str, str]
    _shown: Mapping[str, str]
    warnings: tuple[str, ...]

    def __init__(
        self,
        table: FlagTable,
        values: Mapping[str, Any],
        sources: Mapping[str, str],
        shown: Mapping[str, str],
        warnings: Sequence[str] = (),
    ) -> None:
        set_ = object.__setattr__
        set_(self, "_table", table)
        set_(self, "_values", MappingProxyType(dict(values)))
        set_(self, "_sources", MappingProxyType(dict(sources)))
        set_(self, "_shown", MappingProxyType(dict(shown)))
        set_(self, "warnings", tuple(warnings))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            table = object.__getattribute__(self, "_table")
            values = object.__getattribute__(self, "_values")
        except AttributeError:
            raise AttributeError(name) from None
        if name not in table:
            raise AttributeError(f"No flag named '{name}'")
        return values.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Flags are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Flags are read-only")

    def get(self, name: str) -> Any:
        """The value of flag ``name`` (None if unset); KeyError if unknown."""
        if name not in self._table:
            raise KeyError(name)
        return self._values.get(name)

    def source(self, name: str) -> str | None:
        """Where the value came from: "command line", "environment",
        "default", or None when the flag has no value."""
        if name not in self._table:
            raise KeyError(name)
        return self._sources.get(name)

    def specified(self, name: str) -> bool:
        """True when the user gave the flag (command line or environment)."""
        return self.source(name) in (SOURCE_COMMAND_LINE, SOURCE_ENVIRONMENT)

    def as_strings(self) -> dict[str, str]:
        """Every flag that has a value (defaults included), as text, in name
        order: what Mesos's ``/flags`` endpoint and ``GET_FLAGS`` show."""
        result: dict[str, str] = {}
        for spec in self._table:
            value = self._values.get(spec.name)
            if value is None:
                continue
            shown = self._shown.get(spec.name)
            result[spec.name] = shown if shown is not None else spec.type.format(value)
        return result

    def __repr__(self) -> str:
        items = " ".join(f'--{k}="{v}"' for k, v in self.as_strings().items())
        return f"Flags({items})"


# --------------------------------------------------------------------------
# Loading.


def _fetch(text: str) -> tuple[str, str | None]:
    """Resolve ``file://`` values. Returns (text to parse, path read or None)."""
    if not text.startswith("file://"):
        return text, None
    path = text[len("file://"):]
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            content = f.read()
    except OSError as e:
        reason = e.strerror or str(e)
        raise ValueError(f"Error reading file '{path}': {reason}") from None
    return content.strip(), path


class _Loader:
    def __init__(self, table: FlagTable) -> None:
        self.table = table
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.shown: dict[str, str] = {}

    def apply(self, name: str, value: str | None, source: str) -> None:
        negated = name.startswith("no-")
        flag_name = name[3:] if negated else name
        spec = self.table.get(flag_name)
        if spec is None:
            via = f" via '{name}'" if negated else ""
            raise FlagError(f"Failed to load unknown flag '{flag_name}'{via}", flag_name)
        if flag_name in self.sources:
            raise FlagError(
                f"Flag '{flag_name}' is already loaded via name '{flag_name}'", flag_name
            )

        if not spec.boolean:
            if negated:
                raise FlagError(
                    f"Failed to load non-boolean flag '{flag_name}' via '{name}'", flag_name
                )
            if value is None:
                raise FlagError(
                    f"Failed to load non-boolean flag '{flag_name}': Missing value",
                    flag_name,
                )
            text = value
        elif value is None or value == "":
            text = "false" if negated else "true"
        elif negated:
            raise FlagError(
                f"Failed to load boolean flag '{flag_name}' via '{name}'"
                f" with value '{value}'",
                flag_name,
            )
        else:
            text = value

        try:
            content, path = _fetch(text)
            parsed = spec.type.parse(content)
        except ValueError as e:
            raise FlagError(
                f"Failed to load flag '{flag_name}': Failed to load value '{text}': {e}",
                flag_name,
            ) from None

        self.values[flag_name] = parsed
        self.sources[flag_name] = source
        if path is not None and spec.conceal_file_contents:
            self.shown[flag_name] = path


def _scan_argv(argv: Sequence[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    entries: list[tuple[str, str | None]] = []
    warnings: list[str] = []
    for index, raw in enumerate(argv):
        arg = raw.strip(_TRIM)
        if arg == "--":
            rest = list(argv[index + 1:])
            if rest:
                warnings.append(f"Ignored the arguments after '--': {rest!r}")
            break
        if not arg.startswith("--"):
            warnings.append(f"Ignored argument '{raw}': flags are written --name=value")
            continue
        name, eq, value = arg[2:].partition("=")
        entries.append((name.lower(), value if eq else None))
    return entries, warnings


def _scan_environ(
    environ: Mapping[str, str], prefix: str, table: FlagTable
) -> dict[str, str]:
    found: dict[str, str] = {}
    # Sorted, so that of MESOS_PORT and MESOS_port the latter wins, as in Mesos.
    for key in sorted(environ):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):].lower()
        flag_name = name[3:] if name.startswith("no-") else name
        if flag_name in table:
            found[name] = environ[key]
    return found


def load(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    table: FlagTable,
    prefix: str = ENV_PREFIX,
) -> Flags:
    """Load flags from ``argv`` (without the program name) and ``environ``.

    Raises `FlagError` on the first problem, unless ``--help`` or
    ``--version`` is true (see the module documentation).
    """
    if isinstance(argv, str):
        raise TypeError("argv must be a sequence of arguments, not a string")
    for name in table.names():
        if hasattr(Flags, name):
            raise ValueError(f"Flag name '{name}' clashes with an attribute of Flags")

    cli_entries, warnings = _scan_argv(argv)
    loader = _Loader(table)
    first_error: FlagError | None = None

    def attempt(name: str, value: str | None, source: str) -> None:
        nonlocal first_error
        try:
            loader.apply(name, value, source)
        except FlagError as e:
            if first_error is None:
                first_error = e

    given_on_cli: set[str] = set()
    for name, value in cli_entries:
        given_on_cli.add(name[3:] if name.startswith("no-") else name)
        attempt(name, value, SOURCE_COMMAND_LINE)

    for name, value in _scan_environ(environ, prefix, table).items():
        flag_name = name[3:] if name.startswith("no-") else name
        if flag_name not in given_on_cli:
            attempt(name, value, SOURCE_ENVIRONMENT)

    for spec in table:
        if spec.name in loader.values:
            continue
        if spec.default_factory is not None:
            loader.values[spec.name] = spec.default_factory()
            loader.sources[spec.name] = SOURCE_DEFAULT
        elif spec.default is not NO_DEFAULT:
            loader.values[spec.name] = spec.default
            loader.sources[spec.name] = SOURCE_DEFAULT

    flags = Flags(table, loader.values, loader.sources, loader.shown, warnings)
    if loader.values.get("help") is True or loader.values.get("version") is True:
        return flags
    if first_error is not None:
        raise first_error

    for spec in table:
        value = loader.values.get(spec.name)
        if value is None:
            if spec.required:
                raise FlagError(
                    f"Flag '{spec.name}' is required, but it was not provided", spec.name
                )
            continue
        if spec.validate is not None:
            problem = spec.validate(value)
            if problem is not None:
                raise FlagError(
                    f"Failed to validate flag '{spec.name}': {problem}", spec.name
                )
    return flags


# --------------------------------------------------------------------------
# Help.


def _default_text(spec: FlagSpec) -> str | None:
    if spec.default_help is not None:
        return spec.default_help
    if spec.default is not NO_DEFAULT:
        return str(spec.type.format(spec.default))
    return None


_HELP_COLUMNS = 80


def help_text(table: FlagTable, program: str) -> str:
    """The ``--help`` text: a usage line, then every flag in name order: its
    name on one line, its description and (when it has one) its default
    indented below it."""
    indent = " " * 8
    avail = _HELP_COLUMNS - len(indent)
    out = [f"Usage: {program} [options]", ""]
    for spec in table:
        note = None
        if spec.required:
            note = "(required)"
        else:
            default = _default_text(spec)
            if default is not None:
                note = f"(default: {default})"
        lines: list[str] = []
        for paragraph in spec.help.split("\n"):
            lines.extend(
                textwrap.wrap(paragraph, avail, break_on_hyphens=False, break_long_words=False)
                or [""]
            )
        if note is not None:
            # Keep the note in one piece, after the text when it fits.
            if lines[-1] == "":
                lines[-1] = note
            elif len(lines[-1]) + 1 + len(note) <= avail:
                lines[-1] += " " + note
            else:
                lines.append(note)
        out.append(f"  --[no-]{spec.name}" if spec.boolean else f"  --{spec.name}=VALUE")
        out.extend((indent + line).rstrip() for line in lines)
    return "\n".join(out) + "\n"
