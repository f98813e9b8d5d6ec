"""MAIL / RCPT parameters and what the message needs from the server (FAULTS 26, 27)."""
import pytest

from tests.engine.scripted import C, S, Peer, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient
from smtpx.errors import SMTPInputError, SMTPMessageTooLarge, SMTPNotSupportedError

MSG = b"Subject: t\r\n\r\nhello\r\n"
TAIL = [C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n")]


def one(address="b@y.example", options="", sender="a@x.example"):
    return Envelope(sender, [EnvelopeRecipient(address, options=options)])


def send(engine, envelope, content, mail_line, rcpt_line=b"RCPT TO:<b@y.example>"):
    return run(engine.send_mail(envelope, content), [
        C(mail_line + b"\r\n"), S(b"250 ok\r\n"), C(rcpt_line + b"\r\n"), S(b"250 ok\r\n"), *TAIL,
    ])


def refused_before_writing(engine, envelope, content, error):
    peer = Peer([])
    with pytest.raises(error) as info:
        peer.drive(engine.send_mail(envelope, content))
    assert peer.written == b""
    assert not engine.closed
    return info.value


def test_size_is_announced():
    engine, _ = ready_engine("SIZE 1000")
    send(engine, one(), Content.from_bytes(MSG), b"MAIL FROM:<a@x.example> SIZE=%d" % len(MSG))


def test_size_unknown_is_not_announced():
    engine, _ = ready_engine("SIZE 1000")
    send(engine, one(), Content([MSG], None), b"MAIL FROM:<a@x.example>")


def test_message_larger_than_size_is_refused_before_mail():
    engine, _ = ready_engine("SIZE 10")
    error = refused_before_writing(engine, one(), Content.from_bytes(MSG), SMTPMessageTooLarge)
    assert "SIZE limit of 10" in str(error)


def test_size_zero_means_no_limit():
    engine, _ = ready_engine("SIZE 0")
    send(engine, one(), Content.from_bytes(MSG), b"MAIL FROM:<a@x.example> SIZE=%d" % len(MSG))


def test_8bit_body():
    engine, _ = ready_engine("8BITMIME")
    send(engine, one(), Content.from_bytes(MSG, eight_bit=True), b"MAIL FROM:<a@x.example> BODY=8BITMIME")


def test_8bit_body_without_8bitmime():
    engine, _ = ready_engine("PIPELINING")
    refused_before_writing(engine, one(), Content.from_bytes(MSG, eight_bit=True), SMTPNotSupportedError)


@pytest.mark.parametrize("caps, options", [
    (("CHUNKING",), EngineOptions()),
    (("BINARYMIME",), EngineOptions()),
    (("CHUNKING", "BINARYMIME"), EngineOptions(use_chunking=False)),
])
def test_binary_without_binarymime_and_chunking(caps, options):
    engine, _ = ready_engine(*caps, "8BITMIME", options=options)
    refused_before_writing(engine, one(), Content.from_bytes(b"\x00\x01", binary=True), SMTPNotSupportedError)


def test_non_ascii_address_uses_smtputf8():
    engine, _ = ready_engine("SMTPUTF8", "8BITMIME")
    send(engine, one("josé@exämple.com"), Content.from_bytes(MSG, eight_bit=True),
         "MAIL FROM:<a@x.example> BODY=8BITMIME SMTPUTF8".encode(), "RCPT TO:<josé@exämple.com>".encode())


def test_non_ascii_sender_uses_smtputf8():
    engine, _ = ready_engine("SMTPUTF8")
    send(engine, one(sender="δοκιμή@παράδειγμα.δοκιμή"), Content.from_bytes(MSG),
         "MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8".encode())


def test_non_ascii_header_flag_uses_smtputf8():
    engine, _ = ready_engine("SMTPUTF8")
    send(engine, one(), Content.from_bytes(MSG, smtputf8=True), b"MAIL FROM:<a@x.example> SMTPUTF8")


@pytest.mark.parametrize("envelope, content", [
    (one("josé@example.com"), Content.from_bytes(MSG)),
    (one(sender="ü@x.example"), Content.from_bytes(MSG)),
    (one(), Content.from_bytes(MSG, smtputf8=True)),
])
def test_smtputf8_needed_but_missing(envelope, content):
    engine, _ = ready_engine("8BITMIME", "PIPELINING")
    error = refused_before_writing(engine, envelope, content, SMTPNotSupportedError)
    assert "SMTPUTF8" in str(error)


def test_dsn_parameters_xtext_encoded():
    engine, _ = ready_engine("DSN", options=EngineOptions(dsn_ret="hdrs", dsn_envid="id+1=2 x"))
    send(engine, one(options="NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+x=y@y.example"), Content.from_bytes(MSG),
         b"MAIL FROM:<a@x.example> RET=HDRS ENVID=id+2B1+3D2+20x",
         b"RCPT TO:<b@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx+3Dy@y.example")


@pytest.mark.parametrize("options, wire", [
    ("NOTIFY SUCCESS,FAILURE,DELAY", b" NOTIFY=SUCCESS,FAILURE,DELAY"),  # the reference's form
    ("notify=never", b" NOTIFY=NEVER"),
    ("ORCPT b@y.example", b" ORCPT=rfc822;b@y.example"),
    ("NOTIFY DELAY ORCPT=rfc822;b@y.example", b" NOTIFY=DELAY ORCPT=rfc822;b@y.example"),
])
def test_recipient_option_forms(options, wire):
    engine, _ = ready_engine("DSN")
    send(engine, one(options=options), Content.from_bytes(MSG), b"MAIL FROM:<a@x.example>", b"RCPT TO:<b@y.example>" + wire)


def test_dsn_requests_dropped_when_the_server_lacks_dsn():
    engine, _ = ready_engine("8BITMIME", options=EngineOptions(dsn_ret="FULL", dsn_envid="x"))
    send(engine, one(options="NOTIFY=SUCCESS"), Content.from_bytes(MSG), b"MAIL FROM:<a@x.example>")


@pytest.mark.parametrize("options", ["NOTIFY=SOMETIMES", "NOTIFY=NEVER,SUCCESS", "NOTIFY=", "ORCPT=rfc822;",
                                     "NOTIFY=SUCCESS\r\nRCPT TO:<evil@x>", "X-PARAM=a=b", "-BAD=1"])
def test_bad_recipient_options(options):
    engine, _ = ready_engine("DSN")
    refused_before_writing(engine, one(options=options), Content.from_bytes(MSG), SMTPInputError)


@pytest.mark.parametrize("setting", [{"dsn_ret": "ALL"}, {"dsn_envid": "a\r\nb"}, {"dsn_envid": "é"},
                                     {"dsn_envid": "x" * 101}])
def test_bad_dsn_settings(setting):
    engine, _ = ready_engine("DSN", options=EngineOptions(**setting))
    refused_before_writing(engine, one(), Content.from_bytes(MSG), SMTPInputError)


def test_all_parameters_together_pipelined():
    engine, _ = ready_engine("PIPELINING", "SIZE 100000", "8BITMIME", "SMTPUTF8", "DSN",
                             options=EngineOptions(dsn_ret="FULL", dsn_envid="env1"))
    run(engine.send_mail(one("ü@y.example", options="NOTIFY=FAILURE"), Content.from_bytes(MSG, eight_bit=True)), [
        C(("MAIL FROM:<a@x.example> SIZE=%d BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=env1\r\n"
           "RCPT TO:<ü@y.example> NOTIFY=FAILURE\r\nDATA\r\n" % len(MSG)).encode()),
        S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])


# -- REQUIRETLS (RFC 8689) ----------------------------------------------------------------------

def test_requiretls_goes_on_mail_over_tls_to_a_server_that_offers_it():
    engine, _ = ready_engine("REQUIRETLS", options=EngineOptions(require_tls_delivery=True))
    engine.tls_active = True
    send(engine, one(), Content.from_bytes(MSG), b"MAIL FROM:<a@x.example> REQUIRETLS")


def test_requiretls_without_tls_is_refused_before_mail():
    engine, _ = ready_engine("REQUIRETLS", options=EngineOptions(require_tls_delivery=True))
    from smtpx.errors import SMTPTLSError

    error = refused_before_writing(engine, one(), Content.from_bytes(MSG), SMTPTLSError)
    assert "not TLS" in str(error)


def test_requiretls_to_a_server_without_it_is_refused_before_mail():
    engine, _ = ready_engine("PIPELINING", options=EngineOptions(require_tls_delivery=True))
    engine.tls_active = True
    error = refused_before_writing(engine, one(), Content.from_bytes(MSG), SMTPNotSupportedError)
    assert "REQUIRETLS" in str(error)


def test_requiretls_refuses_a_batch_before_anything_is_written():
    engine, _ = ready_engine("PIPELINING", options=EngineOptions(require_tls_delivery=True))
    engine.tls_active = True
    peer = Peer([])
    with pytest.raises(SMTPNotSupportedError):
        peer.drive(engine.send_batch([(one(), Content.from_bytes(MSG))]))
    assert peer.written == b""


def test_without_requiretls_the_parameter_is_never_sent():
    engine, _ = ready_engine("REQUIRETLS")
    engine.tls_active = True
    send(engine, one(), Content.from_bytes(MSG), b"MAIL FROM:<a@x.example>")
