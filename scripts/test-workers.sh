# Sourced by the test scripts: the pytest-xdist options they run their suites with. Most tests
# wait (on sockets, servers, timeouts) rather than compute: the whole suite took about 6
# minutes on one worker and under 3 on four, on this 2-core machine. Every server a test
# starts is its own (ports the system picks, folders of its own), so workers share nothing.
# --dist loadfile keeps each test module on one worker, in order: a test may check what the
# other tests of its module did (tests/facade/test_config_effects.py), and a module's
# fixtures start once. (--dist loadgroup would group finer, but with pytest 9.2 it no longer
# groups: pytest-xdist 3.8 marks a group by rewriting a node id that pytest no longer reads.)
# SMTPX_TEST_WORKERS=0 runs in one process (pdb, or output in order); extra arguments
# to a script still reach pytest (a later -n wins).
SMTPX_TEST_WORKERS="${SMTPX_TEST_WORKERS:-4}"
if [ "$SMTPX_TEST_WORKERS" = 0 ]; then
  xdist=(-n 0)
else
  xdist=(-n "$SMTPX_TEST_WORKERS" --dist loadfile)
fi
