"""The PII redaction step: masks personal data and secrets in captured content before storage.

Detectors: emails, phone numbers (international ``+CC …`` and common national formats), payment cards
(Luhn and issuer prefix checked), IBANs (mod-97 checksum and country length), US SSNs, UK NINOs, API
keys and secrets (OpenAI, Anthropic, AWS, GitHub, Slack, Google, JWT, private keys, bearer tokens,
``api_key=``/``password=`` assignments) and IPv4/IPv6 addresses. Patterns are compiled once; each runs
only when a cheap probe (a character or literal it needs) is present, so clean text costs a few scans.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import re2

from agentotel.processors.normalize.otel import CONTENT_ATTRIBUTES as GENAI_CONTENT_ATTRIBUTES
from agentotel.processors.records import SpanBatch

DEFAULT_REPLACEMENT = "[REDACTED:{kind}]"

EXCEPTION_TEXT_KEYS = frozenset(("exception.message", "exception.stacktrace"))
# Attribute keys that carry captured content (exact): the OTel GenAI dialect's own list, every other
# dialect's (repeated here where the normalizer does not read them), free text; then key prefixes
# (flattened messages)
CONTENT_KEYS = GENAI_CONTENT_ATTRIBUTES | EXCEPTION_TEXT_KEYS | frozenset(
    (
        "gen_ai.task.input", "gen_ai.task.output",
        "input.value", "output.value", "traceloop.entity.input", "traceloop.entity.output",
        "langfuse.observation.input", "langfuse.observation.output", "langfuse.trace.input",
        "langfuse.trace.output", "ai.prompt", "ai.prompt.messages", "ai.response.text",
        "ai.response.object", "ai.response.toolCalls", "ai.toolCall.args", "ai.toolCall.result",
        "ai.value", "ai.values", "gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response",
        "gcp.vertex.agent.tool_call_args", "gcp.vertex.agent.tool_response", "tool_arguments",
        "tool_response", "final_result", "pydantic_ai.all_messages", "logfire.msg",
        "llm.prompts",
        "llm.choices",
        # event attributes of the per-message / choice events
        "content", "message", "body",
    )
)  # fmt: skip
CONTENT_PREFIXES = (
    "gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.",
    "llm.prompts.", "llm.choices.", "llm.prompt_template.variables", "embedding.embeddings.",
    "retrieval.documents.", "reranker.", "langfuse.observation.metadata.", "gen_ai.tool.call.",
)  # fmt: skip


# ---------------------------------------------------------------- validators


def luhn_valid(digits: str) -> bool:
    """Luhn checksum of a digit string."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_issuer(digits: str) -> bool:
    """Issuer prefixes of the major networks (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay)."""
    first = digits[0]
    if first == "4":
        return True
    two = int(digits[:2])
    four = int(digits[:4])
    return (
        51 <= two <= 55
        or 2221 <= four <= 2720
        or two in (34, 37, 36, 38, 35, 62, 65)
        or digits.startswith(("6011", "64", "300", "301", "302", "303", "304", "305"))
    )


def card_valid(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.isdigit() and _card_issuer(digits) and luhn_valid(digits)


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(candidate: str) -> bool:
    """Country length (when known) and the ISO 13616 mod-97 checksum."""
    iban = candidate.replace(" ", "")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(char, 36)) for char in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def ssn_valid(candidate: str) -> bool:
    digits = candidate.replace("-", "").replace(" ", "")
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_NINO_BAD_PREFIXES = frozenset(("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"))


def nino_valid(candidate: str) -> bool:
    return candidate[:2] not in _NINO_BAD_PREFIXES


def ipv4_valid(candidate: str) -> bool:
    parts = candidate.split(".")
    if len(parts) != 4 or any(int(part) > 255 for part in parts):
        return False
    return candidate not in ("0.0.0.0", "127.0.0.1", "255.255.255.255")


def ipv6_valid(candidate: str) -> bool:
    if candidate.count(":") < 2 or not any(char not in ":0" for char in candidate.split("%")[0]):
        return False
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def assigned_value_valid(candidate: str) -> bool:
    """A value after ``password=``/``api_key:``: long enough or containing a digit, and not a placeholder."""
    if candidate.lower() in ("null", "none", "true", "false", "undefined", "redacted", "xxxx", "****"):
        return False
    return len(candidate) >= 8 or (len(candidate) >= 4 and any(char.isdigit() for char in candidate))


_DATE_START = re.compile(r"\d{1,4}[-./]\d{1,2}[-./]\d{1,4}(?!\d)")


def phone_valid(candidate: str) -> bool:
    digits = sum(char.isdigit() for char in candidate)
    if candidate.startswith("+"):
        return 8 <= digits <= 15
    if _DATE_START.match(candidate):
        return False
    return 10 <= digits <= 12


# ---------------------------------------------------------------- detectors


@dataclass(frozen=True)
class Branch:
    """One detector form: its regex (after the scan's shared prefix), validator and replaced part.

    ``value`` names a group holding the part replaced (e.g. only the value of ``password=…``); None
    replaces the whole match.
    """

    name: str  # detector name users select (email, phone, card, iban, ssn, nino, secret, ip)
    label: str  # the {kind} of the replacement
    pattern: str
    validate: Callable[[str], bool] | None = None
    value: str | None = None


@dataclass(frozen=True)
class Scan:
    """Branches searched in ONE pass, behind a probe that must be true for the pass to run."""

    prefix: str
    branches: tuple[Branch, ...]
    probe: Callable[[str], bool] | None = None
    flags: int = 0
    # Optional candidate finders, so the (slower) full pattern is only tried where it can match:
    anchor: str | None = None  # a cheap regex; the full pattern is matched where it matches
    needles: tuple[str, ...] = ()  # literals; the full pattern is matched at word starts just before them
    back_chars: str = ""  # characters a match may span before its needle
    lowered: bool = False  # needles are searched in the lower-cased text
    # An RE2 pattern that matches wherever any match of the scan's pattern could start or lie: a superset
    # (no lookaround, no backreference), true of every ASCII text the pass would change. None: always run.
    trigger: str | None = None


def _has(*needles: str) -> Callable[[str], bool]:
    def probe(text: str) -> bool:
        for needle in needles:
            if needle in text:
                return True
        return False

    return probe


_WS = r"[\t-\r\x1c-\x20]"  # what Python's \s matches in ASCII text (RE2's \s lacks \v and \x1c-\x1f)
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")
_ASSIGN_KEYS = (
    r"api[_\-]?key|apikey|x-api-key|secret[_\-]?key|client[_\-]?secret|secret|password|passwd|pwd"
    r"|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token|private[_\-]?key|aws_secret_access_key|token"
)

# Patterns start with a literal or a character class so the regex engine skips ahead quickly; word
# boundaries are lookbehinds placed after the first character for the same reason.
SCANS: tuple[Scan, ...] = (
    Scan(
        "",
        (
            Branch(
                "secret",
                "SECRET",
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            ),
            Branch(
                "secret",
                "SECRET",
                r"(?<![A-Za-z0-9_\-])sk-(?=[A-Za-z0-9_\-]*\d)(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
            ),
            Branch("secret", "SECRET", r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])"),
            Branch(
                "secret",
                "SECRET",
                r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
            ),
            Branch("secret", "SECRET", r"(?<![A-Za-z0-9])xox[abposr]-(?=[A-Za-z0-9\-]*\d)[A-Za-z0-9\-]{10,}"),
            Branch("secret", "SECRET", r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}"),
            Branch("secret", "SECRET", r"(?<![A-Za-z0-9])(?:sk|rk)_live_[0-9A-Za-z]{16,}"),
            Branch("secret", "SECRET", r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        ),
        _has("-----BEGIN", "sk-", "AKIA", "ASIA", "gh", "xox", "AIza", "_live_", "eyJ"),
        trigger=r"-----BEGIN |sk-|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22}"
        r"|xox[abposr]-|AIza[0-9A-Za-z_\-]{35}|(?:sk|rk)_live_[0-9A-Za-z]{16}|eyJ[A-Za-z0-9_\-]{8,}\.eyJ",
    ),
    Scan(
        "",
        (
            Branch(
                "secret",
                "SECRET",
                r"[Bb](?<![A-Za-z0-9][Bb])earer\s+(?P<bearer>[A-Za-z0-9._~+/=\-]{16,})",
                value="bearer",
            ),
        ),
        _has("earer"),
        trigger=r"[Bb]earer" + _WS + r"+[A-Za-z0-9._~+/=\-]{16}",
    ),
    Scan(
        "",
        (
            Branch(
                "secret",
                "SECRET",
                r"(?<![a-z0-9])(?:"
                + _ASSIGN_KEYS
                + r")[\"']?\s*[:=]\s*[\"']?(?P<assigned>[^\s\"',;{}\[\]]{4,})",
                assigned_value_valid,
                value="assigned",
            ),
        ),
        None,
        re.IGNORECASE,
        needles=("key", "secret", "passw", "pwd", "token"),
        back_chars="abcdefghijklmnopqrstuvwxyz0123456789_-",
        lowered=True,
        trigger=r"(?i)(?:key|secret|password|passwd|pwd|token)[\"']?" + _WS + r"*[:=]",
    ),
    Scan(
        "",
        (
            Branch(
                "email",
                "EMAIL",
                r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9\-])",
            ),
        ),
        _has("@"),
        needles=("@",),
        trigger=r"[A-Za-z0-9._%+\-]@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2}",
        back_chars="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-",
    ),
    Scan(
        r"[A-Z](?<![A-Za-z0-9][A-Z])",
        (
            Branch(
                "iban",
                "IBAN",
                r"[A-Z]\d\d(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
                iban_valid,
            ),
            Branch("nino", "NINO", r"[A-CEGHJ-NPR-TW-Z] ?\d\d ?\d\d ?\d\d ?[A-D](?![A-Za-z0-9])", nino_valid),
        ),
        anchor=r"[A-Z][A-Z] ?\d\d",
        trigger=r"[A-Z][A-Z][0-9][0-9](?: ?[A-Z0-9]{4}){2}|[A-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]",
    ),
    Scan(
        "",
        (
            Branch(
                "ip",
                "IP",
                r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}(?::[0-9A-Fa-f]{0,4}){2,7}"
                r"(?:\.\d{1,3}){0,3}(?:%[\w.]+)?(?![\w:])",
                ipv6_valid,
            ),
        ),
        lambda text: "::" in text or _IPV6_HINT.search(text) is not None,
        trigger=r":[0-9A-Fa-f]{0,4}:",
    ),
    Scan(
        r"\d(?<![\w.]\d)",
        (
            Branch(
                "ssn",
                "SSN",
                r"(?<![\-]\d)\d\d(?P<ssn_sep>[\- ])\d\d(?P=ssn_sep)\d{4}(?![\w\-]|\.\d)",
                ssn_valid,
            ),
            Branch(
                "ip",
                "IP",
                r"(?<![Vv]ersion \d)(?<![Vv]ersions \d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)",
                ipv4_valid,
            ),
            Branch("card", "CARD", r"(?:[ \-]?\d){12,18}(?![\w]|\.\d)", card_valid),
            Branch(
                "phone",
                "PHONE",
                r"(?<![+\-/:]\d)(?:\d\d(?P<us_sep>[ .\-])\d{3}(?P=us_sep)\d{4}"
                r"|(?<=1)(?P<us1_sep>[ .\-])\d{3}(?P=us1_sep)\d{3}(?P=us1_sep)\d{4}"
                r"|(?<=0)\d{1,4}(?:[ .\-]\d{2,6}){1,4})(?![\w]|[.\-/:]\d)",
                phone_valid,
            ),
        ),
        anchor=r"\d(?<![\w.]\d)[\d \-.]{6}",
        trigger=r"[0-9]{3}[\- ][0-9]{2}[\- ][0-9]{4}"  # ssn
        r"|[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"  # ipv4
        r"|[0-9](?:[ \-]?[0-9]){12}"  # card
        r"|[0-9]{3}[ .\-][0-9]{3}[ .\-][0-9]{4}|[0-9][ .\-][0-9]{3}[ .\-][0-9]{3}[ .\-][0-9]{4}"  # phone
        r"|[0-9]{2,5}[ .\-][0-9]{2}",
    ),
    Scan(
        "",
        (
            Branch(
                "phone",
                "PHONE",
                r"\+(?<![\w+]\+)\d{1,3}(?:[ .\-]?\(\d{1,4}\))?(?:[ .\-]?\d{1,4}){2,5}(?![\w]|[.\-]\d)"
                r"|\((?<![\w(]\()\d{3}\) ?\d{3}[ .\-]\d{4}(?![\w]|[.\-]\d)",
                phone_valid,
            ),
        ),
        _has("+", "("),
        anchor=r"[+(]\d",
        trigger=r"\+[0-9]|\([0-9]{3}\)",
    ),
)
DETECTOR_NAMES = tuple(dict.fromkeys(branch.name for scan in SCANS for branch in scan.branches))


Decide = Callable[[re.Match[str]], "str | None"]


def _splice(text: str, pieces: list[str], last: int) -> str:
    pieces.append(text[last:])
    return "".join(pieces)


def _anchored_pass(
    anchor: re.Pattern[str], pattern: re.Pattern[str], decide: Decide, probe: Callable[[str], bool] | None
) -> Callable[[str], str]:
    """Try the full pattern only where the cheap anchor matches."""

    def run(text: str) -> str:
        if probe is not None and not probe(text):
            return text
        pieces: list[str] = []
        last = pos = 0
        search, match_at = anchor.search, pattern.match
        while True:
            hit = search(text, pos)
            if hit is None:
                break
            found = match_at(text, hit.start())
            if found is not None:
                replacement = decide(found)
                if replacement is not None:
                    pieces.append(text[last : found.start()])
                    pieces.append(replacement)
                    last = pos = found.end()
                    continue
            pos = hit.start() + 1
        return _splice(text, pieces, last) if pieces else text

    return run


def _needle_pass(
    scan: Scan, pattern: re.Pattern[str], decide: Decide, probe: Callable[[str], bool] | None
) -> Callable[[str], str]:
    """Find literal needles, then match the full pattern at the word starts just before each of them."""
    needles = scan.needles
    back = frozenset(scan.back_chars)
    lowered = scan.lowered
    max_back = 64

    def run(text: str) -> str:
        if probe is not None and not probe(text):
            return text
        haystack = text.lower() if lowered else text
        if len(haystack) != len(text):  # lower() changed the length (rare non-ASCII): scan plainly
            return pattern.sub(lambda m: decide(m) or m.group(0), text)
        hits = sorted(index for needle in needles for index in _find_all(haystack, needle))
        pieces: list[str] = []
        last = 0
        match_at = pattern.match
        for index in hits:
            if index < last:
                continue
            start = index
            floor = max(last, index - max_back)
            while start > floor and haystack[start - 1] in back:
                start -= 1
            for candidate in range(start, index + 1):
                if candidate != start and haystack[candidate - 1].isalnum():
                    continue
                found = match_at(text, candidate)
                if found is not None and found.end() > index:
                    replacement = decide(found)
                    if replacement is not None:
                        pieces.append(text[last : found.start()])
                        pieces.append(replacement)
                        last = found.end()
                    break
        return _splice(text, pieces, last) if pieces else text

    return run


def _find_all(text: str, needle: str) -> list[int]:
    found = []
    index = text.find(needle)
    while index != -1:
        found.append(index)
        index = text.find(needle, index + 1)
    return found


class Redactor:
    """Redacts text with the chosen detectors (all by default)."""

    def __init__(
        self, detectors: Iterable[str] | None = None, replacement: str = DEFAULT_REPLACEMENT
    ) -> None:
        chosen = DETECTOR_NAMES if detectors is None else tuple(detectors)
        unknown = sorted(set(chosen) - set(DETECTOR_NAMES))
        if unknown:
            raise ValueError(f"unknown PII detector(s) {unknown}; known: {', '.join(DETECTOR_NAMES)}")
        try:
            replacement.format(kind="EMAIL")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"replacement {replacement!r} must be a format string with only {{kind}}"
            ) from exc
        self.detectors = tuple(name for name in DETECTOR_NAMES if name in chosen)
        self.replacement = replacement
        self.counts: dict[str, int] = {}
        self._passes: list[Callable[[str], str]] = []
        triggers: list[tuple[int, str]] = []
        for scan in SCANS:
            branches = [branch for branch in scan.branches if branch.name in chosen]
            if branches:
                if scan.trigger is not None:
                    triggers.append((len(self._passes), scan.trigger))
                self._passes.append(self._compile(scan, branches))
        self._always = frozenset(range(len(self._passes))) - {index for index, _ in triggers}
        self._triggers: re2.Set | None = None
        self._trigger_pass: list[int] = []
        if triggers:
            self._triggers = re2.Set.SearchSet(re2.Options())
            for index, trigger in triggers:
                self._triggers.Add(trigger)
                self._trigger_pass.append(index)
            self._triggers.Compile()

    def _compile(self, scan: Scan, branches: list[Branch]) -> Callable[[str], str]:
        names = {f"b{index}": branch for index, branch in enumerate(branches)}
        alternation = "|".join(f"(?P<{name}>{branch.pattern})" for name, branch in names.items())
        pattern = re.compile(f"{scan.prefix}(?:{alternation})", scan.flags)
        masks = {name: self.replacement.format(kind=branch.label) for name, branch in names.items()}
        counts = self.counts

        def decide(match: re.Match[str]) -> str | None:
            """The replacement of the matched text, or None to keep it."""
            name = match.lastgroup or ""
            branch = names.get(name)
            if branch is None:
                name = next(key for key in names if match.group(key) is not None)
                branch = names[name]
            if branch.validate is not None and not branch.validate(match.group(branch.value or 0)):
                return None
            counts[branch.label] = counts.get(branch.label, 0) + 1
            if branch.value is None:
                return masks[name]
            start, end = match.span(branch.value)
            return match.string[match.start() : start] + masks[name] + match.string[end : match.end()]

        probe = scan.probe
        if scan.anchor is not None:
            return _anchored_pass(re.compile(scan.anchor), pattern, decide, probe)
        if scan.needles:
            return _needle_pass(scan, pattern, decide, probe)

        def replace(match: re.Match[str]) -> str:
            found = decide(match)
            return match.group(0) if found is None else found

        def run(text: str) -> str:
            if probe is not None and not probe(text):
                return text
            return pattern.sub(replace, text)

        return run

    def redact_text(self, text: str) -> str:
        """``text`` with every detected value replaced."""
        if len(text) < 6:
            return text
        if self._triggers is not None and text.isascii():
            return self._redact_triggered(text)
        return self.redact_every_pass(text)

    def redact_every_pass(self, text: str) -> str:
        """The reference result: every pass runs, without the RE2 triggers choosing (tests compare)."""
        if len(text) < 6:
            return text
        for run in self._passes:
            text = run(text)
        return text

    def _wanted(self, text: str) -> frozenset[int]:
        """The passes that could change ASCII ``text``: those whose trigger matches somewhere (one RE2 scan)."""
        assert self._triggers is not None
        hits = self._triggers.Match(text)
        if not hits:
            return self._always
        return self._always.union(self._trigger_pass[hit] for hit in hits)

    def _redact_triggered(self, text: str) -> str:
        """The same result as running every pass, running only those whose superset trigger matches. A pass
        that changes the text re-checks the triggers (a replacement may make or break a later match)."""
        wanted = self._wanted(text)
        if not wanted:
            return text
        for index, run in enumerate(self._passes):
            if index not in wanted:
                continue
            changed = run(text)
            if changed is text or changed == text:
                continue
            text = changed
            if not text.isascii():  # a non-ASCII replacement format: the triggers no longer apply
                for rest in self._passes[index + 1 :]:
                    text = rest(text)
                return text
            wanted = self._wanted(text)
        return text

    def redact_value(self, value: Any) -> Any:
        """Strings redacted; lists and dicts walked (new containers); other values unchanged."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        return value


_default: Redactor | None = None


def redact_text(text: str) -> str:
    """Redact ``text`` with every detector and the default replacement format."""
    global _default
    if _default is None:
        _default = Redactor()
    return _default.redact_text(text)


class Redact:
    """Processor: redacts captured content (``input``/``output``, content attributes, span events) and
    error texts (``status_message``, the tool row's ``error_message``).

    ``enabled`` turns the step off; ``detectors`` picks detector names (``DETECTOR_NAMES``);
    ``replacement`` is a format string with ``{kind}``; ``extra_keys`` / ``extra_prefixes`` add attribute
    keys whose values are content. Every string attribute of ``gen_ai.*`` span events is redacted too.
    """

    def __init__(
        self,
        enabled: bool = True,
        detectors: Iterable[str] | None = None,
        replacement: str = DEFAULT_REPLACEMENT,
        extra_keys: Iterable[str] = (),
        extra_prefixes: Iterable[str] = (),
    ) -> None:
        self.enabled = enabled
        self.redactor = Redactor(detectors, replacement)
        self.content_keys = CONTENT_KEYS | frozenset(extra_keys)
        self.content_prefixes = CONTENT_PREFIXES + tuple(extra_prefixes)
        self._is_content: dict[str, bool] = {}
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}

    @property
    def counts(self) -> Mapping[str, int]:
        """Values redacted so far, per label."""
        return self.redactor.counts

    def is_content_key(self, key: str) -> bool:
        found = self._is_content.get(key)
        if found is None:
            found = key in self.content_keys or key.startswith(self.content_prefixes)
            if len(self._is_content) < 50_000:
                self._is_content[key] = found
        return found

    def redact_value(self, value: Any) -> Any:
        """A redacted copy of any attribute value or log body (strings, lists, dicts); others unchanged."""
        return self._value(value, {}) if self.enabled else value

    def _value(self, value: Any, memo: dict[str, str]) -> Any:
        """Redacted copy of a string / list / dict; equal strings within one span are scanned once."""
        if isinstance(value, str):
            if len(value) < 6:
                return value
            found = memo.get(value)
            if found is None:
                found = memo[value] = self.redactor.redact_text(value)
            return found
        if isinstance(value, list):
            return [self._value(item, memo) for item in value]
        if isinstance(value, dict):
            return {key: self._value(item, memo) for key, item in value.items()}
        return value

    def content_keys_of(self, attributes: dict[str, Any]) -> tuple[str, ...]:
        """The content keys among ``attributes``, memoized per key set (spans of one producer share it)."""
        shape = tuple(attributes)
        found = self._shapes.get(shape)
        if found is None:
            is_content = self.is_content_key
            found = tuple(key for key in shape if is_content(key))
            if len(self._shapes) >= 4096:
                self._shapes.clear()
            self._shapes[shape] = found
        return found

    def _attributes(self, attributes: dict[str, Any], memo: dict[str, str], everything: bool = False) -> None:
        keys = tuple(attributes) if everything else self.content_keys_of(attributes)
        for key in keys:
            value = attributes[key]
            if isinstance(value, (str, list, dict)):
                attributes[key] = self._value(value, memo)

    def process(self, batch: SpanBatch) -> SpanBatch:
        if not self.enabled:
            return batch
        for record in batch.spans:
            memo: dict[str, str] = {}  # equal strings (input vs its carrier attribute) are scanned once
            self._attributes(record.attributes, memo)
            for event in record.events:
                attributes = event.get("attributes")
                if attributes:
                    name = event.get("name") or ""
                    self._attributes(attributes, memo, everything=name.startswith("gen_ai."))
            if record.input:
                record.input = self._value(record.input, memo)
            if record.output:
                record.output = self._value(record.output, memo)
            # error texts often quote the offending input (exception messages are redacted in events too)
            if record.status_message:
                record.status_message = self._value(record.status_message, memo)
            if record.tool is not None and record.tool.get("error_message"):
                record.tool["error_message"] = self._value(record.tool["error_message"], memo)
        return batch
