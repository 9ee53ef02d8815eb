"""Ticket text normalisation: the part of an e-mail or portal form a classifier should read.

Strips HTML, quoted replies and forwarded headers, signatures and legal disclaimers, and
detects the language offline from stop-word profiles. Pure functions, no I/O.
"""

from __future__ import annotations

import html
import re

from pydantic import BaseModel, ConfigDict

# --- HTML --------------------------------------------------------------------------------

_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^<>]*>")
_HTML_DROP_BLOCKS = re.compile(
    r"<\s*(style|script|head|title)\b[^>]*>.*?<\s*/\s*\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)
_HTML_LINE_BREAKS = re.compile(r"<\s*(br|/p|/div|/tr|li|/li|/h[1-6]|/blockquote|/table|hr)\b[^>]*>", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    """True when the text carries markup worth stripping (a plain '<' is not enough)."""
    return bool(_HTML_TAG.search(text))


def html_to_text(text: str) -> str:
    """Plain text from an HTML body: styles/scripts dropped, block ends become line breaks.

    Entities are only decoded when the text is markup, so a plain-text body that mentions
    ``&amp;`` keeps it and running this twice gives the same answer.
    """
    if not looks_like_html(text):
        return text
    text = _HTML_DROP_BLOCKS.sub(" ", text)
    text = _HTML_LINE_BREAKS.sub("\n", text)
    text = _HTML_TAG.sub(" ", text)
    return html.unescape(text).replace("\xa0", " ")


# --- quoted replies and forwards ---------------------------------------------------------

_QUOTE_HEADER_LINE = re.compile(
    r"""^\s*(?:
        -{2,}\s*(?:original\s+message|forwarded\s+message|ursprüngliche\s+nachricht|
            message\s+d'origine|mensaje\s+original|oorspronkelijk\s+bericht)\s*-{2,}
      | begin\s+forwarded\s+message:?
      | on\s.{1,200}\swrote:\s*
      | am\s.{1,200}\sschrieb\s.{0,100}:\s*
      | le\s.{1,200}\sa\s+écrit\s*:\s*
      | el\s.{1,200}\sescribió:\s*
      | op\s.{1,200}\sschreef\s.{0,100}:\s*
      | _{10,}\s*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_HEADER_FIELD = re.compile(
    r"^\s*\*?(from|von|de|van|da|sent|gesendet|envoyé|enviado|verzonden|inviato|date|datum|to|an|"
    r"à|para|aan|a|cc|subject|betreff|objet|asunto|onderwerp|oggetto)\s*\*?\s*:",
    re.IGNORECASE,
)
_FROM_FIELD = re.compile(r"^\s*\*?(from|von|de|van|da)\s*\*?\s*:", re.IGNORECASE)
_SENT_FIELD = re.compile(r"^\s*\*?(sent|gesendet|envoyé|enviado|verzonden|inviato|date|datum)\s*\*?\s*:", re.IGNORECASE)
_QUOTED_LINE = re.compile(r"^\s*>")

#: a reply shorter than this ("see below", "FYI") is kept together with what it forwards
_MIN_OWN_WORDS = 4


def _is_forward_header(lines: list[str], i: int) -> bool:
    """An Outlook-style 'From: x / Sent: y' block starting at line i."""
    if not _FROM_FIELD.match(lines[i]):
        return False
    return any(_SENT_FIELD.match(line) for line in lines[i + 1 : i + 5])


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _QUOTE_HEADER_LINE.match(line) or _is_forward_header(lines, i):
            return i
    return None


def strip_quoted(text: str) -> str:
    """Drop '>' lines and everything from the first reply/forward header on.

    When the sender wrote almost nothing above the header (a bare forward, "see below"),
    the forwarded message is the request: keep it, minus its header block, and look again
    (it may itself quote an older message).
    """
    lines = [line for line in text.split("\n") if not _QUOTED_LINE.match(line)]
    while (start := _quote_start(lines)) is not None:
        own = lines[:start]
        if len(" ".join(own).split()) >= _MIN_OWN_WORDS:
            return "\n".join(own)
        rest = lines[start + 1 :]
        while rest and (not rest[0].strip() or _HEADER_FIELD.match(rest[0])):
            rest = rest[1:]
        lines = own + rest  # strictly shorter than before, so the loop ends
    return "\n".join(lines)


# --- signatures and disclaimers ----------------------------------------------------------

_SIGNOFF_LINE = re.compile(
    r"""^\s*(?:
        --\s*|—\s*|
        (?:(?:kind|best|warm|warmest|many\s+thanks\s+and|thanks\s+and|with\s+kind)\s+)?regards[,.!]?|
        (?:many\s+)?thanks(?:\s+(?:in\s+advance|again))?[,.!]?|thank\s+you[,.!]?|
        thx[,.!]?|cheers[,.!]?|best[,.!]?|br[,.]?|sincerely[,.]?|
        yours\s+(?:sincerely|faithfully|truly)[,.]?|
        (?:mit\s+)?(?:freundlichen|besten|viele)\s+grüß?(?:ss|ß)?en[,.]?|mfg[,.]?|vg[,.]?|lg[,.]?|
        cordialement[,.]?|bien\s+cordialement[,.]?|salutations[,.]?|
        saludos(?:\s+cordiales)?[,.]?|un\s+saludo[,.]?|atentamente[,.]?|
        met\s+vriendelijke\s+groet(?:en)?[,.]?|groetjes[,.]?|
        cordiali\s+saluti[,.]?|distinti\s+saluti[,.]?|
        atenciosamente[,.]?|cumprimentos[,.]?
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_DEVICE_SIGNATURE = re.compile(
    r"^\s*(sent\s+from\s+my\s+\S.*|get\s+outlook\s+for\s+\S.*|von\s+meinem\s+\S.*gesendet.*|"
    r"envoyé\s+de\s+mon\s+\S.*|enviado\s+desde\s+mi\s+\S.*)$",
    re.IGNORECASE,
)
_CONTACT_LINE = re.compile(
    r"^\s*(?:(?:tel|phone|ph|mob|mobile|cell|m|t|f|fax|direct|office|dd|switchboard)\.?\s*[:.]?\s*"
    r"\+?[\d(][\d\s()./-]{5,}"
    # a bare phone number; no dots, so an IP address on its own line (alerts) survives
    r"|\+?\d[\d\s()/-]{8,}"
    r"|(?:www\.|https?://)\S+|[\w.+-]+@[\w-]+\.[\w.]+)\s*$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"(this\s+e-?mail(?:\s+message)?(?:\s+and\s+any\s+(?:files|attachments)[^.]{0,40})?\s+"
    r"(?:is|are|may\s+be|contains?)\s+(?:strictly\s+)?(?:confidential|privileged|intended)"
    r"|if\s+you\s+(?:have\s+)?received\s+this\s+(?:e-?mail|message|communication)\s+in\s+error"
    r"|intended\s+(?:solely|only)\s+for\s+the\s+(?:use\s+of\s+the\s+)?(?:named\s+)?"
    r"(?:addressee|recipient|individual)"
    r"|^\s*(?:disclaimer|confidentiality\s+notice)\s*:"
    r"|please\s+consider\s+the\s+environment\s+before\s+printing"
    r"|diese\s+e-?mail\s+(?:enthält|kann)\s+vertrauliche)",
    re.IGNORECASE | re.MULTILINE,
)


def strip_disclaimers(text: str) -> str:
    """Cut legal boilerplate: from the paragraph where a disclaimer starts, to the end."""
    match = _DISCLAIMER.search(text)
    if match is None:
        return text
    # Back up to the start of the paragraph so a one-line lead-in ("CONFIDENTIAL:") goes too.
    para_start = text.rfind("\n\n", 0, match.start())
    cut = 0 if para_start < 0 else para_start
    if not text[:cut].strip():
        # The disclaimer is the whole message before anything else: keep only the words
        # before the match so a request typed above it on the same paragraph survives.
        cut = match.start()
    return text[:cut]


def strip_signature(text: str) -> str:
    """Cut at the first sign-off line ("Regards,", "--", "Sent from my iPhone", ...).

    A sign-off on the very first line is kept: the message would otherwise vanish.
    Stray contact lines (phone numbers, addresses, URLs) are dropped wherever they are.
    """
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and (_SIGNOFF_LINE.match(line) or _DEVICE_SIGNATURE.match(line)):
            lines = lines[:i]
            break
    return "\n".join(line for line in lines if not _CONTACT_LINE.match(line))


# --- whitespace and subject --------------------------------------------------------------

_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|wg|tr|sv|vs|rif|r|antw)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def tidy_whitespace(text: str) -> str:
    """One space between words, no trailing spaces, at most one blank line in a row."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def clean_subject(subject: str) -> str:
    """Subject without RE:/FW:/AW:/WG: chains."""
    return tidy_whitespace(_SUBJECT_PREFIX.sub("", subject)).replace("\n", " ")


def clean_body(body: str) -> str:
    """The sender's own words: HTML, quotes, signatures and disclaimers removed."""
    text = tidy_whitespace(html_to_text(body))
    text = strip_quoted(text)
    text = strip_disclaimers(text)
    text = strip_signature(text)
    return tidy_whitespace(text)


# --- language ----------------------------------------------------------------------------

_STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and to of is it in i my on for this that with you have not be can are was please "
        "we our from at your an as me but do will all would there has been cannot can't isn't "
        "doesn't what when after since hi hello thanks could get working".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ich mein meine mit für auf ein eine den dem zu es sie wir "
        "bitte kann können funktioniert seit hallo danke im von bei wie auch noch mehr nach "
        "habe hat sind wird wurde kein keine mir uns ihr".split()
    ),
    "fr": frozenset(
        "le la les et est pas je mon ma mes avec pour sur un une des du de ne il elle nous vous "
        "merci bonjour ça fonctionne plus depuis dans au aux ce cette qui que mais peux peut "
        "ai suis sont".split()
    ),
    "es": frozenset(
        "el la los las y es no mi mis con para por un una del de que se lo funciona hola "
        "gracias desde puedo puede está están tengo tiene nos pero como más muy al su "
        "ayuda favor".split()
    ),
    "nl": frozenset(
        "de het een en is niet ik mijn met voor op van te dat die er wij we kan kunnen werkt "
        "sinds hallo bedankt graag ook nog meer bij geen heb heeft zijn wordt mij ons jullie "
        "alstublieft".split()
    ),
    "it": frozenset(
        "il lo la le gli e è non io mio mia con per su un una del della di che si funziona "
        "ciao grazie da posso può sono ho ha ma come più molto nel al buongiorno "
        "aiuto".split()
    ),
    "pt": frozenset(
        "o a os as e é não eu meu minha com para por um uma do da de que se funciona olá "
        "obrigado obrigada desde posso pode está estão tenho tem mas como mais muito no na "
        "ajuda favor".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
#: fewer words than this and any guess is noise
_MIN_WORDS_FOR_LANGUAGE = 3


class LanguageGuess(BaseModel):
    """ISO 639-1 code (or 'unknown') and a 0-1 confidence."""

    model_config = ConfigDict(frozen=True)

    code: str
    confidence: float


def detect_language(text: str) -> LanguageGuess:
    """Guess the language from stop-word hits; 'unknown' for short or unmatched text.

    Confidence blends how clearly the winner beats the runner-up with how much of the text
    is stop words at all (technical jargon and alert texts hit few of them).
    """
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < _MIN_WORDS_FOR_LANGUAGE:
        return LanguageGuess(code="unknown", confidence=0.0)
    hits = {code: sum(w in stops for w in words) for code, stops in _STOP_WORDS.items()}
    ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
    (best, best_hits), (_, second_hits) = ranked[0], ranked[1]
    if best_hits == 0:
        return LanguageGuess(code="unknown", confidence=0.0)
    margin = (best_hits - second_hits) / best_hits
    coverage = min(1.0, best_hits / max(1.0, 0.25 * len(words)))
    confidence = round(max(0.0, min(1.0, 0.5 * margin + 0.5 * coverage)), 3)
    if margin == 0:
        return LanguageGuess(code="unknown", confidence=round(coverage * 0.5, 3))
    return LanguageGuess(code=best, confidence=confidence)


# --- the whole ticket --------------------------------------------------------------------


class NormalisedTicket(BaseModel):
    """Subject and body as the classifier reads them, plus the detected language."""

    model_config = ConfigDict(frozen=True)

    subject: str
    body: str
    text: str
    language: str
    language_confidence: float


def normalise_ticket(subject: str, body: str) -> NormalisedTicket:
    """Clean subject and body and join them into the single text triage works on."""
    clean_subj = clean_subject(subject)
    clean = clean_body(body)
    text = "\n".join(part for part in (clean_subj, clean) if part)
    lang = detect_language(text)
    return NormalisedTicket(
        subject=clean_subj,
        body=clean,
        text=text,
        language=lang.code,
        language_confidence=lang.confidence,
    )
