// The CPU backend with F16/BF16/Q8_0/Q4_0 weights: matrices are kept as stored
// (in place) and used by matmul and embed; vectors become F32. End to end,
// stories260K with its matrices quantized through core/base/tensor.h must decode
// greedily like the F32 model, and with them in F16/BF16 exactly like the F32
// model holding the same (widened) values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/sampler.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/kernel_test_util.h"
#include "test_util.h"

namespace {

using sb::DType;

using sb::test::random_vec;

// w stored as dtype by core/base/tensor.h.
std::vector<uint8_t> quantize(DType dtype, const std::vector<float>& w, int64_t rows, int64_t cols) {
  const size_t row_bytes = sb::dtype_row_bytes(dtype, cols);
  std::vector<uint8_t> q(static_cast<size_t>(rows) * row_bytes);
  for (int64_t r = 0; r < rows; ++r) sb::store_row(dtype, w.data() + r * cols, q.data() + r * row_bytes, cols);
  return q;
}

// A copy of `model` whose matrices are stored as `dtype` where their width
// allows it (whole blocks); other tensors stay as they are. Tied views stay tied.
sb::Model quantize_model(const sb::Model& model, DType dtype) {
  sb::Model q = model;
  std::map<const void*, const void*> done;
  auto convert = [&](sb::TensorView& t) {
    if (!t.present() || t.rows <= 1 || t.cols % sb::dtype_block_elems(dtype) != 0) return;
    if (!done.count(t.data)) {
      std::vector<float> f(static_cast<size_t>(t.n_elems()));
      for (int64_t r = 0; r < t.rows; ++r) sb::dequantize_row(t.dtype, t.row(r), f.data() + r * t.cols, t.cols);
      auto blocks = std::make_shared<std::vector<uint8_t>>(quantize(dtype, f, t.rows, t.cols));
      done[t.data] = blocks->data();
      q.storage.push_back(blocks);
    }
    t.data = done[t.data];
    t.dtype = dtype;
  };
  convert(q.weights.tok_embd);
  convert(q.weights.lm_head);
  for (sb::LayerWeights& l : q.weights.layers)
    for (sb::TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) convert(*t);
  return q;
}

// Greedy from BOS for `steps` positions; with `forced`, feeds forced[pos]
// instead of the previous argmax (teacher forcing). Returns each argmax, and
// with all_logits every position's logits.
std::vector<int32_t> argmax_per_position(const sb::Model& model, int steps, const std::vector<int32_t>* forced,
                                         std::vector<float>* all_logits = nullptr) {
  auto backend = sb::make_cpu_backend(2);
  const int max_ctx = model.config.max_ctx;
  sb::KvCache kv((max_ctx + 15) / 16, 16, 1, max_ctx);
  auto fwd = sb::Forward::create(model, *backend, kv, sb::ForwardLimits{1, 1, 1});
  REQUIRE_MESSAGE(fwd.ok(), fwd.status().to_string());
  const int seq = kv.seq_create();
  std::vector<float> logits(static_cast<size_t>(model.config.n_vocab));
  std::vector<int32_t> out;
  int32_t token = 1;  // BOS
  for (int pos = 0; pos < steps; ++pos) {
    REQUIRE(kv.seq_grow(seq, pos + 1));
    const int32_t p = pos, row = 0;
    REQUIRE((*fwd)->run(sb::ForwardBatch{std::span(&token, 1), std::span(&p, 1), std::span(&seq, 1),
                                         std::span(&row, 1)},
                        kv, logits.data())
                .ok());
    out.push_back(sb::argmax(logits.data(), model.config.n_vocab));
    if (all_logits) all_logits->insert(all_logits->end(), logits.begin(), logits.end());
    token = forced ? (*forced)[static_cast<size_t>(pos)] : out.back();
  }
  return out;
}

}  // namespace

TEST_CASE("cpu backend keeps matrices as stored, in place, and converts vectors to F32") {
  auto backend = sb::make_cpu_backend(2);
  const int64_t rows = 7, cols = 64;
  for (DType dtype : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    INFO(std::string(sb::dtype_name(dtype)));
    const auto w = random_vec(static_cast<size_t>(rows * cols), 1);
    const auto blocks = quantize(dtype, w, rows, cols);
    std::vector<float> deq(w.size());
    for (int64_t r = 0; r < rows; ++r)
      sb::dequantize_row(dtype, blocks.data() + r * sb::dtype_row_bytes(dtype, cols), deq.data() + r * cols, cols);

    auto mat = backend->upload_weight(sb::TensorView{"m", dtype, rows, cols, blocks.data()});
    REQUIRE(mat.ok());
    CHECK(mat->dtype == dtype);
    CHECK(mat->data == blocks.data());
    auto vec = backend->upload_weight(sb::TensorView{"v", dtype, 1, cols, blocks.data()});
    REQUIRE(vec.ok());
    CHECK(vec->dtype == DType::kF32);
    CHECK(std::memcmp(vec->data, deq.data(), cols * 4) == 0);

    // matmul and embed through the backend against the dequantized weights:
    // F16/BF16 give the F32 kernel's bits; int8 activations stay within their bound.
    const auto x = random_vec(static_cast<size_t>(3 * cols), 2);
    std::vector<float> y(3 * rows), y_f32(3 * rows);
    REQUIRE(backend->matmul(x.data(), *mat, sb::DeviceWeight{}, y.data(), 3).ok());
    const sb::DeviceWeight f32_mat{DType::kF32, rows, cols, deq.data()};
    REQUIRE(backend->matmul(x.data(), f32_mat, sb::DeviceWeight{}, y_f32.data(), 3).ok());
    const bool int8 = dtype == DType::kQ8_0 || dtype == DType::kQ4_0;
    if (!int8) CHECK(y == y_f32);
    for (int64_t t = 0; t < 3 && int8; ++t)
      for (int64_t o = 0; o < rows; ++o) {
        double want = 0;
        for (int64_t i = 0; i < cols; ++i) want += static_cast<double>(x[t * cols + i]) * deq[o * cols + i];
        CHECK(std::fabs(y[t * rows + o] - want) <=
              sb::test::int8_error_bound(x.data() + t * cols, deq.data() + o * cols, 0.0, cols));
      }
    const std::vector<int32_t> ids = {6, 2};
    std::vector<float> e(2 * cols);
    REQUIRE(backend->embed(*mat, ids.data(), e.data(), 2).ok());
    CHECK(std::memcmp(e.data(), deq.data() + 6 * cols, cols * 4) == 0);
    CHECK(std::memcmp(e.data() + cols, deq.data() + 2 * cols, cols * 4) == 0);
    const int32_t bad = static_cast<int32_t>(rows);
    CHECK_FALSE(backend->embed(*mat, &bad, e.data(), 1).ok());

    backend->release_weight(*mat);
    backend->release_weight(*vec);
  }
}

TEST_CASE("stories260K with quantized matrices decodes greedily like F32") {
  auto model = sb::load_model(sb::test::shared_path("models/stories260K.gguf"));
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  const int steps = 128;
  const std::vector<int32_t> f32 = argmax_per_position(*model, steps, nullptr);
  // Thresholds about half of what was observed (Q8_0: 114 equal greedy tokens,
  // 127/128 agreement; Q4_0: 27, 107/128): a 260K-parameter model is fragile
  // at 4 bits, while a decoding bug scatters tokens from the first ones.
  struct Case {
    DType dtype;
    int min_prefix;
    int min_agree;
  };
  for (const Case c : {Case{DType::kQ8_0, 64, 120}, Case{DType::kQ4_0, 12, 96}}) {
    const sb::Model q = quantize_model(*model, c.dtype);
    REQUIRE(q.weights.layers[0].wq.dtype == c.dtype);  // ffn_down (width 172) stays F32
    const std::vector<int32_t> greedy = argmax_per_position(q, steps, nullptr);
    const std::vector<int32_t> forced = argmax_per_position(q, steps, &f32);
    int same_prefix = 0;
    while (same_prefix < steps && greedy[same_prefix] == f32[same_prefix]) ++same_prefix;
    int agree = 0;
    for (int i = 0; i < steps; ++i) agree += forced[i] == f32[i];
    MESSAGE(std::string(sb::dtype_name(c.dtype)) << ": first " << same_prefix << " greedy tokens equal F32's; "
                                                  << "teacher-forced top-1 agreement " << agree << "/" << steps);
    CHECK(same_prefix >= c.min_prefix);
    CHECK(agree >= c.min_agree);
  }
}

TEST_CASE("stories260K with F16/BF16 matrices gives the F32 logits of the widened values, bit for bit") {
  auto model = sb::load_model(sb::test::shared_path("models/stories260K.gguf"));
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  const int steps = 24;
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    INFO(sb::dtype_name(dtype));
    const sb::Model narrow = quantize_model(*model, dtype);
    REQUIRE(narrow.weights.layers[0].wq.dtype == dtype);
    const sb::Model widened = quantize_model(narrow, DType::kF32);  // the same values, stored F32
    std::vector<float> narrow_logits, widened_logits;
    const std::vector<int32_t> a = argmax_per_position(narrow, steps, nullptr, &narrow_logits);
    const std::vector<int32_t> b = argmax_per_position(widened, steps, nullptr, &widened_logits);
    CHECK(a == b);
    CHECK(std::memcmp(narrow_logits.data(), widened_logits.data(), narrow_logits.size() * 4) == 0);
  }
}
