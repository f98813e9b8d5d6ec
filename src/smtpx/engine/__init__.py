"""The sans-IO ESMTP engine: no sockets, no clock, no threads.

Every operation (``greeting``, ``hello``, ``starttls``, ``authenticate``, ``send_mail``,
``send_batch``, ``command``, ``verify``, ``expand``, ``noop``, ``rset``, ``quit``) is a generator. It yields
I/O *actions* and returns its result; the driver performs each action and sends its result
back: ``Write(data)`` -> None (write all of it), ``Read()`` -> bytes (at least one; b"" is EOF;
its ``reply`` says whether the awaited reply has begun, for a driver that times whole replies),
``StartTLS()`` -> None (do the handshake now; raise on failure). Errors (typed, from
smtpx.errors) come out of the generator. Errors thrown *into* it (timeouts, socket errors)
close the session. A Write that could not be finished is reported by throwing its error in
at that Write, with ``bytes_written`` on it (how many of its bytes may have gone out; absent:
none): the engine tells from it whether a message's end of data went out (delivery unknown)
or not (not delivered). ``engine.closed`` tells the driver to drop the connection.

A minimal sync driver (``sock`` a connected socket, ``wrap`` a TLS wrapper)::

    def run(operation, result=None):
        while True:
            try:
                action = operation.send(result)
            except StopIteration as done:
                return done.value
            if isinstance(action, Write):
                sock.sendall(action.data); result = None
            elif isinstance(action, Read):
                result = sock.recv(65536)
            else:  # StartTLS
                sock = wrap(sock); result = None   # (nonlocal sock in real code)

    engine = Engine(EngineOptions(), sink)
    run(engine.greeting()); run(engine.hello("client.example"))
    result = run(engine.send_mail(envelope, content))   # SendResult
    results = run(engine.send_batch([(envelope, content), ...]))   # pipelined across messages
    members = run(engine.expand("staff")).addresses   # Expansion(reply, addresses)

send_mail and send_batch share one transaction runner (smtpx.engine.runner) and one set of
transaction rules (smtpx.engine.transaction). Results are return values; the ``sink`` only
hears events: ``pi_trail(direction, text)``, ``start_transfer()``,
``transfer(bytes_sent, percent_or_-1, wire_bytes)``, ``end_transfer()`` and
``error(code, text)`` (a refused recipient that does not stop the send).
"""
from smtpx.engine.actions import Action, Read, StartTLS, Write, WriteParts
from smtpx.engine.capabilities import Capabilities
from smtpx.engine.engine import TRANSITIONS, Engine, Expansion, NullSink, State
from smtpx.engine.envelope import Content, Envelope, EnvelopeRecipient, RecipientResult, SendResult
from smtpx.engine.options import EngineOptions

__all__ = [
    "Action",
    "Capabilities",
    "Content",
    "Engine",
    "EngineOptions",
    "Envelope",
    "EnvelopeRecipient",
    "Expansion",
    "NullSink",
    "Read",
    "RecipientResult",
    "SendResult",
    "StartTLS",
    "State",
    "TRANSITIONS",
    "Write",
    "WriteParts",
]
