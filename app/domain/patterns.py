"""Field patterns: the one place a declared ``pattern`` is compiled and matched.

Patterns come from plug-in authors, definition files and municipal administrators, and run
on every submission. Python's ``re`` backtracks: ``(a+)+$`` against 30 a's and a "!" took
35 seconds, and since one process serves every municipality, one administrator's pattern
stalled everyone's requests. Patterns therefore run on RE2, whose matching time grows
linearly with the text: at most about ``program size x text length`` steps.

That product is what is bounded. A pattern is refused when RE2 cannot run it (backreferences
and lookaround need backtracking), when it is longer than :data:`MAX_PATTERN_LENGTH`, or when
its compiled size times the longest value it may see (the field's ``max_length``) is above
:data:`MATCH_BUDGET`; the registry applies the budget to the sum over a service's fields,
so one submission's pattern checks stay within it. Measured on a 2-core x86 server, the
slowest pattern found within the budget took about 0.15 s on its worst input (docs/plugins.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import re2

MAX_PATTERN_LENGTH = 500
# Compiled instructions x characters of input, per submission (see the module docstring).
MATCH_BUDGET = 50_000_000

PatternProblem = Literal["not_text", "too_long", "invalid", "too_complex"]


def _options() -> Any:
    options = re2.Options()
    # RE2 would also print each refused pattern to stderr; the caller reports it properly.
    options.log_errors = False
    # Caps the compiled program and the matching caches of each cached pattern.
    options.max_mem = 2 * 1024 * 1024
    return options


_OPTIONS = _options()


class PatternError(ValueError):
    """A pattern cannot be used. ``problem`` says why, for a translated message;
    ``str()`` is an English sentence that names the pattern, for plug-in authors."""

    def __init__(self, pattern: object, problem: PatternProblem, detail: str) -> None:
        self.pattern = pattern
        self.problem = problem
        super().__init__(f"pattern {pattern!r} {detail}")


@dataclass(frozen=True)
class CompiledPattern:
    text: str
    regex: Any  # re2's compiled expression (the library has no type hints)

    @property
    def size(self) -> int:
        """RE2's program size: the per-character cost of a match, in instructions."""
        size: int = self.regex.programsize
        return size

    def cost(self, longest_value: int) -> int:
        return self.size * longest_value

    def fullmatch(self, value: str) -> bool:
        try:
            return self.regex.fullmatch(value) is not None
        except UnicodeEncodeError:
            # A lone surrogate is not text, so it has no expected format either.
            return False


def compile_pattern(text: str) -> CompiledPattern:
    """The RE2 form of ``text``, or :class:`PatternError` (only patterns RE2 can run)."""
    if not isinstance(text, str):
        # A definition file can put anything here; checked before the cache, which hashes.
        raise PatternError(text, "not_text", "must be text")
    if len(text) > MAX_PATTERN_LENGTH:
        raise PatternError(text, "too_long", f"is {len(text)} characters long; the limit is {MAX_PATTERN_LENGTH}")
    return _compile(text)


# Every submission matches the same few patterns: compile each once per process.
@functools.lru_cache(maxsize=256)
def _compile(text: str) -> CompiledPattern:
    try:
        regex = re2.compile(text, _OPTIONS)
    except UnicodeEncodeError:
        raise PatternError(text, "invalid", "is not valid text") from None
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "too large" in reason:
            raise PatternError(text, "too_complex", "compiles to more than RE2's memory limit") from None
        raise PatternError(
            text,
            "invalid",
            f"is not an RE2 regular expression ({reason}); backreferences and lookaround "
            "are not supported, because they cannot be matched in linear time",
        ) from None
    return CompiledPattern(text, regex)


def check_cost(compiled: CompiledPattern, longest_value: int) -> None:
    """:class:`PatternError` when matching values of up to ``longest_value`` characters
    could cost more than :data:`MATCH_BUDGET`."""
    if compiled.cost(longest_value) > MATCH_BUDGET:
        raise PatternError(
            compiled.text,
            "too_complex",
            f"is too complex for values of up to {longest_value} characters (compiled size {compiled.size}"
            f" x {longest_value} is above {MATCH_BUDGET}): set a smaller max_length or simplify the pattern",
        )


def matches(pattern: str, value: str) -> bool:
    """Whether all of ``value`` matches ``pattern`` (a declared, hence valid, pattern)."""
    return compile_pattern(pattern).fullmatch(value)
