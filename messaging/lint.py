"""Template lint: Meta's format rules and our content rules, run on every saved revision.

Each finding names the component at fault (`name`, `language`, `header`, `body`, `footer`,
`buttons`, `buttons[i]`) and a stable rule id. ERRORs block review, approval and submission;
WARNINGs are shown to the reviewer, who decides.

Severity, and why:
- Meta's format rules (reference §2: names, lengths, button limits, `{{n}}` placeholders,
  examples, OTP rules) are ERRORs: Meta rejects such a template, so submitting it is wasted.
- Promotional wording in a UTILITY or AUTHENTICATION template is an ERROR: Meta re-categorises
  mixed content as MARKETING and TRAI's 2025 amendment treats it as promotional, so it would need
  marketing consent the customer may not have given.
- A MARKETING template without an opt-out instruction is an ERROR: the policy and DPDP Rule 3
  promise an easy way to withdraw in every marketing message.
- Abusive or disrespectful words (staff-editable) are ERRORs: the policy promises respect.
- URL shorteners are ERRORs: the customer cannot see where the link goes (a phishing pattern
  that gets templates reported and blocked).
- Shouting (mostly capitals), runs of `!!!` and a high variable density are WARNINGs: spam
  signals that lower quality ratings, but not rejected by Meta on their own.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from messaging.template_format import POSITIONAL, TemplateContent, placeholders, variable_numbers

# Meta's limits (reference §2, "Names, languages and parameters" and "Components and their limits").
NAME_MAX = 512
HEADER_MAX = 60
HEADER_MAX_VARIABLES = 1
BODY_MAX = 1024
FOOTER_MAX = 60
BUTTONS_MAX = 10
QUICK_REPLIES_MAX = 10
URL_BUTTONS_MAX = 2
PHONE_BUTTONS_MAX = 1
COPY_CODE_BUTTONS_MAX = 1
BUTTON_LABEL_MAX = 25
PHONE_NUMBER_MAX = 20
COPY_CODE_EXAMPLE_MAX = 15
AUTH_PARAMETER_MAX = 15
OTP_TYPES = frozenset({"COPY_CODE", "ONE_TAP", "ZERO_TAP"})
BUTTON_TYPES = frozenset({"QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP"})
# Shouting: judged only on components with enough Latin letters to mean something.
SHOUTING_MIN_LETTERS = 12
SHOUTING_UPPER_RATIO = 0.6
# ...and, in copy that is mostly lower case, a run of this many words in capitals ("HUGE FLASH
# SALE TODAY ONLY") or a single word shouted for emphasis ("FREE", "HURRY"). Indian retail copy
# is full of capitalised words that are not shouting: acronyms, payment rails, the brand, the
# opt-out keywords we tell customers to send, and offer codes (letters with digits: DIWALI40).
SHOUTED_RUN_WORDS = 3
SHOUTED_WORD_MIN_LETTERS = 3
NOT_SHOUTING = frozenset({
    "OTP", "PIN", "UPI", "COD", "EMI", "GST", "KYC", "PAN", "MRP", "SKU", "INR", "RS", "USD", "ATM", "NEFT", "IMPS",
    "RTGS", "IFSC", "SMS", "FAQ", "URL", "APP", "ID", "PK", "DPDP", "TRAI", "GSTIN", "UPS", "DHL", "LED", "TV", "AC",
    "USB", "XL", "XXL", "XS", "PANDORAKART", "STOP", "START", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "HELP", "NCR",
    "IST", "AM", "PM", "OK", "FSSAI", "ISI", "BIS", "GPS", "SIM", "NEW",
})
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9'\u2019-]*")
# "Too many parameters for the length of the text" (Meta's template-review page): we warn below
# two words of plain text per variable.
WORDS_PER_VARIABLE = 2

NAME_FORMAT = re.compile(r"[a-z0-9_]+")
LANGUAGE_FORMAT = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
SPECIAL_CHARS = re.compile(r"[#$%]")
ADJACENT = re.compile(r"\}\}\s*\{\{")
EXCLAMATION_RUN = re.compile(r"!{3,}")
URL = re.compile(r"https?://|\bwww\.", re.IGNORECASE)
EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\u2300-\u23ff\u2b00-\u2bff\ufe0f\u200d]"
)
URL_SHORTENERS = (
    "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
    "cutt.ly", "shorturl.at", "rb.gy", "t.ly", "tiny.cc", "s.id", "v.gd", "bl.ink", "short.io", "tinyurl.in",
)
SHORTENER = re.compile(
    r"(?<![\w.-])(?:https?://)?(?:www\.)?(" + "|".join(re.escape(d) for d in URL_SHORTENERS) + r")(?=/|\b)",
    re.IGNORECASE,
)
# Built-in promotional patterns besides the editable words: "50% off", "₹200 off", "flat 30%".
PROMOTIONAL_PATTERNS = (
    re.compile(r"\d+\s*%\s*(off|discount|cashback)", re.IGNORECASE),
    re.compile(r"(₹|rs\.?|inr)\s*\d+\s*(off|cashback)", re.IGNORECASE),
)
# An opt-out instruction: a quick reply like "Stop promotions" or a footer like "Reply STOP".
OPT_OUT_BUTTON = re.compile(r"\b(stop|unsubscribe|opt[\s-]?out)\b|रोकें|बंद", re.IGNORECASE)
OPT_OUT_FOOTER = re.compile(r"\bSTOP\b|\bunsubscribe\b|रोकें|बंद", re.IGNORECASE)
# Letters of the scripts we write in count as word characters when matching terms
# (Python's \w misses Devanagari vowel signs).
_WORD = r"[\w\u0900-\u097f]"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    component: str
    rule: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data


@dataclass(frozen=True)
class Vocabulary:
    """The staff-editable word lists (LintTerm rows)."""

    promotional: Sequence[str] = ()
    abusive: Sequence[str] = ()


def term_pattern(term: str) -> re.Pattern[str]:
    """A case-insensitive whole-word (or whole-phrase) match for `term`."""
    words = [re.escape(part) for part in term.strip().split()]
    return re.compile(rf"(?<!{_WORD})" + r"\s+".join(words) + rf"(?!{_WORD})", re.IGNORECASE)


def find_terms(text: str, terms: Iterable[str]) -> list[str]:
    return [term for term in terms if term.strip() and term_pattern(term).search(text or "")]


class _Linter:
    def __init__(self, content: TemplateContent, vocabulary: Vocabulary) -> None:
        self.c = content
        self.vocabulary = vocabulary
        self.findings: list[Finding] = []

    def error(self, component: str, rule: str, message: str) -> None:
        self.findings.append(Finding(component, rule, Severity.ERROR, message))

    def warning(self, component: str, rule: str, message: str) -> None:
        self.findings.append(Finding(component, rule, Severity.WARNING, message))

    @property
    def is_auth(self) -> bool:
        return self.c.category == "AUTHENTICATION"

    def texts(self) -> list[tuple[str, str]]:
        """(component, text) for every piece of text a customer reads."""
        parts = [("header", self.c.header_text), ("body", self.c.body), ("footer", self.c.footer)]
        for index, button in enumerate(self.c.buttons):
            label = " ".join(str(button.get(key) or "") for key in ("text", "url"))
            parts.append((f"buttons[{index}]", label))
        return [(component, text) for component, text in parts if text]

    def all_texts_with_examples(self) -> list[tuple[str, str]]:
        parts = self.texts()
        parts += [("header", str(e)) for e in self.c.header_examples]
        parts += [("body", str(e)) for e in self.c.body_examples]
        return parts

    # --- Meta's format rules -------------------------------------------------------------

    def name_and_language(self) -> None:
        if not NAME_FORMAT.fullmatch(self.c.name or ""):
            self.error("name", "name.format", "Use only lowercase letters a-z, digits and underscores.")
        if len(self.c.name or "") > NAME_MAX:
            self.error("name", "name.length", f"At most {NAME_MAX} characters.")
        if not LANGUAGE_FORMAT.fullmatch(self.c.language or ""):
            self.error("language", "language.format", "Use Meta's language code, e.g. en, en_US or hi.")

    def lengths(self) -> None:
        if len(self.c.header_text) > HEADER_MAX:
            self.error("header", "header.length", f"{len(self.c.header_text)} characters; at most {HEADER_MAX}.")
        if not self.c.body.strip():
            self.error("body", "body.required", "Every template needs a body.")
        if len(self.c.body) > BODY_MAX:
            self.error("body", "body.length", f"{len(self.c.body)} characters; at most {BODY_MAX}.")
        if len(self.c.footer) > FOOTER_MAX:
            self.error("footer", "footer.length", f"{len(self.c.footer)} characters; at most {FOOTER_MAX}.")
        if placeholders(self.c.footer):
            self.error("footer", "footer.variables", "A footer cannot contain variables.")

    def variables(self, component: str, text: str, examples: Sequence[str]) -> None:
        raw = placeholders(text)
        for item in raw:
            if SPECIAL_CHARS.search(item):
                self.error(component, "variables.special_chars", f"{{{{{item}}}}}: no #, $ or % in a variable.")
            elif not POSITIONAL.fullmatch(item):
                self.error(component, "variables.malformed", f"{{{{{item}}}}} is not a variable: use {{{{1}}}}, {{{{2}}}}...")
        leftover = re.sub(r"\{\{.*?\}\}", "", text)
        if "{" in leftover or "}" in leftover:
            self.error(component, "variables.malformed", "Braces do not match: write variables as {{1}}.")
        numbers = variable_numbers(text)
        distinct = list(dict.fromkeys(numbers))
        if distinct != list(range(1, len(distinct) + 1)):
            self.error(
                component, "variables.sequence", "Number the variables {{1}}, {{2}}... in order, starting at 1."
            )
        if not distinct:
            return
        if ADJACENT.search(text):
            self.error(component, "variables.adjacent", "Two variables side by side: put words between them.")
        if len(examples) < len(distinct) or any(not str(e).strip() for e in list(examples)[: len(distinct)]):
            self.error(component, "examples.missing", f"Give an example for each of the {len(distinct)} variables.")
        elif len(examples) > len(distinct):
            self.warning(component, "examples.extra", "More examples than variables.")
        for example in examples:
            if SPECIAL_CHARS.search(str(example)):
                self.error(component, "examples.special_chars", f"Example {example!r}: no #, $ or % in examples.")

    def placeholder_rules(self) -> None:
        header_vars = len(set(variable_numbers(self.c.header_text)))
        if header_vars > HEADER_MAX_VARIABLES:
            self.error("header", "header.variables", f"A header may hold {HEADER_MAX_VARIABLES} variable at most.")
        self.variables("header", self.c.header_text, self.c.header_examples)
        self.variables("body", self.c.body, self.c.body_examples)
        body = self.c.body.strip()
        # Authentication bodies are Meta's fixed wording ("*{{1}}* is your verification code").
        if body.startswith("{{") and not self.is_auth:
            self.error("body", "variables.at_start", "The body cannot start with a variable.")
        if body.endswith("}}") and not self.is_auth:
            self.error("body", "variables.at_end", "The body cannot end with a variable.")
        count = len(set(variable_numbers(body)))
        words = len(re.sub(r"\{\{.*?\}\}", " ", body).split())
        if count and not self.is_auth and words < WORDS_PER_VARIABLE * count + 1:
            self.warning("body", "variables.density", "Too many variables for the length of the text.")

    def buttons(self) -> None:
        buttons = list(self.c.buttons)
        if len(buttons) > BUTTONS_MAX:
            self.error("buttons", "buttons.total", f"{len(buttons)} buttons; at most {BUTTONS_MAX}.")
        kinds = [str(b.get("type", "")).upper() for b in buttons]
        limits = (
            ("QUICK_REPLY", QUICK_REPLIES_MAX, "buttons.quick_reply_count"),
            ("URL", URL_BUTTONS_MAX, "buttons.url_count"),
            ("PHONE_NUMBER", PHONE_BUTTONS_MAX, "buttons.phone_count"),
            ("COPY_CODE", COPY_CODE_BUTTONS_MAX, "buttons.copy_code_count"),
        )
        for kind, limit, rule in limits:
            if kinds.count(kind) > limit:
                self.error("buttons", rule, f"{kinds.count(kind)} {kind} buttons; at most {limit}.")
        # Quick replies must form one group, before or after all the other buttons.
        groups = [k == "QUICK_REPLY" for k in kinds]
        changes = sum(1 for a, b in itertools.pairwise(groups) if a != b)
        if changes > 1:
            self.error("buttons", "buttons.grouping", "Group the quick replies together, apart from other buttons.")
        for index, (kind, button) in enumerate(zip(kinds, buttons, strict=True)):
            self.button(index, kind, button)

    def button(self, index: int, kind: str, button: Mapping[str, Any]) -> None:
        component = f"buttons[{index}]"
        if kind not in BUTTON_TYPES:
            self.error(component, "buttons.type", f"Unknown button type {kind!r}.")
            return
        label = str(button.get("text") or "")
        if kind in ("QUICK_REPLY", "URL", "PHONE_NUMBER") and not label.strip():
            self.error(component, "buttons.label_required", "The button needs a label.")
        if len(label) > BUTTON_LABEL_MAX:
            self.error(component, "buttons.label_length", f"Label of {len(label)} characters; at most {BUTTON_LABEL_MAX}.")
        if kind == "URL":
            url = str(button.get("url") or "")
            if not re.match(r"https?://", url):
                self.error(component, "buttons.url_required", "A URL button needs an http(s) URL.")
            count = len(placeholders(url))
            if count > 1 or (count == 1 and not url.endswith("{{1}}")):
                self.error(component, "buttons.url_variables", "A URL may hold one variable, {{1}}, at its end.")
            if count and not str(button.get("example") or "").strip():
                self.error(component, "examples.missing", "Give an example for the URL's variable.")
        elif kind == "PHONE_NUMBER":
            phone = str(button.get("phone_number") or "")
            if not re.fullmatch(r"\+[0-9]{6,19}", phone) or len(phone) > PHONE_NUMBER_MAX:
                self.error(component, "buttons.phone_format", f"An E.164 number of at most {PHONE_NUMBER_MAX} characters.")
        elif kind == "COPY_CODE":
            example = str(button.get("example") or "")
            if not example or len(example) > COPY_CODE_EXAMPLE_MAX:
                self.error(component, "buttons.copy_code_example", f"An example code of 1-{COPY_CODE_EXAMPLE_MAX} characters.")
        elif kind == "OTP":
            if not self.is_auth:
                self.error(component, "buttons.otp_outside_authentication", "OTP buttons are for AUTHENTICATION templates.")
            if str(button.get("otp_type") or "COPY_CODE").upper() not in OTP_TYPES:
                self.error(component, "auth.otp_button", "otp_type must be COPY_CODE, ONE_TAP or ZERO_TAP.")

    def authentication(self) -> None:
        if not self.is_auth:
            return
        kinds = [str(b.get("type", "")).upper() for b in self.c.buttons]
        if kinds.count("OTP") != 1:
            self.error("buttons", "auth.otp_button", "An authentication template needs one copy-code or one-tap button.")
        if any(k != "OTP" for k in kinds):
            self.error("buttons", "auth.other_buttons", "Authentication templates carry only the OTP button.")
        if self.c.header_text:
            self.error("header", "auth.header", "Authentication templates have no header (no media, no text).")
        if self.c.footer:
            self.error("footer", "auth.footer", "Authentication templates use Meta's fixed text: no custom footer.")
        if len(set(variable_numbers(self.c.body))) != 1:
            self.error("body", "auth.code_variable", "The body holds exactly one variable: the code.")
        for component, text in self.all_texts_with_examples():
            if URL.search(text):
                self.error(component, "auth.url", "No URLs in an authentication template.")
            if EMOJI.search(text):
                self.error(component, "auth.emoji", "No emoji in an authentication template.")
        for example in self.c.body_examples:
            if len(str(example)) > AUTH_PARAMETER_MAX:
                self.error("body", "auth.parameter_length", f"Parameters of at most {AUTH_PARAMETER_MAX} characters.")

    # --- content rules -------------------------------------------------------------------

    def content(self) -> None:
        texts = self.texts()
        if self.c.category in ("UTILITY", "AUTHENTICATION"):
            for component, text in texts:
                found = find_terms(text, self.vocabulary.promotional)
                found += [m.group(0) for p in PROMOTIONAL_PATTERNS for m in [p.search(text)] if m]
                if found:
                    self.error(
                        component,
                        "content.mixed_promotional",
                        f"Promotional wording ({', '.join(found)}) in a {self.c.category} template: "
                        "mixed content is marketing (Meta and TRAI).",
                    )
        if self.c.category == "MARKETING":
            has_button = any(
                str(b.get("type", "")).upper() == "QUICK_REPLY" and OPT_OUT_BUTTON.search(str(b.get("text") or ""))
                for b in self.c.buttons
            )
            if not has_button and not OPT_OUT_FOOTER.search(self.c.footer):
                self.error(
                    "buttons",
                    "content.opt_out_missing",
                    'A marketing template needs an opt-out: a "Stop promotions" quick reply or a STOP footer.',
                )
        for component, text in texts:
            self.shouting(component, re.sub(r"\{\{.*?\}\}", " ", text))
            if EXCLAMATION_RUN.search(text):
                self.warning(component, "content.exclamations", 'Runs of "!!!" read as spam.')
        for component, text in self.all_texts_with_examples():
            match = SHORTENER.search(text)
            if match:
                self.error(
                    component, "content.url_shortener", f"{match.group(1)} hides where the link goes: use the full URL."
                )
            abusive = find_terms(text, self.vocabulary.abusive)
            if abusive:
                self.error(component, "content.abusive_term", f"Disrespectful wording: {', '.join(abusive)}.")

    def shouting(self, component: str, text: str) -> None:
        """Capitals read as shouting: mostly capitals; a run of words in capitals inside normal
        copy; a word in capitals for emphasis. One finding per component, the strongest."""
        letters = [ch for ch in text if ch.isascii() and ch.isalpha()]
        if len(letters) >= SHOUTING_MIN_LETTERS and sum(ch.isupper() for ch in letters) > SHOUTING_UPPER_RATIO * len(letters):
            self.warning(component, "content.shouting", "Mostly capitals: customers read it as shouting.")
            return
        words = _WORDS.findall(text)
        shouted = [
            w.isupper() and not any(ch.isdigit() for ch in w) and sum(ch.isalpha() for ch in w) >= SHOUTED_WORD_MIN_LETTERS
            and w.strip("'\u2019-").upper() not in NOT_SHOUTING
            for w in words
        ]
        run: list[str] = []
        longest: list[str] = []
        for word, loud in zip(words, shouted, strict=True):
            run = [*run, word] if loud or (run and word.isupper() and not any(c.isdigit() for c in word)) else []
            if len(run) > len(longest):
                longest = run
        if len(longest) >= SHOUTED_RUN_WORDS:
            self.warning(component, "content.shouting",
                         f"A run of capitals ({' '.join(longest)}): customers read it as shouting.")
            return
        loud_words = list(dict.fromkeys(w for w, loud in zip(words, shouted, strict=True) if loud))
        if loud_words:
            self.warning(component, "content.shouting",
                         f"Capitals for emphasis ({', '.join(loud_words[:5])}) read as shouting: write them in lower case.")

    def run(self) -> list[Finding]:
        self.name_and_language()
        self.lengths()
        self.placeholder_rules()
        self.buttons()
        self.authentication()
        self.content()
        unique = list(dict.fromkeys(self.findings))
        return sorted(unique, key=lambda f: (f.severity != Severity.ERROR,))


def lint_template(content: TemplateContent, vocabulary: Vocabulary | None = None) -> list[Finding]:
    """Every finding for `content`, errors first."""
    return _Linter(content, vocabulary or Vocabulary()).run()
