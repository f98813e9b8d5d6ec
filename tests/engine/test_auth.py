"""AUTH at the engine level (FAULTS 19-22) with small local mechanisms that follow the
smtpx.sasl object API (name, sends_cleartext, initial_response, respond, verify_success)."""
import base64

import pytest

from tests.engine.scripted import C, S, Peer, ready_engine, run
from smtpx.engine import EngineOptions
from smtpx.errors import SMTPAuthError, SMTPServiceClosing


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


class Plain:
    name = "PLAIN"
    sends_cleartext = True

    def __init__(self, user="user", password="s3cret-pass"):
        self.blob = b"\0" + user.encode() + b"\0" + password.encode()

    def initial_response(self):
        return self.blob

    def respond(self, challenge):
        return self.blob


class Login:
    name = "LOGIN"
    sends_cleartext = True

    def __init__(self):
        self.answers = [b"user", b"s3cret-pass"]
        self.challenges = []

    def initial_response(self):
        return None

    def respond(self, challenge):
        self.challenges.append(challenge)
        return self.answers.pop(0)


class Endless:
    """A challenge-response mechanism that would answer forever."""

    name = "X-ENDLESS"
    sends_cleartext = False

    def __init__(self):
        self.rounds = 0

    def initial_response(self):
        return None

    def respond(self, challenge):
        self.rounds += 1
        return b"r%d" % self.rounds


class EmptyInitial:
    name = "EXTERNAL"
    sends_cleartext = False

    def initial_response(self):
        return b""

    def respond(self, challenge):
        raise AssertionError("no challenge expected")


class Verifying:
    """Like DIGEST-MD5: the server proves itself in a last challenge, checked at the end."""

    name = "X-VERIFY"
    sends_cleartext = False

    def __init__(self):
        self.proof_seen = False

    def initial_response(self):
        return None

    def respond(self, challenge):
        if challenge == b"proof":
            self.proof_seen = True
            return b""
        return b"answer"

    def verify_success(self, data):
        if not self.proof_seen:
            raise SMTPAuthError("the server never proved it knows the password")


class BigToken:
    name = "XOAUTH2"
    sends_cleartext = False

    def initial_response(self):
        return b"t" * 600

    def respond(self, challenge):
        raise AssertionError


def tls_engine(*caps, **options):
    return ready_engine(*caps, options=EngineOptions(**options), tls_active=True)


def test_plain_with_initial_response_and_masked_trace():
    engine, sink = tls_engine("AUTH PLAIN LOGIN")
    mech = Plain()
    reply = run(engine.authenticate(mech), [C(b"AUTH PLAIN " + b64(mech.blob) + b"\r\n"), S(b"235 2.7.0 ok\r\n")])
    assert reply.code == 235 and engine.authenticated
    assert sink.client_lines() == ["AUTH PLAIN ****"]
    assert all("s3cret" not in m and b64(mech.blob).decode() not in m for _, m in sink.trail)


def test_login_rounds_are_base64_and_masked_both_ways():
    engine, sink = tls_engine("AUTH LOGIN")
    mech = Login()
    run(engine.authenticate(mech), [
        C(b"AUTH LOGIN\r\n"), S(b"334 VXNlcm5hbWU6\r\n"),
        C(b64(b"user") + b"\r\n"), S(b"334 UGFzc3dvcmQ6\r\n"),
        C(b64(b"s3cret-pass") + b"\r\n"), S(b"235 2.7.0 Authentication successful\r\n"),
    ])
    assert mech.challenges == [b"Username:", b"Password:"]
    assert sink.client_lines() == ["AUTH LOGIN", "****", "****"]
    assert sink.server_lines() == ["334 ****", "334 ****", "235 2.7.0 Authentication successful"]


def test_server_line_echoing_the_credential_is_masked():
    engine, sink = tls_engine("AUTH PLAIN")
    mech = Plain()
    blob = b64(mech.blob)
    with pytest.raises(SMTPAuthError):
        run(engine.authenticate(mech), [C(b"AUTH PLAIN " + blob + b"\r\n"), S(b"535 5.7.8 bad credentials " + blob + b"\r\n")])
    assert sink.server_lines() == ["535 5.7.8 bad credentials ****"]


def test_error_text_is_masked_like_the_trace():
    engine, _ = tls_engine("AUTH PLAIN")
    mech = Plain()
    blob = b64(mech.blob)
    with pytest.raises(SMTPAuthError) as info:
        run(engine.authenticate(mech), [C(b"AUTH PLAIN " + blob + b"\r\n"), S(b"535 5.7.8 bad " + blob + b"\r\n")])
    assert blob.decode() not in str(info.value) and blob.decode() not in info.value.reply_text
    assert info.value.reply_text == "5.7.8 bad ****" and info.value.enhanced == "5.7.8"


def test_masking_off_shows_everything():
    engine, sink = tls_engine("AUTH LOGIN", mask_sensitive=False)
    run(engine.authenticate(Login()), [
        C(b"AUTH LOGIN\r\n"), S(b"334 VXNlcm5hbWU6\r\n"), C(b"dXNlcg==\r\n"), S(b"334 UGFzc3dvcmQ6\r\n"),
        C(b64(b"s3cret-pass") + b"\r\n"), S(b"235 ok\r\n"),
    ])
    assert sink.client_lines() == ["AUTH LOGIN", "dXNlcg==", b64(b"s3cret-pass").decode()]
    assert sink.server_lines()[0] == "334 VXNlcm5hbWU6"


def test_empty_initial_response_is_sent_as_equals():
    engine, sink = tls_engine("AUTH EXTERNAL")
    run(engine.authenticate(EmptyInitial()), [C(b"AUTH EXTERNAL =\r\n"), S(b"235 ok\r\n")])


def test_initial_response_too_long_for_the_line_goes_in_a_334_round():
    engine, _ = tls_engine("AUTH XOAUTH2")
    token = b64(b"t" * 600)
    run(engine.authenticate(BigToken()), [C(b"AUTH XOAUTH2\r\n"), S(b"334 \r\n"), C(token + b"\r\n"), S(b"235 ok\r\n")])


def test_endless_334_stops_after_five_rounds():
    engine, sink = tls_engine("AUTH X-ENDLESS")
    mech = Endless()
    script = [C(b"AUTH X-ENDLESS\r\n")]
    for index in range(1, 6):
        script += [S(b"334 " + b64(b"again") + b"\r\n"), C(b64(b"r%d" % index) + b"\r\n")]
    script += [S(b"334 " + b64(b"again") + b"\r\n"), C(b"*\r\n"), S(b"501 5.7.0 cancelled\r\n")]
    peer = Peer(script + [S(b"334 never read\r\n")])
    with pytest.raises(SMTPAuthError) as info:
        peer.drive(engine.authenticate(mech))
    assert mech.rounds == 5
    assert "5 challenge rounds" in str(info.value)
    assert peer.remaining() == [S(b"334 never read\r\n")]
    assert sink.client_lines()[-1] == "*"


def test_auth_failure_carries_the_reply():
    engine, _ = tls_engine("AUTH PLAIN")
    with pytest.raises(SMTPAuthError) as info:
        run(engine.authenticate(Plain()), [C(b"AUTH PLAIN " + b64(Plain().blob) + b"\r\n"), S(b"535 5.7.8 no\r\n")])
    assert (info.value.reply_code, info.value.enhanced, info.value.reply_text) == (535, "5.7.8", "5.7.8 no")
    assert not engine.authenticated and not engine.closed


def test_no_fallback_after_a_failed_mechanism():
    engine, _ = tls_engine("AUTH CRAM-MD5 PLAIN")
    peer = Peer([C(b"AUTH PLAIN " + b64(Plain().blob) + b"\r\n"), S(b"535 5.7.8 no\r\n")])
    with pytest.raises(SMTPAuthError):
        peer.drive(engine.authenticate(Plain()))
    assert peer.done and peer.written.count(b"AUTH") == 1


def test_mechanism_not_offered_writes_nothing():
    engine, _ = tls_engine("AUTH CRAM-MD5")
    peer = Peer([])
    with pytest.raises(SMTPAuthError) as info:
        peer.drive(engine.authenticate(Plain()))
    assert peer.written == b"" and "CRAM-MD5" in str(info.value)


def test_no_auth_at_all_writes_nothing():
    engine, _ = tls_engine()
    peer = Peer([])
    with pytest.raises(SMTPAuthError):
        peer.drive(engine.authenticate(Plain()))
    assert peer.written == b""


@pytest.mark.parametrize("mech", [Plain, Login])
def test_cleartext_mechanisms_refused_over_plaintext(mech):
    engine, _ = ready_engine("AUTH PLAIN LOGIN")
    peer = Peer([])
    with pytest.raises(SMTPAuthError) as info:
        peer.drive(engine.authenticate(mech()))
    assert peer.written == b"" and "unencrypted" in str(info.value)


def test_cleartext_allowed_when_asked():
    engine, _ = ready_engine("AUTH PLAIN", options=EngineOptions(allow_plaintext_auth=True))
    run(engine.authenticate(Plain()), [C(b"AUTH PLAIN " + b64(Plain().blob) + b"\r\n"), S(b"235 ok\r\n")])


def test_strong_mechanism_allowed_over_plaintext():
    engine, _ = ready_engine("AUTH X-ENDLESS")
    run(engine.authenticate(Endless()), [C(b"AUTH X-ENDLESS\r\n"), S(b"334 YQ==\r\n"), C(b64(b"r1") + b"\r\n"),
                                         S(b"235 ok\r\n")])


def test_invalid_base64_challenge_cancels():
    engine, _ = tls_engine("AUTH LOGIN")
    peer = Peer([C(b"AUTH LOGIN\r\n"), S(b"334 not*base64!\r\n"), C(b"*\r\n"), S(b"501 cancelled\r\n")])
    with pytest.raises(SMTPAuthError):
        peer.drive(engine.authenticate(Login()))
    assert peer.done


def test_mechanism_error_cancels_the_exchange():
    class Refusing(Endless):
        def respond(self, challenge):
            raise SMTPAuthError("bad challenge from server")

    engine, _ = tls_engine("AUTH X-ENDLESS")
    peer = Peer([C(b"AUTH X-ENDLESS\r\n"), S(b"334 YQ==\r\n"), C(b"*\r\n"), S(b"501 cancelled\r\n")])
    with pytest.raises(SMTPAuthError, match="bad challenge"):
        peer.drive(engine.authenticate(Refusing()))
    assert peer.done


def test_server_proof_is_checked_after_235():
    engine, _ = tls_engine("AUTH X-VERIFY")
    mech = Verifying()
    run(engine.authenticate(mech), [C(b"AUTH X-VERIFY\r\n"), S(b"334 Yw==\r\n"), C(b64(b"answer") + b"\r\n"),
                                    S(b"334 " + b64(b"proof") + b"\r\n"), C(b"\r\n"), S(b"235 ok\r\n")])
    assert mech.proof_seen


def test_missing_server_proof_fails_and_closes():
    engine, _ = tls_engine("AUTH X-VERIFY")
    with pytest.raises(SMTPAuthError, match="never proved"):
        run(engine.authenticate(Verifying()), [C(b"AUTH X-VERIFY\r\n"), S(b"235 ok\r\n")])
    assert engine.closed


def test_421_during_auth():
    engine, _ = tls_engine("AUTH LOGIN")
    with pytest.raises(SMTPServiceClosing):
        run(engine.authenticate(Login()), [C(b"AUTH LOGIN\r\n"), S(b"421 4.7.0 bye\r\n")])
    assert engine.closed


def test_auth_mechanism_names_from_the_old_form_are_usable():
    engine, _ = tls_engine("AUTH=PLAIN")
    run(engine.authenticate(Plain()), [C(b"AUTH PLAIN " + b64(Plain().blob) + b"\r\n"), S(b"235 ok\r\n")])
