# Sourced by the scripts that install smtpx from a copy of the sources rather than from the
# checkout: no earlier build's objects, generated C, extensions or metadata are reused (ccache
# may still hand back the objects of identical C: scripts/ccache-env.sh), and builds that run
# side by side (.ci/run prepares every environment at once) never write into the same folders.
# Only the test command (scripts/test.sh) builds in the checkout itself, as a user would.
copy_sources() {  # copy_sources DEST: the checkout at the working directory, copied into DEST
  tar --exclude=./build --exclude=./dist --exclude='./.venv*' --exclude=./.git \
    --exclude='./src/*.so' --exclude='./src/*.c' --exclude='./src/*.egg-info' -cf - . \
    | tar -xf - -C "$1"
}
