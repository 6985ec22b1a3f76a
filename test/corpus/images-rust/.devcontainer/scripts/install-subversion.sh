#!/bin/bash
# Stand-in written for the hdc test corpus (not the original script): the original
# builds Subversion from a downloaded source tarball when the installed one is too
# old. Offline, this only reports what it finds.
set -eu
if command -v svn >/dev/null 2>&1; then
  echo "subversion present: $(svn --version --quiet)"
else
  echo "subversion not installed; nothing to upgrade (hdc corpus stand-in)"
fi
