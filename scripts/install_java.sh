#!/usr/bin/env bash
# Java 17 for `stance score --engine spark` (pyspark 4 needs Java 17 or later): the Debian
# package openjdk-17-jre-headless where Java is missing. Without root or sudo it says what to
# install and carries on: everything but the Spark engine (and its tests, which then skip) works.
set -uo pipefail
if command -v java >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi
if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing openjdk-17-jre-headless (Java for Spark)"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null \
        && exit 0
fi
echo "warning: no Java; install Java 17 (Debian: apt-get install openjdk-17-jre-headless) for --engine spark" >&2
exit 0
