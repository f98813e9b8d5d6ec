#!/usr/bin/env bash
# Builds the documentation site (mkdocs.yml, docs/) with --strict: a broken link, a page
# missing from the nav, or a docstring mkdocstrings cannot render fails the run.
# The doc tools live in their own virtual environment (.venv-docs), so they never change the
# versions the tests run on: smtpx with the "docs" extra of pyproject.toml, in pure Python
# (SMTPX_NO_EXTENSIONS=1: no compile). The API reference is read statically from src/
# (mkdocstrings' griffe, with scripts/griffe_props.py for the property table): nothing is imported.
# Usage: bash scripts/docs.sh [SITE_DIR]   (default: a temporary folder, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-docs
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# From a clean copy of the sources (scripts/sources.sh): CI builds the docs beside the builds
# of the test environments, and the two must not share a build folder.
source scripts/sources.sh
src_copy=$(mktemp -d)
copy_sources "$src_copy"
SMTPX_NO_EXTENSIONS=1 "$venv/bin/python" -m pip install -q "$src_copy[docs]"
rm -rf "$src_copy"

site_dir="${1:-}"
if [ -z "$site_dir" ]; then
  site_dir=$(mktemp -d)
  trap 'rm -rf "$site_dir"' EXIT
fi
# NO_MKDOCS_2_WARNING: Material's banner about its end of life (not a build warning).
NO_MKDOCS_2_WARNING=1 "$venv/bin/python" -m mkdocs build --strict --site-dir "$site_dir"
echo "docs: built in $site_dir"
