"""PII scan and masking: each kind, false positives, checksums, and batch == per-row."""
from __future__ import annotations

import random

import pyarrow as pa
import pytest

from curator.pii import MASKS, PII_KINDS, iban_ok, luhn_ok, mask_batch, mask_text, scan_text


def masked(text: str) -> str:
    return mask_text(text)[0]


# --- e-mail ----------------------------------------------------------------------------------

@pytest.mark.parametrize("addr", ["john.doe@example.com", "a+tag@mail.example.co.uk", "Zoë_99@exämple.de",
                                  "x@y.io"])
def test_email_masked(addr: str) -> None:
    out, counts = mask_text(f"Write to {addr}, thanks.")
    assert out == "Write to [EMAIL], thanks."
    assert counts == {"email": 1}


def test_email_false_positives() -> None:
    for text in ("ssh://git@github.com/org/repo.git", "meet @ 5pm", "user@localhost", "price @ $5.00"):
        assert mask_text(text) == (text, {})


# --- phone -----------------------------------------------------------------------------------

@pytest.mark.parametrize("phone", [
    "+1 (415) 555-0123", "+1 212-555-0147", "+44 7700 900123", "+49 30 123456", "+33 6 12 34 56 78",
    "+44 (0)20 7946 0958", "0044 20 7946 0958", "(555) 123-4567", "555-123-4567", "555.123.4567",
    "1-800-555-0199", "07700 900123", "0151 23456789", "030/1234567", "01 23 45 67 89", "01.23.45.67.89",
])
def test_phone_formats_masked(phone: str) -> None:
    assert masked(f"You can reach me at {phone} today.") == "You can reach me at [PHONE] today."


def test_phone_bare_digits_need_a_phone_word() -> None:
    assert masked("call me on 5551234567 please") == "call me on [PHONE] please"
    assert masked("Mob: 07700900123") == "Mob: [PHONE]"
    assert masked("it says 5551234567 on the box") == "it says 5551234567 on the box"


@pytest.mark.parametrize("text", [
    "Order #12345678 placed on 2024-03-15 for $1,234.56.",
    "order 5551234567 and order no. 0151 2345 6789",
    "Invoice INV-2024-00123, ticket 20240315001, tracking 1Z999AA10123456784",
    "On 15.03.2024 at 10:30, and on 03/15/2024 10:30, and 2024-03-15 10:30:00.",
    "Total 1.234.567,89 EUR; 1 234 567 units; $ 1 250 000; 12,500.00 USD",
    "Between 2024-03-01 and 2024-03-15 (14 days), version 10.2.3 build 4567",
    "Serial 0123456789, reference 0987 654 321, account 12345678901",
    "Call about order 0151 2345 6789",  # the nearer cue word ("order") wins
])
def test_phone_false_positives(text: str) -> None:
    assert mask_text(text) == (text, {})


# --- payment cards ---------------------------------------------------------------------------

@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
                                  "5500 0000 0000 0004", "3400 0000 0000 009", "6011000990139424",
                                  "4222222222222"])
def test_luhn_valid_cards_masked(card: str) -> None:
    out, counts = mask_text(f"card {card} expired")
    assert out == "card [CARD] expired" and counts == {"card": 1}


def test_non_luhn_number_is_not_masked() -> None:
    for card in ("4111 1111 1111 1112", "4111-1111-1111-1110", "5500000000000005"):
        assert masked(f"card {card} expired") == f"card {card} expired"


def test_card_with_trailing_digits_and_sentence_end() -> None:
    assert masked("Charged 4111 1111 1111 1111 2 times.") == "Charged [CARD] 2 times."
    assert masked("It was 4111111111111111.") == "It was [CARD]."


def test_luhn_function() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


# --- IBAN ------------------------------------------------------------------------------------

@pytest.mark.parametrize("iban", ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000",
                                  "GB82 WEST 1234 5698 7654 32", "gb82west12345698765432",
                                  "NL91 ABNA 0417 1643 00", "FR14 2004 1010 0505 0001 3M02 606",
                                  "NO93 8601 1117 947", "BE68 5390 0754 7034"])
def test_valid_ibans_masked(iban: str) -> None:
    out, counts = mask_text(f"IBAN {iban} please refund")
    assert out == "IBAN [IBAN] please refund" and counts == {"iban": 1}


def test_invalid_ibans_not_masked() -> None:
    for iban in ("DE89 3704 0044 0532 0130 01",  # wrong check digits
                 "DE89 3704 0044 0532 0130",      # too short for DE
                 "ZZ89 3704 0044 0532 0130 00"):  # unknown country
        assert "[IBAN]" not in masked(f"IBAN {iban} please")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")


# --- IP --------------------------------------------------------------------------------------

def test_ip_addresses() -> None:
    assert masked("from 192.168.1.20, port 10.0.0.1:8080 and 10.0.0.0/24.") == \
        "from [IP], port [IP]:8080 and [IP]/24."
    assert masked("v6 2001:db8::1 and fe80::1%eth0 and [2001:0db8:85a3:0000:0000:8a2e:0370:7334]:443") == \
        "v6 [IP] and [IP]%eth0 and [[IP]]:443"
    assert masked("loopback ::1 ok") == "loopback [IP] ok"


def test_ip_false_positives() -> None:
    for text in ("256.1.1.1 is not an address", "version 1.2.3.4 and v1.2.3.4 and 1.2.3",
                 "at 10:30:45 today", "MAC 00:1A:2B:3C:4D:5E", "std::vector<int>", "dead::beef"):
        assert mask_text(text) == (text, {}), text


# --- secrets in URLs -------------------------------------------------------------------------

def test_url_userinfo_masked_url_kept() -> None:
    out, counts = mask_text("db at https://bob:hunter2@db.example.com/x ok")
    assert out == "db at https://[SECRET]@db.example.com/x ok" and counts == {"secret": 1}
    assert masked("https://ghp_abcdefghij1234567890@github.com/o/r") == "https://[SECRET]@github.com/o/r"
    assert masked("ssh://git@github.com/o/r.git") == "ssh://git@github.com/o/r.git"


def test_query_secrets_masked() -> None:
    url = "https://x.io/cb?a=1&token=abc123XYZ&API_KEY=K-99&sig=zz%2Fz&page=2#access_token=ya29.q"
    out, counts = mask_text(f"see {url}.")
    assert out == ("see https://x.io/cb?a=1&token=[SECRET]&API_KEY=[SECRET]&sig=[SECRET]&page=2"
                   "#access_token=[SECRET].")
    assert counts == {"secret": 4}
    assert masked("reset: example.com/r?key=deadbeef, then") == "reset: example.com/r?key=[SECRET], then"
    # Names that merely contain a secret word are not secrets.
    assert masked("https://x.io/?monkey=1&keyboard=us") == "https://x.io/?monkey=1&keyboard=us"


# --- combined behaviour ----------------------------------------------------------------------

def test_mask_is_idempotent_and_counts() -> None:
    text = ("Hi, I'm jane@example.org, +44 7700 900123, card 4111 1111 1111 1111, IBAN "
            "DE89 3704 0044 0532 0130 00, from 10.1.2.3 via https://u:p@h.example/?token=t0k.")
    out, counts = mask_text(text)
    assert counts == {"email": 1, "phone": 1, "card": 1, "iban": 1, "ip": 1, "secret": 2}
    assert mask_text(out) == (out, {})


def test_scan_text_spans_point_at_original() -> None:
    text = "mail a@b.co or call +1 212-555-0147"
    hits = scan_text(text)
    assert [(h.kind, text[h.start:h.end]) for h in hits] == [("email", "a@b.co"), ("phone", "+1 212-555-0147")]


def test_clean_text_unchanged() -> None:
    text = "The bulb blinks three times and then goes red. Order placed last week."
    assert mask_text(text) == (text, {})
    assert mask_text("") == ("", {})


def _corpus(n: int, seed: int) -> list[str | None]:
    """Random mixes of PII pieces and look-alikes, to compare batch and per-row results."""
    r = random.Random(seed)
    pieces = ["order #12345678", "2024-03-15 10:30", "$1,234.56", "v1.2.3.4", "a@b.io", "+44 7700 900123",
              "4111 1111 1111 1111", "4111 1111 1111 1112", "DE89 3704 0044 0532 0130 00", "10.0.0.1",
              "fe80::1", "https://u:p@h.io/?token=x1", "call 5551234567", "07700 900123", "12:30:45",
              "GB82WEST12345698765432", "(555) 123-4567", "hello", "the hub", "ok.", "\n", "Zoë",
              "١٢٣٤٥٦٧٨٩٠١٢٣", "sig=abc", "?sig=abc", "00 44 20 7946 0958", "0151/23456789"]
    out: list[str | None] = []
    for _ in range(n):
        if r.random() < 0.05:
            out.append(None)
            continue
        out.append(r.choice([" ", ", ", " - ", ""]).join(r.choice(pieces) for _ in range(r.randint(0, 8))))
    return out


def test_mask_batch_equals_mask_text_row_by_row() -> None:
    texts = _corpus(3000, seed=3)
    out, counts, examples = mask_batch(texts, max_examples=5)
    expected_counts = {k: 0 for k in PII_KINDS}
    for t, o in zip(texts, out):
        if t is None:
            assert o is None
            continue
        m, c = mask_text(t)
        assert o == m, t
        for k, v in c.items():
            expected_counts[k] += v
    assert counts == expected_counts
    assert all(counts[k] > 0 for k in PII_KINDS)
    assert len(examples) == 5
    for i, kind, orig, after in examples:
        assert MASKS[kind] in after and MASKS[kind] not in orig
        assert orig.strip("…") in texts[i] and after.strip("…") in out[i]  # type: ignore[operator]
    # Same result from a pyarrow array and a chunked array.
    assert mask_batch(pa.array(texts))[0] == out
    assert mask_batch(pa.chunked_array([texts[:1000], texts[1000:]], type=pa.large_string()))[0] == out


def test_mask_batch_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="row 1"):
        mask_batch(["fine", 42])
    with pytest.raises(TypeError):
        mask_batch(pa.array([1, 2]))


def test_mask_batch_empty_and_clean() -> None:
    assert mask_batch([]) == ([], {k: 0 for k in PII_KINDS}, [])
    texts = ["nothing here", "", None]
    out, counts, ex = mask_batch(texts)
    assert out == texts and sum(counts.values()) == 0 and ex == []
