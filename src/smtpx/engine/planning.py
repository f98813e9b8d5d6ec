"""Everything send_mail decides before writing a byte: input checks, what the message needs
from the server (SMTPUTF8, 8BITMIME, BINARYMIME, SIZE), and the MAIL / RCPT command lines."""
from __future__ import annotations

from smtpx.engine.capabilities import Capabilities
from smtpx.engine.commands import Command, command, path_command, recipient_params, xtext
from smtpx.engine.envelope import Content, Envelope, EnvelopeRecipient, make_envelope_recipient
from smtpx.engine.options import EngineOptions
from smtpx.engine.validation import check_address, check_no_controls
from smtpx.kernels import is_plain_address
from smtpx.enums import RecipientType
from smtpx.errors import SMTPInputError, SMTPMessageTooLarge, SMTPNotSupportedError, SMTPTLSError

VERBS = {"MAIL": "MAIL FROM", "SEND": "SEND FROM", "SOML": "SOML FROM", "SAML": "SAML FROM"}
_DSN_KEYWORDS = {"NOTIFY", "ORCPT"}
DATA = command("DATA")


# A message to a recipient the session has not planned for makes a Plan, a Lane and a
# PlannedRecipient per recipient, and every message reads them: compiled, they are extension
# types (planning.pxd), made without a Python-level __init__ call and read from a C struct.
# Here they are plain classes with slots, the pure twin and the specification.


class PlannedRecipient:
    __slots__ = ("recipient", "command", "label")
    recipient: EnvelopeRecipient
    command: Command
    label: str  # what its RCPT reply answers, for error messages

    def __init__(self, recipient: EnvelopeRecipient, command: Command, label: str) -> None:
        self.recipient = recipient
        self.command = command
        self.label = label


class Lane:
    __slots__ = ("commands", "wire", "labels", "expect", "held_expect")
    commands: list[Command]  # traced, in wire order
    wire: bytes  # the commands' bytes
    labels: list[str]  # one per reply, for error messages
    expect: bytes  # one byte per reply for smtpx.kernels.match_window: b"2" any 2xx, b"3" 354
    held_expect: bytes  # the same after a held message's final reply (b"2" first)

    def __init__(self, commands: list[Command], wire: bytes, labels: list[str], expect: bytes) -> None:
        self.commands = commands
        self.wire = wire
        self.labels = labels
        self.expect = expect
        self.held_expect = b"2" + expect


class Plan:
    __slots__ = ("mail", "recipients", "pipelining", "use_bdat", "_data_envelope", "_lane", "utf8")
    mail: Command
    recipients: list[PlannedRecipient]
    pipelining: bool
    use_bdat: bool
    # MAIL, every RCPT and DATA as one Write, with their reply labels: made once per plan (a
    # plan the PlanCache keeps serves many messages).
    _data_envelope: tuple[list[Command], bytes, list[str]] | None
    # The batch lane's view of the first transaction (smtpx.engine.runner): made once per plan.
    _lane: Lane | None
    utf8: bool  # SMTPUTF8 asked for on the MAIL line

    def __init__(self, mail: Command, recipients: list[PlannedRecipient], pipelining: bool, use_bdat: bool,
                 utf8: bool) -> None:
        self.mail = mail
        self.recipients = recipients
        self.pipelining = pipelining
        self.use_bdat = use_bdat
        self._data_envelope = None
        self._lane = None
        self.utf8 = utf8

    def lane(self) -> Lane:
        """The bytes, reply labels and reply expectation of the first transaction's commands
        in the batch lane: MAIL, every RCPT and DATA (whose 354 lets the content go), or MAIL
        and every RCPT (the window kernel adds BDAT n LAST and the content)."""
        made = self._lane
        if made is None:
            if self.use_bdat:
                commands = [self.mail, *[p.command for p in self.recipients]]
                labels = ["MAIL FROM", *[p.label for p in self.recipients], "BDAT"]
                wire = b"".join([cmd.wire for cmd in commands])
                expect = b"2" * len(labels)
            else:
                commands, wire, labels = self.data_envelope()
                expect = b"2" * (len(labels) - 1) + b"3"
            made = self._lane = Lane(commands, wire, labels, expect)
        return made

    def data_envelope(self) -> tuple[list[Command], bytes, list[str]]:
        """(commands, their bytes, the label of each reply) of MAIL, every RCPT and DATA."""
        made = self._data_envelope
        if made is None:
            commands = [self.mail, *[p.command for p in self.recipients], DATA]
            labels = ["MAIL FROM", *[p.label for p in self.recipients], "DATA"]
            made = self._data_envelope = (commands, b"".join([cmd.wire for cmd in commands]), labels)
        return made


def stops_send(options: EngineOptions, kind: int) -> bool:
    """The StopOn*Errors rule for a recipient of this kind."""
    if kind == RecipientType.BCC:
        return options.stop_on_bcc_errors
    if kind == RecipientType.CC:
        return options.stop_on_cc_errors
    return options.stop_on_to_errors


def plan_send(envelope: Envelope, content: Content, caps: Capabilities, options: EngineOptions,
              keep: bool = False) -> Plan:
    """The plan of one message. ``keep``: the plan will outlive the caller's Envelope (PlanCache
    keeps it), so its recipients are copies, as the results name them."""
    verb = VERBS.get(envelope.verb.upper())
    if verb is None:
        raise SMTPInputError(f"unknown transaction verb {envelope.verb!r} (MAIL, SEND, SOML or SAML)")
    sender = check_address(envelope.mail_from, "the sender address", null_allowed=True)
    if not envelope.recipients:
        raise SMTPInputError("the message has no recipient", 165)
    checked = []
    utf8 = content.smtputf8 or not sender.isascii()
    for index, recipient in enumerate(envelope.recipients):
        try:
            bare = check_address(recipient.address, "the address")  # "the address 'x' is ..."
            params = recipient_params(recipient.options, "the options") if recipient.options else []
        except SMTPInputError as error:  # the message names the recipient only when needed
            raise SMTPInputError(f"recipient {index + 1}: {error.description}") from None
        checked.append((recipient, bare, params))
        if not bare.isascii():
            utf8 = True
    offered = caps.raw  # extension keywords, upper case
    if utf8 and "SMTPUTF8" not in offered:
        raise SMTPNotSupportedError(
            "the message needs SMTPUTF8 (a non-ASCII address or header) and the server does not offer it; nothing was sent"
        )
    use_bdat = options.use_chunking and "CHUNKING" in offered
    body = None
    if content.binary:
        if not (use_bdat and "BINARYMIME" in offered):
            raise SMTPNotSupportedError(
                "the message has binary content, which needs the server's BINARYMIME and CHUNKING "
                "(with chunking enabled); nothing was sent"
            )
        body = "BINARYMIME"
    elif content.eight_bit:
        if "8BITMIME" not in offered:
            raise SMTPNotSupportedError("the message is 8-bit and the server does not offer 8BITMIME; nothing was sent")
        body = "8BITMIME"
    limit = caps.size_limit
    if limit is not None and content.size is not None and content.size > limit:
        raise SMTPMessageTooLarge(
            f"the message is {content.size} bytes, more than the server's SIZE limit of {limit}; nothing was sent"
        )

    mail_params: list[tuple[str, str | None]] = []
    if "SIZE" in offered and content.size is not None:
        mail_params.append(("SIZE", str(content.size)))
    if body:
        mail_params.append(("BODY", body))
    if utf8:
        mail_params.append(("SMTPUTF8", None))
    if options.require_tls_delivery:  # the engine checked TLS and the extension (check_requiretls)
        mail_params.append(("REQUIRETLS", None))
    dsn = "DSN" in offered
    if options.dsn_ret or options.dsn_envid:
        dsn_params = _dsn_mail_params(options)  # checked even when unused: bad input is an error
        if dsn:
            mail_params += dsn_params
    mail = path_command(verb, sender, mail_params, utf8)
    planned = []
    for recipient, bare, params in checked:
        if params and not dsn:  # DSN requests are dropped for a server without DSN (RFC 3461 needs it)
            params = [(key, value) for key, value in params if key not in _DSN_KEYWORDS]
        if keep:
            recipient = EnvelopeRecipient(recipient.address, recipient.kind, recipient.options)
        planned.append(PlannedRecipient(recipient, path_command("RCPT TO", bare, params, utf8),
                                        f"RCPT TO:<{recipient.address}>"))
    pipelining = options.use_pipelining and "PIPELINING" in offered
    return Plan(mail, planned, pipelining, use_bdat, utf8)


def with_recipients(like: Plan, recipients: list[EnvelopeRecipient]) -> Plan | None:
    """The plan of the envelope ``like`` was made for, but for these recipients (which the
    plan keeps copies of), when each one is a plain address (smtpx.kernels.is_plain_address)
    without DSN options and ``like`` asked for no SMTPUTF8: what plan_send would make, without
    its checks and with ``like``'s MAIL line (a mailing: the same sender, a recipient each).
    None for anything else, which plan_send plans."""
    if like.utf8 or not recipients:
        return None
    planned = []
    for recipient in recipients:
        address = recipient.address
        if recipient.options or not is_plain_address(address):
            return None
        rcpt = path_command("RCPT TO", address, [], False)
        planned.append(PlannedRecipient(make_envelope_recipient(address, recipient.kind, ""), rcpt,
                                        rcpt.trace))  # (its trace is the label plan_send makes)
    return Plan(like.mail, planned, like.pipelining, like.use_bdat, False)


def check_requiretls(options: EngineOptions, caps: Capabilities, tls_active: bool) -> None:
    """REQUIRETLS (RFC 8689) asked for: the message may only leave over TLS to a server that
    offers the extension; otherwise refuse before MAIL (nothing is written)."""
    if not options.require_tls_delivery:
        return
    if not tls_active:
        raise SMTPTLSError("RequireTLS is set and this session is not TLS: REQUIRETLS needs TLS to the "
                           "server (ssl_start_mode); nothing was sent")
    if "REQUIRETLS" not in caps.raw:
        raise SMTPNotSupportedError("RequireTLS is set and the server does not offer REQUIRETLS (RFC 8689); "
                                    "nothing was sent")


def _dsn_mail_params(options: EngineOptions) -> list[tuple[str, str | None]]:
    params: list[tuple[str, str | None]] = []
    if options.dsn_ret:
        ret = options.dsn_ret.strip().upper()
        if ret not in ("FULL", "HDRS"):
            raise SMTPInputError(f"the DSN RET value must be FULL or HDRS, not {options.dsn_ret!r}")
        params.append(("RET", ret))
    if options.dsn_envid:
        check_no_controls(options.dsn_envid, "the DSN envelope id")
        if not options.dsn_envid.isascii() or len(options.dsn_envid) > 100:
            raise SMTPInputError("the DSN envelope id must be printable ASCII of at most 100 characters")
        params.append(("ENVID", xtext(options.dsn_envid)))
    return params


# plan_settings's snapshot: capabilities, options, and the switches of the options it reads.
PlanSettings = tuple[Capabilities, EngineOptions, bool, bool, str, str, bool]


def plan_settings(caps: Capabilities, options: EngineOptions) -> PlanSettings:
    """What plan_send reads of the session rather than of the message, for PlanCache.plan's
    key: the server's capabilities (compared by identity: every EHLO makes new ones) and the
    options' switches. An operation takes them once, as it starts: options do not change while
    it runs, and a batch then compares them once per message instead of reading them again."""
    return (caps, options, options.use_pipelining, options.use_chunking, options.dsn_ret, options.dsn_envid,
            options.require_tls_delivery)


class PlanCache:
    """The last plan an engine made, reused while the same envelope goes out again with the
    same kind of content on the same session (a loop of send_raw, send() with unchanged
    properties, a batch to one recipient): its addresses are not checked and its MAIL / RCPT
    lines not built again. The key is a snapshot of every input plan_send reads (the session's
    part made by plan_settings), so a caller changing an Envelope in place gets a fresh plan;
    errors are never cached."""

    __slots__ = ("_head", "_recipients", "_plan")

    def __init__(self) -> None:
        self._head: tuple[object, ...] | None = None  # every input but the recipients
        self._recipients: list[tuple[str, RecipientType, type, str]] | None = None
        self._plan: Plan | None = None

    def plan(self, envelope: Envelope, content: Content, settings: PlanSettings) -> Plan:
        """The plan for this message; ``settings``: plan_settings(caps, options) of the session."""
        caps, options = settings[0], settings[1]
        try:
            head = (envelope.mail_from, envelope.verb, content.size, content.eight_bit, content.binary,
                    content.smtputf8, settings)
            recipients = [(r.address, r.kind, type(r.kind), r.options) for r in envelope.recipients]
        except Exception:  # not an Envelope / Content: plan_send says what is wrong
            return plan_send(envelope, content, caps, options)
        cached = self._plan
        if cached is not None and head == self._head:
            if recipients == self._recipients:
                return cached
            # A mailing: the same sender and content, other recipients.
            plan = with_recipients(cached, envelope.recipients)
            if plan is not None:
                self._recipients, self._plan = recipients, plan
                return plan
        # The results name the recipients: the kept plan has copies, not the caller's (mutable)
        # objects.
        plan = plan_send(envelope, content, caps, options, keep=True)
        self._head, self._recipients, self._plan = head, recipients, plan
        return plan
