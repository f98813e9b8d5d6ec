# Sourced by the test scripts: how many pytest-xdist workers run the suite. Most tests wait
# (on sockets, servers, timeouts) rather than compute: the whole suite took about 6 minutes on
# one worker and under 3 on four, on this 2-core machine. Every server a test starts is its
# own (ports the system picks, folders of its own), so workers share nothing.
# SMTPX_TEST_WORKERS=0 runs in one process (pdb, or output in order); extra arguments
# to a script still reach pytest (a later -n wins).
export SMTPX_TEST_WORKERS="${SMTPX_TEST_WORKERS:-4}"
