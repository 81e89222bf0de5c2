#!/usr/bin/env bash
# The demo: installs missing Debian build packages, builds specbatch (Release)
# into build/, fetches the demo model when ../shared does not have it, then runs
# `specbatch run` over examples/prompts.jsonl. Only the output lines go to stdout
# (everything else to stderr), so `examples/demo.sh | jq` works.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

model_url="https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf"
model_sha256="270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d"
shared_model="$root/../shared/models/stories260K.gguf"

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

# 1. Debian packages: install only what is missing (apt-get update first).
packages=(cmake make g++ pkg-config libcli11-dev libsimdjson-dev libzstd-dev doctest-dev
          libopenblas-dev libpcre2-dev libicu-dev)
if [ ! -f "$shared_model" ]; then packages+=(curl ca-certificates); fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "demo: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

# 2. Build (Release) into build/.
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$root/build" -j"$(nproc)" --target specbatch >&2

# 3. The demo model: ../shared when present, else downloaded once and verified.
model="$shared_model"
if [ ! -f "$model" ]; then
  model="$root/build/models/stories260K.gguf"
  if [ ! -f "$model" ] || ! echo "$model_sha256  $model" | sha256sum --check --status; then
    mkdir -p "$(dirname "$model")"
    echo "demo: downloading $model_url" >&2
    curl -fL --retry 3 -o "$model.part" "$model_url"
    if ! echo "$model_sha256  $model.part" | sha256sum --check --status; then
      echo "demo: sha256 mismatch for the downloaded model (expected $model_sha256)" >&2
      rm -f "$model.part"
      exit 1
    fi
    mv "$model.part" "$model"
  fi
fi

# 4. The main job: one JSON line per record on stdout, a summary on stderr.
echo "demo: build/specbatch run -m $model examples/prompts.jsonl" >&2
"$root/build/specbatch" run -m "$model" "$root/examples/prompts.jsonl"
