"""The linear-time glob matcher: checked against a slow, obviously right reference on random
patterns and values, and on inputs that make a backtracking matcher run for minutes."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from homeserver.util.glob import MAX_GLOB_LENGTH, Glob

WORD = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
# Letters in both cases, word and non-word characters, and the characters whose lower case is
# longer (U+0130) or an ASCII letter (the Kelvin sign, U+212A).
ALPHABET = "aAbB_1 .-\u0130\u212ak"


def fold(c: str) -> str:
    low = c.lower()
    return low if len(low) == 1 else c


def reference_whole(pattern: str, value: str, ignore_case: bool, question_mark: bool = True) -> bool:
    """Dynamic programming over (pattern prefix, value prefix): plainly right, plainly slow."""
    same = (lambda a, b: fold(a) == fold(b)) if ignore_case else (lambda a, b: a == b)
    n = len(value)
    row = [True] + [False] * n  # the empty pattern prefix matches the empty value prefix
    for p in pattern:
        new = [False] * (n + 1)
        if p == "*":
            new[0] = row[0]
            for j in range(1, n + 1):
                new[j] = row[j] or new[j - 1]
        else:
            for j in range(1, n + 1):
                new[j] = row[j - 1] and ((p == "?" and question_mark) or same(p, value[j - 1]))
        row = new
    return row[n]


def reference_words(pattern: str, value: str) -> bool:
    n = len(value)
    for i in range(n + 1):
        if i > 0 and value[i - 1] in WORD:
            continue
        for j in range(i, n + 1):
            if j < n and value[j] in WORD:
                continue
            if reference_whole(pattern, value[i:j], ignore_case=True):
                return True
    return False


patterns = st.text(alphabet=ALPHABET + "*?", max_size=8)
values = st.text(alphabet=ALPHABET, max_size=12)


class AgainstReferenceTests(unittest.TestCase):
    @settings(max_examples=3000, derandomize=True, deadline=None)
    @given(patterns, values)
    def test_whole_value_case_insensitive(self, pattern, value):
        self.assertEqual(Glob(pattern, ignore_case=True).matches(value),
                         reference_whole(pattern, value, ignore_case=True), (pattern, value))

    @settings(max_examples=3000, derandomize=True, deadline=None)
    @given(patterns, values)
    def test_whole_value_case_sensitive_without_question_mark(self, pattern, value):
        self.assertEqual(Glob(pattern, question_mark=False).matches(value),
                         reference_whole(pattern, value, ignore_case=False, question_mark=False), (pattern, value))

    @settings(max_examples=3000, derandomize=True, deadline=None)
    @given(patterns, values)
    def test_words(self, pattern, value):
        self.assertEqual(Glob(pattern, ignore_case=True).matches_words(value),
                         reference_words(pattern, value), (pattern, value))

    @settings(max_examples=1000, derandomize=True, deadline=None)
    @given(st.text(alphabet=ALPHABET + "*?", min_size=1, max_size=5), values)
    def test_literal_words(self, text, value):
        """A literal (a display name) treats `*` and `?` as themselves."""
        expected = any(
            (i == 0 or value[i - 1] not in WORD) and (i + len(text) == len(value) or value[i + len(text)] not in WORD)
            and all(fold(a) == fold(b) for a, b in zip(text, value[i:i + len(text)], strict=True))
            for i in range(len(value) - len(text) + 1))
        self.assertEqual(Glob.literal(text, ignore_case=True).matches_words(value), expected, (text, value))


class ExamplesTests(unittest.TestCase):
    def test_spec_examples(self):
        glob = Glob("lunc?*", ignore_case=True)
        self.assertTrue(glob.matches("Lunch plans"))
        self.assertTrue(glob.matches("LUNCH"))
        self.assertFalse(glob.matches(" lunch"))
        self.assertFalse(glob.matches("lunc"))
        words = Glob("ex*ple", ignore_case=True)
        self.assertTrue(words.matches_words("An example event."))
        self.assertTrue(words.matches_words("exple"))
        self.assertFalse(words.matches_words("An exampleX event."))
        self.assertFalse(words.matches_words("Anexample event."))

    def test_too_long_pattern_never_matches(self):
        self.assertFalse(Glob("a" * (MAX_GLOB_LENGTH + 1)).matches("a" * (MAX_GLOB_LENGTH + 1)))
        self.assertTrue(Glob("a" * MAX_GLOB_LENGTH).matches("a" * MAX_GLOB_LENGTH))


class PathologicalTests(unittest.TestCase):
    """Inputs that take a backtracking matcher minutes to hours. A timeout guards each test; there
    is no assertion on time."""

    timeout = 120
    BODY = "a " * 32 * 1024  # 64 KiB

    def test_many_stars_against_a_long_body(self):
        glob = Glob("*a*a*a*a*a*a*b", ignore_case=True)
        self.assertFalse(glob.matches_words(self.BODY))
        self.assertFalse(glob.matches(self.BODY))
        self.assertTrue(glob.matches_words(self.BODY + "b"))

    def test_question_marks_against_a_long_body(self):
        glob = Glob("*" + "a?" * 400 + "b*", ignore_case=True)
        self.assertFalse(glob.matches_words(self.BODY))
        self.assertFalse(glob.matches("a" * 65536))
        self.assertTrue(glob.matches("a" * 65536 + "b"))

    def test_star_runs(self):
        glob = Glob("*" * 500 + "a" + "*" * 499, ignore_case=True)
        self.assertFalse(glob.matches("b" * 65536))
        self.assertTrue(glob.matches_words(self.BODY))

    def test_literal_many_occurrences(self):
        """A display name found everywhere but never at a word boundary."""
        self.assertFalse(Glob.literal("aa", ignore_case=True).matches_words("a" * 65536))
