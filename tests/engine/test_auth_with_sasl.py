"""The engine drives the real smtpx.sasl mechanisms through the same contract (a check that
the two parts agree), bytes in and bytes out."""
import base64
import hashlib
import hmac

from tests.engine.scripted import C, S, ready_engine, run
from smtpx.engine import EngineOptions
from smtpx.enums import AuthMechanism
from smtpx.sasl import create_mechanism


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def tls_engine(*caps):
    return ready_engine(*caps, options=EngineOptions(), tls_active=True)


def test_plain():
    engine, sink = tls_engine("AUTH PLAIN")
    run(engine.authenticate(create_mechanism(AuthMechanism.SASL_PLAIN, "user", "pw")),
        [C(b"AUTH PLAIN " + b64(b"\0user\0pw") + b"\r\n"), S(b"235 2.7.0 ok\r\n")])
    assert sink.client_lines() == ["AUTH PLAIN ****"]


def test_login():
    engine, sink = tls_engine("AUTH LOGIN")
    mech = create_mechanism(AuthMechanism.USER_PASSWORD, "user", "pw")
    first = mech.initial_response()
    script = [C(b"AUTH LOGIN" + (b" " + b64(first) if first is not None else b"") + b"\r\n")]
    if first is None:
        script += [S(b"334 VXNlcm5hbWU6\r\n"), C(b64(b"user") + b"\r\n")]
    script += [S(b"334 UGFzc3dvcmQ6\r\n"), C(b64(b"pw") + b"\r\n"), S(b"235 ok\r\n")]
    run(engine.authenticate(mech), script)
    assert all("pw" not in line and "dXNlcg" not in line for line in sink.client_lines())


def test_cram_md5():
    engine, _ = tls_engine("AUTH CRAM-MD5")
    challenge = b"<1896.697170952@postoffice.example.net>"
    digest = hmac.new(b"pw", challenge, hashlib.md5).hexdigest().encode()
    run(engine.authenticate(create_mechanism(AuthMechanism.CRAM_MD5, "user", "pw")),
        [C(b"AUTH CRAM-MD5\r\n"), S(b"334 " + b64(challenge) + b"\r\n"), C(b64(b"user " + digest) + b"\r\n"),
         S(b"235 ok\r\n")])
