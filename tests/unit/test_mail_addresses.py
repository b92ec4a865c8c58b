"""app/mail/addresses.py: whatever the text, the answer is one normalised mailbox or a refusal, never a list."""
from email.utils import getaddresses

import pytest
from hypothesis import given, settings, strategies as st

from app.mail.addresses import InvalidAddress, mailbox

TEXT = st.one_of(st.text(max_size=80), st.emails().map(str),
                 st.lists(st.emails().map(str), min_size=2, max_size=3).flatmap(
                     lambda parts: st.sampled_from([",", ";", " ", "\r\n", ":"]).map(lambda sep: sep.join(parts))))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(text=TEXT)
def test_the_answer_is_one_mailbox_or_a_refusal(text):
    try:
        address = mailbox(text)
    except InvalidAddress as error:
        assert str(error).startswith("Please enter")
        return
    assert getaddresses([address]) == [("", address)]
    assert not any(c in address for c in ",;:<>\"()[]\\ \t\r\n\x00") and address.count("@") == 1
    assert mailbox(address) == address  # normalising twice changes nothing


@pytest.mark.parametrize("given_address, stored", [("Bob@Example.COM", "Bob@example.com"),
                                                   ("  bob@example.com\t", "bob@example.com"),
                                                   ("bob@exämple.de", "bob@xn--exmple-cua.de")])
def test_an_address_is_normalised(given_address, stored):
    assert mailbox(given_address) == stored


@pytest.mark.parametrize("address", ["a,b@example.com", "x:y;z@example.com", "Bob <bob@example.com>",
                                     "bob@example.com\r\nBcc: eve@example.com", "ü@example.com", None, 5])
def test_anything_else_is_refused(address):
    with pytest.raises(InvalidAddress):
        mailbox(address)
