#!/usr/bin/env bash
# Builds what tests/gpu/device_check.sh runs, on this machine (nvcc compiles here;
# the GPU machine has CUDA and no Debian packages), into .device/bundle.tar.xz:
# bin/ (specbatch, test_gpu, bench_cuda, built for sm_90 without -march=native),
# lib/ (their shared libraries other than glibc's and CUDA's), shared/ (the
# stories260K model and its reference text, which ../shared does not carry).
# The device tool then carries it:  run(command="bash tests/gpu/device_check.sh",
# carry=[".device"]). .device/ is git-ignored.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${SPECBATCH_DEVICE_BUILD_DIR:-$root/build-device}"
stage="$root/.device/stage"
shared="${SPECBATCH_SHARED_DIR:-$root/../shared}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPECBATCH_CUDA=ON -DSPECBATCH_NATIVE=OFF \
      -DSPECBATCH_TESTS=ON -DCMAKE_CUDA_ARCHITECTURES=90 >&2
cmake --build "$build" -j"$(nproc)" --target specbatch test_gpu bench_cuda >&2

rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib" "$stage/shared/models"
for b in specbatch test_gpu bench_cuda; do
  cp "$build/$b" "$stage/bin/"
  strip "$stage/bin/$b"
done
# Libraries the GPU machine lacks: everything ldd resolves except glibc's, the C++
# runtime's (the machine's are newer, and CUDA's libraries may need them) and
# CUDA's (the machine has its driver and CUDA 13 runtime libraries).
ldd "$build/specbatch" "$build/test_gpu" | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
    libcuda.so*|libcudart.so*|libcublas*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
cp "$shared/models/stories260K.gguf" "$shared/models/stories260K.greedy.txt" "$stage/shared/models/"

tar -C "$stage" -cJf "$root/.device/bundle.tar.xz" .
rm -rf "$stage"
echo "$root/.device/bundle.tar.xz: $(du -h "$root/.device/bundle.tar.xz" | cut -f1) (carry limit 64 MiB)"
