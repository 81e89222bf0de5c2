#!/usr/bin/env bash
# The test command (README, .ci/run): Release build into build/ (CUDA compiled
# when nvcc exists) + every ctest test (among them the engine and kernel tests
# again with SPECBATCH_CPU=avx2 and =portable, label paths, so the AVX2 kernels
# are tested on an AVX-512 machine too), then an ASan+UBSan build into
# build-asan/ (no CUDA) running the unit tests again, then every libFuzzer target
# for a short time from a clang build in build-fuzz/ (when clang is installed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SPECBATCH_BUILD_DIR:-$root/build}"            # override to keep builds apart
build_asan="${SPECBATCH_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="$(nproc)"
start=$(date +%s)

echo "== Release build ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPECBATCH_TESTS=ON
cmake --build "$build" -j"$jobs"
echo "== ctest ($build)"
(cd "$build" && ctest --output-on-failure -j"$jobs")

echo "== ASan+UBSan build ($build_asan)"
cmake -S "$root" -B "$build_asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPECBATCH_SANITIZE=ON \
      -DSPECBATCH_CUDA=OFF -DSPECBATCH_TESTS=ON
cmake --build "$build_asan" -j"$jobs"
echo "== ctest -L unit ($build_asan)"
(cd "$build_asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -L unit --output-on-failure -j"$jobs")

# Every fuzz target briefly (SPECBATCH_FUZZ_SECONDS, default 30 s each, two at a
# time): needs clang and its libFuzzer runtime (.ci/run installs them).
if command -v clang++ >/dev/null; then
  echo "== fuzz targets, ${SPECBATCH_FUZZ_SECONDS:-30} s each (tests/fuzz/run.sh)"
  JOBS="$jobs" SPECBATCH_FUZZ_BUILD_DIR="${SPECBATCH_FUZZ_BUILD_DIR:-$root/build-fuzz}" \
    "$root/tests/fuzz/run.sh" "${SPECBATCH_FUZZ_SECONDS:-30}"
else
  echo "== no clang++: fuzz targets skipped (their corpora ran in test_fuzz_corpus)"
fi

echo "== all tests passed in $(( $(date +%s) - start )) s"
