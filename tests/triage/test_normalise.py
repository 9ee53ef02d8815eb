"""Ticket text normalisation: what survives, what is stripped, and that it never misbehaves."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mspclaw.triage.normalise import (
    clean_body,
    clean_subject,
    detect_language,
    html_to_text,
    normalise_ticket,
)

REPLY = """Hi team,

My laptop will not connect to the VPN since this morning. Error 809.

Kind regards,
John Smith
IT Manager | Contoso Ltd
Tel: +44 20 7946 0000

This e-mail and any attachments are confidential and intended solely for the addressee.

On Mon, 3 Jun 2024 at 09:12, Helpdesk <help@msp.example> wrote:
> Please send us the error message.
> Thanks
"""


def test_reply_keeps_only_the_senders_request() -> None:
    assert clean_body(REPLY) == ("Hi team,\n\nMy laptop will not connect to the VPN since this morning. Error 809.")


def test_outlook_reply_header_is_cut() -> None:
    body = (
        "The scanner still does not send to email, I tried again this morning.\n\n"
        "________________________________\n"
        "From: Helpdesk <help@msp.example>\nSent: 04 June 2024 08:15\nTo: Anna\n"
        "Subject: RE: scanner\n\nHave you tried restarting it?"
    )
    assert clean_body(body) == ("The scanner still does not send to email, I tried again this morning.")


def test_bare_forward_keeps_the_forwarded_request() -> None:
    body = (
        "FYI\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: IT\n"
        "Subject: printer\n\nThe printer on floor 2 is jammed again.\n\nThanks\nBob"
    )
    assert clean_body(body) == "FYI\n\nThe printer on floor 2 is jammed again."


def test_signatures_and_device_footers_are_removed() -> None:
    assert clean_body("Outlook keeps crashing.\n\nSent from my iPhone") == ("Outlook keeps crashing.")
    assert clean_body("Disk is full.\n--\nPriya Patel\nFinance Director\n+44 161 555 0199") == ("Disk is full.")
    assert clean_body("Mein Drucker druckt nicht.\n\nMit freundlichen Grüßen\nAnna") == ("Mein Drucker druckt nicht.")


def test_contact_lines_go_but_an_ip_address_stays() -> None:
    body = "Host unreachable:\n10.0.12.254\n+44 20 7946 0000\nwww.example.com\nbob@example.com"
    assert clean_body(body) == "Host unreachable:\n10.0.12.254"


def test_a_message_that_is_only_a_signoff_is_not_emptied() -> None:
    assert clean_body("Thanks") == "Thanks"


def test_disclaimer_alone_in_the_middle_is_cut_with_what_follows() -> None:
    body = (
        "Please restore the finance folder.\n\nCONFIDENTIALITY NOTICE: This email message is "
        "intended only for the named recipient.\nMore legal text."
    )
    assert clean_body(body) == "Please restore the finance folder."


def test_html_body_is_converted_to_text() -> None:
    body = (
        "<html><head><style>p { color: red; }</style><script>alert(1)</script></head>"
        "<body><p>Printer&nbsp;offline &amp; jammed</p><p>second<br>line</p></body></html>"
    )
    text = clean_body(body)
    assert "color" not in text and "alert" not in text and "<" not in text
    assert text == "Printer offline & jammed\nsecond\nline"


def test_plain_text_with_entities_is_left_alone() -> None:
    assert html_to_text("R&amp;D share 3 < 5") == "R&amp;D share 3 < 5"


def test_subject_reply_prefixes_are_removed() -> None:
    assert clean_subject("RE: FW: AW: Re[2]: VPN down") == "VPN down"


def test_language_detection_for_supported_languages() -> None:
    samples = {
        "en": "The printer is not working and I cannot print my documents today",
        "de": "Der Drucker funktioniert nicht und ich kann meine Dokumente nicht drucken",
        "fr": "Mon imprimante ne fonctionne pas depuis ce matin et je ne peux pas imprimer",
        "es": "Mi impresora no funciona desde esta mañana y no puedo imprimir nada",
        "nl": "Mijn printer werkt niet sinds vanochtend en ik kan niet printen",
        "it": "La mia stampante non funziona da stamattina e non posso stampare",
        "pt": "A minha impressora não funciona desde hoje e não posso imprimir",
    }
    for code, text in samples.items():
        guess = detect_language(text)
        assert guess.code == code, (code, guess)
        assert 0.5 <= guess.confidence <= 1.0


def test_short_or_wordless_text_is_unknown() -> None:
    assert detect_language("VPN").code == "unknown"
    assert detect_language("SRV-DC01 0x80070005 42").code == "unknown"
    assert detect_language("").confidence == 0.0


def test_normalise_ticket_joins_subject_and_clean_body() -> None:
    ticket = normalise_ticket("RE: Printer", REPLY)
    assert ticket.text.startswith("Printer\nHi team,")
    assert "Kind regards" not in ticket.text and "confidential" not in ticket.text
    assert ticket.language == "en"


# --- properties ------------------------------------------------------------------------

email_like = st.lists(
    st.sampled_from(
        [
            "Hi team,",
            "The printer is offline.",
            "Kind regards,",
            "John",
            "> quoted line",
            "On Mon, 3 Jun 2024, Bob wrote:",
            "-----Original Message-----",
            "From: Bob",
            "Sent: Monday",
            "Sent from my iPhone",
            "<p>VPN &amp; Wi-Fi</p>",
            "This e-mail and any attachments are confidential.",
            "",
            "Tel: +44 20 7946 0000",
            "My laptop is very slow since the update.",
        ]
    ),
    max_size=14,
).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_never_crashes_and_never_grows(text: str) -> None:
    ticket = normalise_ticket(text, text)
    assert len(ticket.body) <= len(text)
    assert len(ticket.subject) <= len(text)
    assert ticket.language == "unknown" or 0.0 < ticket.language_confidence <= 1.0


@settings(max_examples=200, deadline=None)
@given(email_like | st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_cleaning_is_idempotent(text: str) -> None:
    once = clean_body(text)
    assert clean_body(once) == once
    assert len(once) <= len(text)
