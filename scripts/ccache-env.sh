# Sourced by the scripts that build smtpx's compiled modules (test.sh, test-wheel.sh). When
# ccache is installed (install-test-deps.sh installs it), the C compiler runs through it, so a
# later build of the same generated C in one CI run (the wheel step builds what the test
# command built) takes the objects from the cache instead of compiling them again: ccache gives
# what the compiler would give for the same preprocessed source and flags. A CC already set
# is left alone.
if command -v ccache > /dev/null 2>&1 && [ -z "${CC:-}" ]; then
  CC="ccache $(python3 -c 'import sysconfig; print(sysconfig.get_config_var("CC") or "cc")')"
  export CC
fi
