#!/usr/bin/env bash
# Makes this checkout's `thv` (and `uv`, if it is not callable yet) work in the shell that runs
# this script, with no new login and no PATH change: links them into the first writable folder
# already on PATH — ~/.local/bin, then /usr/local/bin, then any folder under $HOME. A script cannot
# change its caller's PATH, so this is how the README's commands work right after the quick start.
#
# Never replaces a `thv` or `uv` it did not link (ToolHive's Go `thv` may be installed): it says so
# and leaves `uv run thv` as the way in. Run it after `uv sync`; re-running it is fine.
# Usage: [UV=/path/to/uv] bash scripts/install-commands.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CHECKOUT=$PWD

on_path() { [[ ":$PATH:" == *":$1:"* ]]; }

bindir() {
  local dir
  for dir in "$HOME/.local/bin" /usr/local/bin; do
    if on_path "$dir" && mkdir -p "$dir" 2>/dev/null && [[ -w $dir ]]; then
      echo "$dir"
      return
    fi
  done
  local -a dirs
  IFS=: read -ra dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    if [[ $dir == "$HOME"/* && -d $dir && -w $dir ]]; then
      echo "$dir"
      return
    fi
  done
}

# link NAME TARGET DIR: DIR/NAME -> TARGET. Replaces only a link to TARGET or to a checkout's
# .venv/bin/NAME (another clone of this project), never anything else.
link() {
  local name=$1 target=$2 dir=$3 here now
  here="$dir/$name"
  if [[ -e $here || -L $here ]]; then
    now=$(readlink "$here" || true)
    if [[ $now != "$target" && $now != */.venv/bin/"$name" ]]; then
      echo "$here exists and is not a link this script made: left alone (use: uv run $name)" >&2
      return 1
    fi
  fi
  ln -sfn "$target" "$here"
  echo "linked $here -> $target"
}

THV="$CHECKOUT/.venv/bin/thv"
if [[ ! -x $THV ]]; then
  echo "no $THV: run uv sync first" >&2
  exit 1
fi
UV=${UV:-$(command -v uv || true)}

DIR=$(bindir)
if [[ -z $DIR ]]; then
  echo "no writable folder on PATH to link thv into; run this in your shell, or add it to ~/.profile:" >&2
  echo "    export PATH=\"$CHECKOUT/.venv/bin:\$PATH\"" >&2
  exit 0
fi

if [[ -n $UV ]] && ! command -v uv >/dev/null 2>&1; then
  link uv "$UV" "$DIR" || true
fi
link thv "$THV" "$DIR" || exit 0
first=$(command -v thv || true)
if [[ $first != "$DIR/thv" ]]; then
  echo "warning: $first comes first on PATH and is not this checkout's thv (use: uv run thv)" >&2
fi
