"""Engine tests: bytes in, bytes out, against scripted peers (scripted.py), no sockets and no
server (send_batch against a real Postfix is tests/interop/test_engine_batch_postfix.py).

Where each FAULTS.md item is covered:
  1  greeting 554 / 1xx / timeout ......... test_greeting_hello, test_reply_faults (timeout thrown in)
  2  closed after connect/EHLO/MAIL/RCPT/DATA/354 ... test_greeting_hello, test_reply_faults
  3  421 to MAIL/RCPT/DATA (no RSET) ....... test_reply_faults
  4  354 then close: delivery unknown ...... test_reply_faults, test_send_pipelining (BDAT), test_batch
  5  no reply to "." (timeout) ............. test_reply_faults
  6, 7 1 MB line, 100,000 lines ............ test_reply_faults
  8, 9 bad codes, mixed codes ............... test_reply_faults
  10 non-UTF-8 / NUL sanitised .............. test_reply_faults
  11 unsolicited replies ................... test_reply_faults, test_reply_matching_property
  12 enhanced code of the wrong class ...... test_reply_faults
  13-16, 18 STARTTLS ....................... test_starttls
  19-22 AUTH ................................ test_auth
  23 control characters .................... test_input
  25 address syntax ........................ test_input
  26, 27 SMTPUTF8 / SIZE .................... test_send_params
  28 line ends and dot-stuffing ............ test_send_content
  29, 30 452 batches, mixed replies ......... test_send_recipients
  31 flat memory for a big stream .......... test_send_content
send_batch (pipelining across messages, per-item results, window, session failures): test_batch
"""
