"""Run process_queue_dir in its own process, sending with smtplib over one connection.
Usage: python _worker.py QUEUE_DIR PORT RESULT_FILE"""
from __future__ import annotations

import json
import smtplib
import sys

from smtpx.queue.files import process_queue_dir


def main() -> None:
    queue_dir, port, result_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conn = smtplib.SMTP("127.0.0.1", port, timeout=30)

    def send_one(envelope, content):
        data = b"".join(content.chunks)
        assert content.size == len(data)
        conn.sendmail(envelope.mail_from, [r.address for r in envelope.recipients], data)

    run = process_queue_dir(queue_dir, send_one)
    conn.quit()
    with open(result_file, "w") as f:
        json.dump({"sent": run.sent, "failed": [n for n, _ in run.failed], "recovered": run.recovered}, f)


if __name__ == "__main__":
    main()
