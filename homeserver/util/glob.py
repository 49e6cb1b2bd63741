"""Glob matching in linear time: the one matcher for every glob a user or a remote server writes
(push rule patterns, filter event types, server ACLs).

A glob is split at its `*`s into segments. A whole-value match needs the first segment at the
start, the last at the end, and the ones between found left to right, each at the leftmost place
after the previous one (taking the leftmost never loses a match). Segments are found with
`str.find` when they are literal, and with a bit-parallel scan (shift-and, one pass over the
value) when they hold `?`. Nothing backtracks: the work is bounded by the value's length times a
small factor, whatever the pattern. Python's `re` is never used on a pattern someone wrote: its
backtracking makes `*a*a*a*b` against a long value take minutes.

Word mode (push rules on `content.body`): the pattern must match some substring that starts and
ends at a word boundary, i.e. the character before it and the one after it (if any) are not in
[A-Za-z0-9_]. The earliest start that fits is the best one (every later step can only move
right), so that too is one left-to-right pass."""

from __future__ import annotations

from collections.abc import Iterator

# Longer patterns are refused where they are written (push rules, filters) and never match here.
MAX_GLOB_LENGTH = 1000
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def fold_case(value: str) -> str:
    """Lower case, one character for one, so that positions in the folded value are positions in
    the original (the few characters whose lower case is longer are kept as they are)."""
    folded = value.lower()
    if len(folded) == len(value):
        return folded
    return "".join(low if len(low := c.lower()) == 1 else c for c in value)


class _Segment:
    """A piece of a glob between two `*`s: literal characters and `?` (any one character)."""

    __slots__ = ("text", "length", "_masks", "_any")

    def __init__(self, text: str, question_mark: bool):
        self.text = text
        self.length = len(text)
        self._masks: dict[str, int] | None = None
        self._any = 0
        if question_mark and "?" in text:
            masks: dict[str, int] = {}
            for i, c in enumerate(text):
                if c == "?":
                    self._any |= 1 << i
                else:
                    masks[c] = masks.get(c, 0) | (1 << i)
            self._masks = {c: bits | self._any for c, bits in masks.items()}

    def match_at(self, value: str, i: int) -> bool:
        if self._masks is None:
            return value.startswith(self.text, i)
        if i + self.length > len(value):
            return False
        for k, c in enumerate(self.text):
            if c != value[i + k] and not (self._any >> k) & 1:
                return False
        return True

    def find_all(self, value: str, start: int, end: int) -> Iterator[int]:
        """Every position p, in order, with start <= p and p + length <= end where this matches."""
        m = self.length
        if m == 0:
            yield from range(start, end + 1)
            return
        if self._masks is None:
            p = value.find(self.text, start, end)
            while p >= 0:
                yield p
                p = value.find(self.text, p + 1, end)
            return
        masks, anything, state, accept = self._masks, self._any, 0, 1 << (m - 1)
        for j in range(start, end):
            state = ((state << 1) | 1) & masks.get(value[j], anything)
            if state & accept:
                yield j - m + 1

    def find(self, value: str, start: int, end: int) -> int:
        return next(self.find_all(value, start, end), -1)


class Glob:
    """A compiled glob. `*` matches any run of characters (none included); `?` one character
    (unless `question_mark` is False, as in filters, where it is literal)."""

    __slots__ = ("pattern", "_ignore_case", "_segments", "_min_length", "_valid")

    def __init__(self, pattern: str, *, ignore_case: bool = False, question_mark: bool = True):
        self.pattern = pattern
        self._ignore_case = ignore_case
        self._valid = len(pattern) <= MAX_GLOB_LENGTH
        text = fold_case(pattern) if ignore_case else pattern
        parts = text.split("*")
        # Runs of `*` are one `*`: drop the empty segments between them (not the first and last).
        if len(parts) > 2:
            parts = [parts[0], *[p for p in parts[1:-1] if p], parts[-1]]
        self._segments = [_Segment(p, question_mark) for p in parts]
        self._min_length = sum(s.length for s in self._segments)

    @classmethod
    def literal(cls, text: str, *, ignore_case: bool = False) -> Glob:
        """A pattern with no wildcards at all (e.g. a display name to look for as a word)."""
        glob = cls("", ignore_case=ignore_case)
        glob.pattern = text
        glob._valid = True
        glob._segments = [_Segment(fold_case(text) if ignore_case else text, question_mark=False)]
        glob._min_length = len(text)
        return glob

    def matches(self, value: str) -> bool:
        """Whether the pattern matches the whole value."""
        if not self._valid or len(value) < self._min_length:
            return False
        s = fold_case(value) if self._ignore_case else value
        segments, n = self._segments, len(s)
        if len(segments) == 1:
            return n == segments[0].length and segments[0].match_at(s, 0)
        first, last = segments[0], segments[-1]
        if not first.match_at(s, 0) or not last.match_at(s, n - last.length):
            return False
        pos, end = first.length, n - last.length
        for segment in segments[1:-1]:
            found = segment.find(s, pos, end)
            if found < 0:
                return False
            pos = found + segment.length
        return True

    def matches_words(self, value: str) -> bool:
        """Whether the pattern matches a substring of the value that starts and ends at a word
        boundary (push rules' special case for `content.body`)."""
        if not self._valid or len(value) < self._min_length:
            return False
        s = fold_case(value) if self._ignore_case else value
        segments, n = self._segments, len(s)

        def starts_word(i: int) -> bool:
            return i == 0 or value[i - 1] not in _WORD_CHARS

        def ends_word(j: int) -> bool:
            return j == n or value[j] not in _WORD_CHARS

        first = segments[0]
        if len(segments) == 1:
            return any(starts_word(i) and ends_word(i + first.length) for i in first.find_all(s, 0, n))
        start = next((i for i in first.find_all(s, 0, n) if starts_word(i)), -1)
        if start < 0:
            return False
        pos = start + first.length
        for segment in segments[1:-1]:
            found = segment.find(s, pos, n)
            if found < 0:
                return False
            pos = found + segment.length
        last = segments[-1]
        return any(ends_word(q + last.length) for q in last.find_all(s, pos, n))
