"""The durable queue: queue files (written atomically); QueueClaims, which claims windows of
files and commits each from its own outcome (process_queue's run, smtpx.queue.runner, pipelines
them); and process_queue_dir, the same cycle one file at a time with a caller's send_one.
Format and guarantees: docs/queue.md.

File layout (version 1)::

    SMTPXQ 1\\n
    {"mail_from": ..., "verb": ..., "recipients": [[address, kind, options], ...],
     "eight_bit": ..., "binary": ..., "smtputf8": ..., "created": ...}\\n
    <the message bytes: headers, empty line, body; not dot-stuffed>
    \\nSMTPXQ-END <message length in decimal> <sha256 of the message, hex>\\n

A file whose first line, JSON line or trailer is missing or wrong, whose length disagrees with
the trailer, or whose checksum does not match, is corrupt (truncated files are caught this way).

Claiming (two runs never send one file twice; a SIGKILLed run loses nothing): a run opens a
file and takes an exclusive ``flock`` on it *before* renaming it ``*.queued`` -> ``*.sending``,
and holds the lock until the file is deleted, renamed ``*.sent`` or renamed ``*.failed``.
The kernel drops a flock when its process dies, however it dies, so a ``*.sending`` file whose
lock can be taken has no live owner: the run that takes the lock recovers it (sends it again).
After taking a lock, a run checks that the name still points at the inode it locked, so a file
another run has just finished is never picked up again.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from smtpx.engine.envelope import Content, Envelope, EnvelopeRecipient
from smtpx.enums import RecipientType
from smtpx.errors import SMTPConnectionDropped, SMTPError, SMTPInputError
from smtpx.queue.closer import DeferredCloser

__all__ = [
    "QueueRun",
    "QueueCorrupt",
    "write_queue_file",
    "queue_text",
    "queue_bytes_iter",
    "read_queue_file",
    "process_queue_dir",
    "QueueClaims",
    "ClaimedFile",
    "QUEUE_WINDOW",
    "commit_window",
    "commit_after_session_failure",
    "settle_after_session_failure",
    "MAGIC",
]

MAGIC = b"SMTPXQ 1\n"
TRAILER_TAG = b"\nSMTPXQ-END "
_TRAILER_MAX = 128  # "\nSMTPXQ-END " + up to 20 digits + " " + 64 hex + "\n" fits well
_COPY_CHUNK = 1 << 16
# A queue file up to this size is read whole, in one pread, and its message sent from those
# bytes (one read of the file, and the engine's batch lane takes in-memory content).
KEEP_IN_MEMORY = 64 * 1024
_ALTERED = "the checksum does not match: the message was altered or damaged"
# Files pipelined per window. Each is committed when its window's replies are all in, so a run
# SIGKILLed mid-window leaves at most this many delivered files *.sending (sent again on recovery).
QUEUE_WINDOW = 32
_KINDS = {"TO": RecipientType.TO, "CC": RecipientType.CC, "BCC": RecipientType.BCC}


class QueueCorrupt(SMTPError):
    """A queue file that cannot be read back as it was written (truncated, altered, not ours)."""

    default_code = 161


# --- writing ----------------------------------------------------------------------------------


def _envelope_line(composed: Any) -> bytes:
    env: Envelope = composed.envelope
    record = {
        "mail_from": env.mail_from,
        "verb": env.verb,
        "recipients": [[r.address, RecipientType(r.kind).name, r.options] for r in env.recipients],
        "eight_bit": bool(composed.eight_bit),
        "binary": bool(composed.binary),
        "smtputf8": bool(composed.needs_smtputf8),
        "created": time.time(),
    }
    # ensure_ascii: the JSON line is pure ASCII, so no newline or 8-bit text can hide in it.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def queue_bytes_iter(composed: Any) -> Iterator[bytes]:
    """The whole queue file, in chunks (a message stream is copied, never loaded whole)."""
    yield MAGIC
    yield _envelope_line(composed)
    digest = hashlib.sha256()
    length = 0
    for chunk in composed.iter_bytes():
        if chunk:
            digest.update(chunk)
            length += len(chunk)
            yield chunk
    yield TRAILER_TAG + f"{length} {digest.hexdigest()}\n".encode("ascii")


def queue_text(composed: Any) -> str:
    """queue("*"): the queue file's text (8-bit octets kept with surrogateescape, so
    ``text.encode("utf-8", "surrogateescape")`` gives back the exact file)."""
    return b"".join(queue_bytes_iter(composed)).decode("utf-8", "surrogateescape")


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_dir(queue_dir: str | os.PathLike[str]) -> str:
    path = os.fspath(queue_dir)
    if not path or not os.path.isdir(path):
        raise SMTPInputError(f"the queue folder {path!r} does not exist (create it first)")
    return path


def write_queue_file(queue_dir: str | os.PathLike[str], composed: Any) -> str:
    """Write ``composed`` (a ComposedMessage) to a new unique ``*.queued`` file in
    ``queue_dir`` atomically (temp file in the same folder, fsync, rename, fsync the folder) and
    return its full path. The folder must exist (SMTPInputError otherwise)."""
    path = _check_dir(queue_dir)
    stem = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(6)}"
    tmp = os.path.join(path, f".{stem}.tmp")
    final = os.path.join(path, f"{stem}.queued")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb", closefd=True) as out:
                for chunk in queue_bytes_iter(composed):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        os.rename(tmp, final)
        _fsync_dir(path)
    except OSError as exc:
        raise SMTPError(f"could not write the queue file in {path!r}: {exc.strerror or exc}", code=303) from exc
    return final


# --- reading ----------------------------------------------------------------------------------


@dataclass
class QueuedMessage:
    envelope: Envelope
    eight_bit: bool
    binary: bool
    smtputf8: bool
    offset: int  # where the message bytes start in the file
    length: int
    # A small file's message bytes, as the checksum read them (KEEP_IN_MEMORY); None for a big one.
    data: bytes | None = None


def read_queue_file(fd: int) -> QueuedMessage:
    """Parse and verify (length and checksum) the queue file open as ``fd``. QueueCorrupt
    when anything is wrong. A small file (the common case) is read with one pread and parsed
    in memory; a big one is read in chunks and its message left in the file."""
    size = os.fstat(fd).st_size
    if size <= KEEP_IN_MEMORY:
        return _parse_whole(os.pread(fd, size, 0))
    with os.fdopen(os.dup(fd), "rb") as f:
        if f.readline(len(MAGIC) + 1) != MAGIC:
            raise QueueCorrupt("not an smtpx queue file (or an unknown format version)")
        envelope, flags = _parse_envelope(f.readline(1 << 24))
        offset = f.tell()
        tail_start = max(offset, size - _TRAILER_MAX)
        f.seek(tail_start)
        length, digest_text = _parse_trailer(f.read(), tail_start, offset, size)
        f.seek(offset)
        digest = hashlib.sha256()
        left = length
        while left:
            chunk = f.read(min(_COPY_CHUNK, left))
            if not chunk:
                raise QueueCorrupt("the file is truncated")
            digest.update(chunk)
            left -= len(chunk)
    if digest.hexdigest().encode("ascii") != digest_text:
        raise QueueCorrupt(_ALTERED)
    return QueuedMessage(envelope, *flags, offset=offset, length=length)


def _parse_whole(data: bytes) -> QueuedMessage:
    """read_queue_file for a file read whole: its message kept in memory."""
    if not data.startswith(MAGIC):
        raise QueueCorrupt("not an smtpx queue file (or an unknown format version)")
    end_of_line = data.find(b"\n", len(MAGIC))
    envelope, flags = _parse_envelope(data[len(MAGIC):end_of_line + 1] if end_of_line >= 0 else b"")
    offset, size = end_of_line + 1, len(data)
    tail_start = max(offset, size - _TRAILER_MAX)
    length, digest_text = _parse_trailer(data[tail_start:], tail_start, offset, size)
    message = data[offset:offset + length]
    if hashlib.sha256(message).hexdigest().encode("ascii") != digest_text:
        raise QueueCorrupt(_ALTERED)
    return QueuedMessage(envelope, *flags, offset=offset, length=length, data=message)


def _parse_envelope(line: bytes) -> tuple[Envelope, tuple[bool, bool, bool]]:
    """The JSON envelope line (with its newline): the envelope and the 8-bit, binary and
    SMTPUTF8 flags."""
    if not line.endswith(b"\n"):
        raise QueueCorrupt("the envelope line is truncated")
    try:
        record = json.loads(line.decode("ascii"))  # ASCII as written (ensure_ascii); from str: 3x faster
        recipients = [EnvelopeRecipient(str(a), _KINDS[k], str(o)) for a, k, o in record["recipients"]]
        envelope = Envelope(str(record["mail_from"]), recipients, str(record.get("verb", "MAIL")))
        flags = (bool(record["eight_bit"]), bool(record["binary"]), bool(record["smtputf8"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise QueueCorrupt(f"the envelope line is damaged: {exc}") from None
    if not recipients:
        raise QueueCorrupt("the envelope has no recipients")
    return envelope, flags


def _parse_trailer(tail: bytes, tail_start: int, offset: int, size: int) -> tuple[int, bytes]:
    """The trailer, found in ``tail`` (the file's last bytes, from ``tail_start``): the message
    length, checked against where the message starts (``offset``) and the trailer is, and the
    hex digest."""
    if size - offset < len(TRAILER_TAG) + 4:
        raise QueueCorrupt("the file is truncated (no trailer)")
    at = tail.rfind(TRAILER_TAG)
    if at < 0 or not tail.endswith(b"\n"):
        raise QueueCorrupt("the file is truncated (no trailer)")
    try:
        length_text, digest_text = tail[at + len(TRAILER_TAG):-1].split(b" ")
        length = int(length_text)
    except ValueError:
        raise QueueCorrupt("the trailer is damaged") from None
    if offset + length != tail_start + at:
        raise QueueCorrupt(f"the message is {tail_start + at - offset} bytes, the trailer says {length}")
    return length, digest_text


class _FileChunks:
    """The message bytes of a claimed queue file, re-iterable (each pass reads with pread from
    the start), so the engine may pipeline the content and resend it after a 452."""

    __slots__ = ("fd", "offset", "length")

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self.fd, self.offset, self.length = fd, offset, length

    def __iter__(self) -> Iterator[bytes]:
        position, left = self.offset, self.length
        while left:
            chunk = os.pread(self.fd, min(_COPY_CHUNK, left), position)
            if not chunk:
                raise QueueCorrupt("the queue file shrank while it was being sent")
            position += len(chunk)
            left -= len(chunk)
            yield chunk


def _content(fd: int, queued: QueuedMessage) -> Content:
    chunks: Iterable[bytes] = _FileChunks(fd, queued.offset, queued.length) if queued.data is None else [queued.data]
    return Content(chunks, queued.length, eight_bit=queued.eight_bit, binary=queued.binary,
                   smtputf8=queued.smtputf8, normalise=True)


# --- processing ---------------------------------------------------------------------------------


@dataclass
class QueueRun:
    """What one process_queue_dir run did: file names (without the folder) per outcome."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, BaseException]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # *.sending files left by a dead run


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def _try_claim(path: str, name: str) -> int | None:
    """Open and lock ``name``; None when another live run holds it or it is gone."""
    full = os.path.join(path, name)
    try:
        fd = os.open(full, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    try:  # the name must still be the inode we locked (another run may have finished it)
        same = os.stat(full).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None
    return fd


def _move(path: str, current: str, target: str | None) -> None:
    """Rename current -> target (or delete when target is None); the caller fsyncs the folder."""
    if target is None:
        os.unlink(os.path.join(path, current))
    else:
        os.rename(os.path.join(path, current), os.path.join(path, target))


def _settle(path: str, current: str, target: str | None) -> None:
    """_move, then fsync the folder."""
    _move(path, current, target)
    _fsync_dir(path)


@dataclass(eq=False)
class ClaimedFile:
    """A queue file this run has claimed: renamed ``*.sending``, its lock held (``fd``), and
    verified. ``envelope`` / ``content`` are what to send (content re-reads the file)."""

    stem: str
    fd: int
    envelope: Envelope
    content: Content

    @property
    def sending_name(self) -> str:
        return f"{self.stem}.sending"


class QueueClaims:
    """The batch-oriented queue API: ``claim(limit)`` hands over up to ``limit`` claimed,
    verified files (oldest first; corrupt ones are parked ``*.failed`` on the way, without
    being sent), ``commit(entry, error)`` settles one file from its own outcome, and
    ``leave(entry)`` releases one without settling it (it stays ``*.sending``; the next run
    recovers it). Every claimed file must end in commit or leave; ``leave_all()`` leaves every
    one still held (a run that stops). ``run`` records it all."""

    def __init__(self, queue_dir: str | os.PathLike[str], keep_queue: bool = False,
                 on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self.path = _check_dir(queue_dir)
        self.keep_queue = keep_queue
        self.on_error = on_error
        self.run = QueueRun()
        self._held: set[ClaimedFile] = set()  # claimed, neither committed nor left yet
        self._closer = DeferredCloser()  # closes committed files' descriptors (see finish())
        # Listed once: files queued during the run wait for the next run.
        self._names = iter(sorted(n for n in os.listdir(self.path)
                                  if n.endswith((".queued", ".sending")) and not n.startswith(".")))

    def claim(self, limit: int) -> list[ClaimedFile]:
        """Up to ``limit`` files, each locked, renamed ``*.sending`` and verified (nothing of
        them is sent yet). The renames are not fsynced: after a power loss a file whose rename
        was lost is ``*.queued`` again instead of ``*.sending``, and the next run sends it
        either way; only a commit must be durable (docs/queue.md)."""
        claimed: list[ClaimedFile] = []
        try:
            while len(claimed) < limit:
                name = next(self._names, None)
                if name is None:
                    break
                entry = self._claim_one(name)
                if entry is not None:
                    claimed.append(entry)
                    self._held.add(entry)
        except BaseException:
            for entry in claimed:
                self.leave(entry)  # *.sending, lock released: the next run takes them
            raise
        return claimed

    def _claim_one(self, name: str) -> ClaimedFile | None:
        fd = _try_claim(self.path, name)
        if fd is None:
            return None
        try:
            stem = _stem(name)
            if name.endswith(".queued"):  # the lock is taken before the rename: see the module doc
                os.rename(os.path.join(self.path, name), os.path.join(self.path, f"{stem}.sending"))
            else:
                self.run.recovered.append(f"{stem}.sending")
            try:
                queued = read_queue_file(fd)
            except (QueueCorrupt, OSError) as exc:  # never sent: parked at once
                _settle(self.path, f"{stem}.sending", f"{stem}.failed")
                self._record_failed(stem, exc)
                os.close(fd)
                return None
            return ClaimedFile(stem, fd, queued.envelope, _content(fd, queued))
        except BaseException:
            os.close(fd)  # whatever name it has now, the next run can take it
            raise

    def commit(self, entry: ClaimedFile, error: BaseException | None) -> None:
        """Settle ``entry`` from its own final outcome: None (delivered) -> deleted, or
        ``*.sent`` with keep_queue; an error -> ``*.failed`` and on_error. Then its lock goes."""
        self.commit_many([(entry, error)])

    def commit_many(self, settled: list[tuple[ClaimedFile, BaseException | None]]) -> None:
        """commit() for several files, each from its own outcome: all renamed / deleted, the
        folder fsynced once, and only then their locks released (a finished file has left its
        name, durably, before another run could lock it), by the helper thread that closes
        their descriptors (smtpx.queue.closer). on_error fires after."""
        parked: list[tuple[str, BaseException]] = []
        finished: list[ClaimedFile] = []  # at their final name (deleted, *.sent or *.failed)
        try:
            for entry, error in settled:
                if error is None:
                    target = f"{entry.stem}.sent" if self.keep_queue else None
                    _move(self.path, entry.sending_name, target)
                    self.run.sent.append(target or entry.sending_name)
                else:
                    _move(self.path, entry.sending_name, f"{entry.stem}.failed")
                    parked.append((entry.stem, error))
                finished.append(entry)
            if settled:
                _fsync_dir(self.path)
            self._close_later(finished)
        finally:
            for entry, _ in settled:
                self.leave(entry)  # any not moved (an OSError above) stays *.sending
        for stem, error in parked:
            self._record_failed(stem, error)

    def leave(self, entry: ClaimedFile) -> None:
        """Release ``entry`` unsettled (certainly not delivered by this run, or its fate left to
        recovery): it stays ``*.sending`` and the next run that takes its lock sends it.
        Releasing twice is harmless (the descriptor is closed once)."""
        self._held.discard(entry)
        fd, entry.fd = entry.fd, -1
        if fd >= 0:
            os.close(fd)

    def leave_all(self) -> None:
        """leave() every file still held: they stay ``*.sending`` for the next run."""
        for entry in list(self._held):
            self.leave(entry)

    def finish(self) -> None:
        """The run ends: every file still held is left (it stays ``*.sending``), and every
        descriptor the run opened is closed when this returns. Calling it again does nothing."""
        try:
            self.leave_all()
        finally:
            self._closer.join()

    def _close_later(self, finished: list[ClaimedFile]) -> None:
        """Release committed files: their descriptors go to the closer thread."""
        fds = []
        for entry in finished:
            self._held.discard(entry)
            fd, entry.fd = entry.fd, -1
            if fd >= 0:
                fds.append(fd)
        self._closer.close_later(fds)

    def _record_failed(self, stem: str, error: BaseException) -> None:
        self.run.failed.append((f"{stem}.failed", error))
        if self.on_error is not None:
            self.on_error(f"{stem}.failed", error)


def process_queue_dir(
    queue_dir: str | os.PathLike[str],
    send_one: Callable[[Envelope, Content], Any],
    keep_queue: bool = False,
    on_error: Callable[[str, BaseException], None] | None = None,
) -> QueueRun:
    """Send every ``*.queued`` file (oldest first) and every ``*.sending`` file left by a dead
    run, one at a time, with ``send_one(envelope, content)``.
    Success: the file is deleted, or renamed ``*.sent`` with keep_queue. An exception from
    send_one, or a corrupt file: renamed ``*.failed`` (never deleted), ``on_error(name, exc)``
    is called, and the run goes on. Except a session failure that says what became of the
    file: an exception with ``.results`` (as the engine's send_batch raises it for the one
    file: commit_after_session_failure's rules): delivery unknown -> ``*.failed`` saying so; no
    entry or None (certainly not delivered, e.g. cut before its end of data) -> the file stays
    ``*.sending`` for the next run, and the run stops: the exception is raised (an SMTPError
    with ``.queue_run``). KeyboardInterrupt and SystemExit stop the run too; the file being
    sent stays ``*.sending`` and the next run recovers it. (SMTP.process_queue and
    AsyncSMTP.process_queue pipeline many files instead: smtpx.queue.runner.)"""
    claims = QueueClaims(queue_dir, keep_queue, on_error)
    try:
        return _send_one_at_a_time(claims, send_one)
    finally:
        claims.finish()


def _send_one_at_a_time(claims: QueueClaims, send_one: Callable[[Envelope, Content], Any]) -> QueueRun:
    while True:
        window = claims.claim(1)
        if not window:
            return claims.run
        entry = window[0]
        try:
            send_one(entry.envelope, entry.content)
        except Exception as exc:  # noqa: BLE001 - any failure parks the file as *.failed
            if hasattr(exc, "results"):  # a session failure that tells this file's fate
                if commit_after_session_failure(claims, window, exc):
                    claims.leave(entry)  # not delivered: *.sending, for the next run
                    if isinstance(exc, SMTPError):
                        exc.queue_run = claims.run  # type: ignore[attr-defined]
                    raise
                continue
            claims.commit(entry, exc)
            continue
        except BaseException:
            claims.leave(entry)
            raise
        claims.commit(entry, None)


# --- committing a pipelined window ---------------------------------------------------------------


def commit_window(claims: QueueClaims, window: list[ClaimedFile], outcomes: list[Any]) -> None:
    """A window the engine's send_batch finished: each file committed from its own outcome
    (a SendResult: delivered; an SMTPError: refused, so ``*.failed``)."""
    claims.commit_many([(entry, outcome if isinstance(outcome, BaseException) else None)
                        for entry, outcome in zip(window, outcomes)])


def commit_after_session_failure(claims: QueueClaims, window: list[ClaimedFile],
                                 error: BaseException) -> list[ClaimedFile]:
    """A window whose session failed: settle_after_session_failure's verdicts committed; the
    files certainly not delivered are returned, still claimed, for the caller to send again or
    ``leave``."""
    settled, unsent = settle_after_session_failure(window, error)
    try:
        claims.commit_many(settled)
    except BaseException:
        for entry in unsent:
            claims.leave(entry)
        raise
    return unsent


def settle_after_session_failure(window: list[ClaimedFile], error: BaseException
                                 ) -> tuple[list[tuple[ClaimedFile, BaseException | None]], list[ClaimedFile]]:
    """A window whose session failed (421, EOF, timeout, interrupt...): what to commit, and
    what was certainly not delivered. ``error.results`` (the engine's, one per file taken) says
    what is known: a final outcome -> committed as such; end of data written without a reply
    (delivery unknown) or a partial delivery -> ``*.failed``, never sent again; None or no
    entry (no ``.results`` at all: a cancellation, a failed connect) -> not delivered."""
    results = getattr(error, "results", None) or []
    unsent: list[ClaimedFile] = []
    settled: list[tuple[ClaimedFile, BaseException | None]] = []
    for index, entry in enumerate(window):
        outcome = results[index] if index < len(results) else None
        if outcome is None:
            unsent.append(entry)
        elif isinstance(outcome, SMTPConnectionDropped) and getattr(outcome, "delivery_unknown", False):
            settled.append((entry, _delivery_unknown(entry, error, outcome)))
        else:
            settled.append((entry, outcome if isinstance(outcome, BaseException) else None))
    return settled, unsent


def _delivery_unknown(entry: ClaimedFile, error: BaseException, outcome: SMTPConnectionDropped) -> BaseException:
    """The error a delivery-unknown file is parked with: the session error's own type (a
    timeout stays an SMTPTimeoutError), saying that delivery is unknown."""
    if isinstance(error, SMTPError):
        cause = error.description
    else:
        cause = type(error).__name__ + (f": {error}" if str(error) else "")
    description = (f"{entry.sending_name}: the session ended ({cause}) after the end of its data went out, before "
                   "the reply: it may or may not have been delivered, so it is kept as *.failed and not sent again")
    if not isinstance(error, SMTPError):
        parked: SMTPError = SMTPConnectionDropped(description)
    else:
        parked = type(error).__new__(type(error))  # the type, without its own __init__'s needs
        SMTPError.__init__(parked, description, error.code, reply_code=error.reply_code, enhanced=error.enhanced,
                           reply_text=error.reply_text)
    parked.delivery_unknown = True  # type: ignore[attr-defined]
    parked.result = getattr(outcome, "result", None)  # type: ignore[attr-defined]
    parked.__cause__ = error
    return parked
