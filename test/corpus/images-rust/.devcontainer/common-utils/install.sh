#!/bin/sh
# Offline stand-in written for the hdc test corpus: it installs nothing from the
# network, it only records that the feature ran (and with which options).
set -e
mkdir -p /usr/local/share/hdc-corpus

# The real feature creates the non-root user; do the same, offline, if it is missing.
if [ -n "${USERNAME:-}" ] && [ "$USERNAME" != "automatic" ] && [ "$USERNAME" != "none" ] && [ "$USERNAME" != "root" ]; then
    if ! id -u "$USERNAME" >/dev/null 2>&1; then
        gid_opt=""; uid_opt=""
        if [ -n "${USERGID:-}" ] && [ "$USERGID" != "automatic" ]; then groupadd --gid "$USERGID" "$USERNAME"; gid_opt="--gid $USERGID"; fi
        if [ -n "${USERUID:-}" ] && [ "$USERUID" != "automatic" ]; then uid_opt="--uid $USERUID"; fi
        useradd -s /bin/bash -m $uid_opt $gid_opt "$USERNAME"
    fi
    echo "$USERNAME ALL=(root) NOPASSWD:ALL" > "/etc/sudoers.d/$USERNAME"
    chmod 0440 "/etc/sudoers.d/$USERNAME"
fi
echo "common-utils stand-in installed; options: installZsh=${INSTALLZSH:-} configureZshAsDefaultShell=${CONFIGUREZSHASDEFAULTSHELL:-} installOhMyZsh=${INSTALLOHMYZSH:-} installOhMyZshConfig=${INSTALLOHMYZSHCONFIG:-} upgradePackages=${UPGRADEPACKAGES:-} username=${USERNAME:-} userUid=${USERUID:-} userGid=${USERGID:-} nonFreePackages=${NONFREEPACKAGES:-} installSsl=${INSTALLSSL:-}" > /usr/local/share/hdc-corpus/feature-common-utils
