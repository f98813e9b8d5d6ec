# Sourced by the test scripts: each has two stages, "prepare" (install, build, check the
# build; nothing timed, nothing that a busy CPU can break) and "run" (the tests). Run alone,
# a script does both. .ci/run prepares every environment at once, side by side, then runs
# the suites one after another on an otherwise idle machine, so that no build competes with
# a test for the two cores. SMTPX_STAGE=prepare or SMTPX_STAGE=run picks one stage; "run"
# expects what "prepare" made to be there.
SMTPX_STAGE="${SMTPX_STAGE:-both}"
case "$SMTPX_STAGE" in
  both | prepare | run) ;;
  *) echo "SMTPX_STAGE must be prepare, run or unset (both), not '$SMTPX_STAGE'" >&2; exit 2 ;;
esac
preparing() { [ "$SMTPX_STAGE" != run ]; }
running() { [ "$SMTPX_STAGE" != prepare ]; }
