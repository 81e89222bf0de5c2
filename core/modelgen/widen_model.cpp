#include "core/modelgen/widen_model.h"

#include <charconv>
#include <cmath>
#include <vector>

#include "core/modelgen/gguf_writer.h"
#include "core/modelgen/random_dspark.h"
#include "core/modelgen/random_model.h"
#include "formats/gguf.h"

namespace sb {

StatusOr<WidenShape> parse_widen_shape(std::string_view spec) {
  int v[4] = {0, 0, 0, WidenShape{}.head_dim};
  int n = 0;
  for (std::string_view rest = spec; n < 4; ++n) {
    const size_t comma = rest.find(',');
    const std::string_view part = rest.substr(0, comma);
    const auto r = std::from_chars(part.data(), part.data() + part.size(), v[n]);
    if (r.ec != std::errc() || r.ptr != part.data() + part.size() || v[n] <= 0)
      return invalid_argument("widen shape '" + std::string(spec) + "': expected DIM,LAYERS,FFN[,HEAD_DIM] of positive integers");
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (n < 2 || n > 3)
    return invalid_argument("widen shape '" + std::string(spec) + "': expected DIM,LAYERS,FFN[,HEAD_DIM]");
  return WidenShape{v[0], v[1], v[2], v[3]};
}

namespace {

// A source tensor as floats, row-major [rows, cols].
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> v;
  float at(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};

StatusOr<Matrix> read_matrix(const gguf::File& f, const std::string& name, int64_t rows, int64_t cols) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return not_found(f.path() + ": tensor '" + name + "' is missing");
  if (t->rows() != rows || t->cols() != cols)
    return corrupt(f.path() + ": tensor '" + name + "' has shape [" + std::to_string(t->rows()) + ", " +
                   std::to_string(t->cols()) + "], expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  const DType dt = gguf::tensor_type_dtype(t->type);
  Matrix m{rows, cols, std::vector<float>(static_cast<size_t>(rows * cols))};
  for (int64_t r = 0; r < rows; ++r)
    dequantize_row(dt, t->data + static_cast<size_t>(r) * dtype_row_bytes(dt, cols), m.v.data() + r * cols, cols);
  return m;
}

// A tensor view (any dtype) as floats.
Matrix view_matrix(const TensorView& t) {
  Matrix m{t.rows, t.cols, std::vector<float>(static_cast<size_t>(t.n_elems()))};
  for (int64_t r = 0; r < t.rows; ++r) dequantize_row(t.dtype, t.row(r), m.v.data() + r * t.cols, t.cols);
  return m;
}

// The source's and the widened model's dimensions, and where a source row or
// column of each kind lands.
struct Geometry {
  int dim, n_head, n_kv_head, head_dim, ffn_dim;             // source
  int dim2, n_head2, n_kv_head2, head_dim2, ffn_dim2;        // widened
  // Source head dim d sits at d's pair moved to pair index (head_dim2 / head_dim)
  // times its own, so the interleaved RoPE turns it by the same angle.
  int64_t head_slot(int head, int d) const {
    const int f = head_dim2 / head_dim;
    return int64_t{head} * head_dim2 + (d / 2) * 2 * f + d % 2;
  }
};

// Vectors are 1-D and F32; matrices are written as `matrices`.
void put(gguf::Writer& w, const std::string& name, int64_t rows, int64_t cols, const std::vector<float>& v,
         gguf::TensorType matrices) {
  std::vector<uint64_t> ne = {static_cast<uint64_t>(cols)};
  if (rows > 1) ne.push_back(static_cast<uint64_t>(rows));
  w.add_tensor_f32(name, rows > 1 ? matrices : gguf::TensorType::kF32, std::move(ne), v);
}

// Norm weight [dim] -> [dim2], times sqrt(dim / dim2): with eps scaled by dim / dim2
// too, the mean square over the zero-padded row rescales exactly by that ratio.
std::vector<float> widen_norm(const Matrix& w, const Geometry& g) {
  std::vector<float> out(static_cast<size_t>(g.dim2), 0.0f);
  const float s = std::sqrt(static_cast<float>(g.dim) / static_cast<float>(g.dim2));
  for (int i = 0; i < g.dim; ++i) out[static_cast<size_t>(i)] = w.at(0, i) * s;
  return out;
}

// dst[row_of(r), c] = scale * src[r, c] for source rows r, columns c < src.cols;
// zero elsewhere. dst is [rows2, cols2].
template <typename RowOf>
std::vector<float> place_rows(const Matrix& src, int64_t rows2, int64_t cols2, RowOf row_of, float scale) {
  std::vector<float> out(static_cast<size_t>(rows2 * cols2), 0.0f);
  for (int64_t r = 0; r < src.rows; ++r)
    for (int64_t c = 0; c < src.cols; ++c) out[static_cast<size_t>(row_of(r) * cols2 + c)] = scale * src.at(r, c);
  return out;
}

Status check_shape(const gguf::File& f, const std::string& a, const Geometry& g, const WidenShape& s,
                   int n_layer) {
  const std::string what = f.path() + ": cannot widen to " + std::to_string(s.dim) + "," +
                           std::to_string(s.n_layer) + "," + std::to_string(s.ffn_dim) + "," +
                           std::to_string(s.head_dim) + ": ";
  if (s.dim < g.dim || s.n_layer < n_layer || s.ffn_dim < g.ffn_dim)
    return invalid_argument(what + "dim, layers and ffn must be at least the source's (" + std::to_string(g.dim) +
                            ", " + std::to_string(n_layer) + ", " + std::to_string(g.ffn_dim) + ")");
  if (s.head_dim % g.head_dim != 0 || s.dim % s.head_dim != 0)
    return invalid_argument(what + "head_dim must be a multiple of the source's " + std::to_string(g.head_dim) +
                            " and divide dim");
  const int group = g.n_head / g.n_kv_head;
  if (s.dim / s.head_dim < g.n_head || (s.dim / s.head_dim) % group != 0)
    return invalid_argument(what + "dim / head_dim heads must be at least the source's " + std::to_string(g.n_head) +
                            " and a multiple of its " + std::to_string(group) + " query heads per key/value head");
  if (f.find(a + ".rope.scaling.type") != nullptr) {
    SB_ASSIGN_OR_RETURN(const std::string type, f.get_string(a + ".rope.scaling.type"));
    if (type != "none") return unsupported(what + "RoPE scaling '" + type + "' is not supported");
  }
  return ok_status();
}

}  // namespace

Status write_widened_model(const std::string& src, const std::string& dst, const WidenShape& s, uint64_t seed,
                           gguf::TensorType matrices) {
  SB_ASSIGN_OR_RETURN(const gguf::File f, gguf::File::open(src));
  SB_ASSIGN_OR_RETURN(const std::string a, f.get_string("general.architecture"));
  if (a != "llama") return unsupported(src + ": only llama models can be widened, not '" + a + "'");
  const auto get = [&](const std::string& key, int64_t fallback) -> StatusOr<int64_t> {
    if (f.find(key) == nullptr && fallback >= 0) return fallback;
    return f.get_int(key);
  };
  SB_ASSIGN_OR_RETURN(const int64_t dim, get(a + ".embedding_length", -1));
  SB_ASSIGN_OR_RETURN(const int64_t n_layer, get(a + ".block_count", -1));
  SB_ASSIGN_OR_RETURN(const int64_t ffn, get(a + ".feed_forward_length", -1));
  SB_ASSIGN_OR_RETURN(const int64_t n_head, get(a + ".attention.head_count", -1));
  SB_ASSIGN_OR_RETURN(const int64_t n_kv_head, get(a + ".attention.head_count_kv", n_head));
  if (dim <= 0 || n_layer <= 0 || ffn <= 0 || n_head <= 0 || n_kv_head <= 0 || n_head % n_kv_head != 0 ||
      dim % n_head != 0 || dim > (1 << 17) || ffn > (1 << 20) || n_layer > 1024)
    return corrupt(src + ": inconsistent hyper-parameters (dim, heads, ffn, layers)");
  SB_ASSIGN_OR_RETURN(const int64_t head_dim, get(a + ".attention.key_length", dim / n_head));
  if (head_dim * n_head != dim) return unsupported(src + ": head_dim * heads != dim cannot be widened");
  SB_ASSIGN_OR_RETURN(const double eps, f.get_float(a + ".attention.layer_norm_rms_epsilon"));
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->ne.size() != 2) return corrupt(src + ": tensor 'token_embd.weight' must be 2-D");
  const int64_t n_vocab = embd->rows();

  const int n_head2 = s.dim / s.head_dim;
  const Geometry g{static_cast<int>(dim), static_cast<int>(n_head), static_cast<int>(n_kv_head),
                   static_cast<int>(head_dim), static_cast<int>(ffn), s.dim, n_head2,
                   n_head2 / static_cast<int>(n_head / n_kv_head), s.head_dim, s.ffn_dim};
  SB_RETURN_IF_ERROR(check_shape(f, a, g, s, static_cast<int>(n_layer)));
  const DType matrix_dtype = gguf::tensor_type_dtype(matrices);
  if (g.dim2 % dtype_block_elems(matrix_dtype) != 0 || g.ffn_dim2 % dtype_block_elems(matrix_dtype) != 0)
    return invalid_argument(std::string("widen shape: ") + dtype_name(matrix_dtype) +
                            " matrices need the dimension and the FFN size to be multiples of " +
                            std::to_string(dtype_block_elems(matrix_dtype)));
  const int64_t q2 = int64_t{g.n_head2} * g.head_dim2, kv2 = int64_t{g.n_kv_head2} * g.head_dim2;
  const float ratio = static_cast<float>(g.dim) / static_cast<float>(g.dim2);

  gguf::Writer w(f.alignment());
  for (const auto& [key, value] : f.metadata()) {
    if (key == "general.alignment" || key == a + ".attention.key_length" || key == a + ".attention.value_length") continue;
    const auto u32 = [](int x) { return gguf::value_u32(static_cast<uint32_t>(x)); };
    if (key == a + ".embedding_length") w.add_kv(key, u32(g.dim2));
    else if (key == a + ".block_count") w.add_kv(key, u32(s.n_layer));
    else if (key == a + ".feed_forward_length") w.add_kv(key, u32(g.ffn_dim2));
    else if (key == a + ".attention.head_count") w.add_kv(key, u32(g.n_head2));
    else if (key == a + ".attention.head_count_kv") w.add_kv(key, u32(g.n_kv_head2));
    else if (key == a + ".rope.dimension_count") w.add_kv(key, u32(g.head_dim2));
    else if (key == a + ".attention.layer_norm_rms_epsilon") w.add_kv(key, gguf::value_f32(static_cast<float>(eps * ratio)));
    else w.add_kv(key, value);
  }
  if (f.find(a + ".attention.head_count_kv") == nullptr)
    w.add_kv(a + ".attention.head_count_kv", gguf::value_u32(static_cast<uint32_t>(g.n_kv_head2)));

  const auto same = [](int64_t r) { return r; };
  SB_ASSIGN_OR_RETURN(const Matrix emb, read_matrix(f, "token_embd.weight", n_vocab, dim));
  put(w, "token_embd.weight", n_vocab, g.dim2, place_rows(emb, n_vocab, g.dim2, same, 1.0f), matrices);
  // Query rows carry sqrt(head_dim2 / head_dim) so q.k / sqrt(head_dim2) keeps its value.
  const float q_scale = std::sqrt(static_cast<float>(g.head_dim2) / static_cast<float>(g.head_dim));
  const auto head_row = [&g](int64_t r) { return g.head_slot(static_cast<int>(r / g.head_dim), static_cast<int>(r % g.head_dim)); };
  uint64_t state = seed;
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::vector<float> attn_norm, ffn_norm, wq, wk, wv, wo, gate, up, down;
    if (l < n_layer) {
      SB_ASSIGN_OR_RETURN(const Matrix an, read_matrix(f, p + "attn_norm.weight", 1, dim));
      SB_ASSIGN_OR_RETURN(const Matrix fn, read_matrix(f, p + "ffn_norm.weight", 1, dim));
      SB_ASSIGN_OR_RETURN(const Matrix mq, read_matrix(f, p + "attn_q.weight", dim, dim));
      SB_ASSIGN_OR_RETURN(const Matrix mk, read_matrix(f, p + "attn_k.weight", n_kv_head * head_dim, dim));
      SB_ASSIGN_OR_RETURN(const Matrix mv, read_matrix(f, p + "attn_v.weight", n_kv_head * head_dim, dim));
      SB_ASSIGN_OR_RETURN(const Matrix mo, read_matrix(f, p + "attn_output.weight", dim, dim));
      SB_ASSIGN_OR_RETURN(const Matrix mg, read_matrix(f, p + "ffn_gate.weight", ffn, dim));
      SB_ASSIGN_OR_RETURN(const Matrix mu, read_matrix(f, p + "ffn_up.weight", ffn, dim));
      SB_ASSIGN_OR_RETURN(const Matrix md, read_matrix(f, p + "ffn_down.weight", dim, ffn));
      attn_norm = widen_norm(an, g);
      ffn_norm = widen_norm(fn, g);
      wq = place_rows(mq, q2, g.dim2, head_row, q_scale);
      wk = place_rows(mk, kv2, g.dim2, head_row, 1.0f);
      wv = place_rows(mv, kv2, g.dim2, head_row, 1.0f);
      wo.assign(static_cast<size_t>(g.dim2 * q2), 0.0f);  // columns follow the value rows
      for (int64_t r = 0; r < dim; ++r)
        for (int64_t c = 0; c < dim; ++c) wo[static_cast<size_t>(r * q2 + head_row(c))] = mo.at(r, c);
      gate = place_rows(mg, g.ffn_dim2, g.dim2, same, 1.0f);
      up = place_rows(mu, g.ffn_dim2, g.dim2, same, 1.0f);
      down = place_rows(md, g.dim2, g.ffn_dim2, same, 1.0f);
    } else {
      // An extra layer: real-looking inputs, zero output projections.
      const float scale = 1.0f / std::sqrt(static_cast<float>(g.dim2));
      attn_norm.assign(static_cast<size_t>(g.dim2), 1.0f);
      ffn_norm = attn_norm;
      wq = random_uniform_values(static_cast<size_t>(q2 * g.dim2), scale, &state);
      wk = random_uniform_values(static_cast<size_t>(kv2 * g.dim2), scale, &state);
      wv = random_uniform_values(static_cast<size_t>(kv2 * g.dim2), scale, &state);
      wo.assign(static_cast<size_t>(g.dim2 * q2), 0.0f);
      gate = random_uniform_values(static_cast<size_t>(int64_t{g.ffn_dim2} * g.dim2), scale, &state);
      up = random_uniform_values(static_cast<size_t>(int64_t{g.ffn_dim2} * g.dim2), scale, &state);
      down.assign(static_cast<size_t>(int64_t{g.dim2} * g.ffn_dim2), 0.0f);
    }
    put(w, p + "attn_norm.weight", 1, g.dim2, attn_norm, matrices);
    put(w, p + "attn_q.weight", q2, g.dim2, wq, matrices);
    put(w, p + "attn_k.weight", kv2, g.dim2, wk, matrices);
    put(w, p + "attn_v.weight", kv2, g.dim2, wv, matrices);
    put(w, p + "attn_output.weight", g.dim2, q2, wo, matrices);
    put(w, p + "ffn_norm.weight", 1, g.dim2, ffn_norm, matrices);
    put(w, p + "ffn_gate.weight", g.ffn_dim2, g.dim2, gate, matrices);
    put(w, p + "ffn_up.weight", g.ffn_dim2, g.dim2, up, matrices);
    put(w, p + "ffn_down.weight", g.dim2, g.ffn_dim2, down, matrices);
  }
  SB_ASSIGN_OR_RETURN(const Matrix on, read_matrix(f, "output_norm.weight", 1, dim));
  put(w, "output_norm.weight", 1, g.dim2, widen_norm(on, g), matrices);
  if (f.find_tensor("output.weight") != nullptr) {
    SB_ASSIGN_OR_RETURN(const Matrix out, read_matrix(f, "output.weight", n_vocab, dim));
    put(w, "output.weight", n_vocab, g.dim2, place_rows(out, n_vocab, g.dim2, same, 1.0f), matrices);
  }
  return w.write(dst);
}

namespace {

// A DSpark layer's tensors, widened: hidden dims and FFN zero-padded, every
// head's dims moved to the slots of the same rotary frequency (rotate-half
// RoPE: the source's pair index i lands at f * i, f = head_dim2 / head_dim).
// With epsilon scaled by 1/f, the hidden norms keep their outputs when their
// weights carry 1/sqrt(f); the key norm likewise; the query norm's sqrt(f)
// more makes q.k / sqrt(head_dim2) what q.k / sqrt(head_dim) was.
void put_widened_layer(const LayerWeights& L, const ModelConfig& c, const WidenShape& s, const std::string& p,
                       std::vector<safetensors::WriteTensor>* out) {
  const int f = s.dim / c.dim, hd = c.head_dim, hd2 = hd * f;
  const auto put = [&](const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
    out->push_back(safetensors::make_tensor(p + name, "F32", std::move(shape), v));
  };
  const auto same = [](int64_t r) { return r; };
  const auto head_row = [&](int64_t r) {
    const int64_t head = r / hd, d = r % hd, half = hd / 2;
    return head * hd2 + (d < half ? f * d : hd2 / 2 + f * (d - half));
  };
  const float shrink = 1.0f / std::sqrt(static_cast<float>(f));
  const auto norm = [&](const TensorView& w, int64_t n2, auto slot, float scale) {
    const Matrix m = view_matrix(w);
    std::vector<float> v(static_cast<size_t>(n2), 0.0f);
    for (int64_t i = 0; i < m.cols; ++i) v[static_cast<size_t>(slot(i))] = m.at(0, i) * scale;
    return v;
  };
  const int64_t q2 = int64_t{c.n_head} * hd2, kv2 = int64_t{c.n_kv_head} * hd2;
  put("input_layernorm.weight", {s.dim}, norm(L.attn_norm, s.dim, same, shrink));
  put("self_attn.q_proj.weight", {q2, s.dim}, place_rows(view_matrix(L.wq), q2, s.dim, head_row, 1.0f));
  put("self_attn.k_proj.weight", {kv2, s.dim}, place_rows(view_matrix(L.wk), kv2, s.dim, head_row, 1.0f));
  put("self_attn.v_proj.weight", {kv2, s.dim}, place_rows(view_matrix(L.wv), kv2, s.dim, head_row, 1.0f));
  const Matrix mo = view_matrix(L.wo);
  std::vector<float> wo(static_cast<size_t>(int64_t{s.dim} * q2), 0.0f);  // columns follow the value rows
  for (int64_t r = 0; r < mo.rows; ++r)
    for (int64_t col = 0; col < mo.cols; ++col) wo[static_cast<size_t>(r * q2 + head_row(col))] = mo.at(r, col);
  put("self_attn.o_proj.weight", {s.dim, q2}, wo);
  const auto head_slot = [&](int64_t d) { return head_row(d); };  // head 0's slots
  put("self_attn.q_norm.weight", {hd2}, norm(L.q_norm, hd2, head_slot, 1.0f));
  put("self_attn.k_norm.weight", {hd2}, norm(L.k_norm, hd2, head_slot, shrink));
  put("post_attention_layernorm.weight", {s.dim}, norm(L.ffn_norm, s.dim, same, shrink));
  put("mlp.gate_proj.weight", {s.ffn_dim, s.dim}, place_rows(view_matrix(L.w_gate), s.ffn_dim, s.dim, same, 1.0f));
  put("mlp.up_proj.weight", {s.ffn_dim, s.dim}, place_rows(view_matrix(L.w_up), s.ffn_dim, s.dim, same, 1.0f));
  const Matrix md = view_matrix(L.w_down);
  std::vector<float> down(static_cast<size_t>(int64_t{s.dim} * s.ffn_dim), 0.0f);
  for (int64_t r = 0; r < md.rows; ++r)
    for (int64_t col = 0; col < md.cols; ++col) down[static_cast<size_t>(r * s.ffn_dim + col)] = md.at(r, col);
  put("mlp.down_proj.weight", {s.dim, s.ffn_dim}, down);
}

}  // namespace

Status write_widened_dspark(const DSparkModel& src, const std::string& dst, const WidenShape& s) {
  const ModelConfig& c = src.model.config;
  const DSparkConfig& d = src.dspark;
  if (s.dim < c.dim || s.dim % c.dim != 0 || s.ffn_dim < c.ffn_dim || c.head_dim % 2 != 0)
    return invalid_argument(src.model.path + ": cannot widen the DSpark drafter to dim " + std::to_string(s.dim) +
                            " and FFN " + std::to_string(s.ffn_dim) + ": the dim must be a multiple of its " +
                            std::to_string(c.dim) + " and the FFN at least its " + std::to_string(c.ffn_dim));
  if (c.n_expert > 0 || c.attn_bias)
    return unsupported(src.model.path + ": only dense Qwen3 DSpark drafters without biases can be widened");
  const int f = s.dim / c.dim;
  RandomDSparkShape shape;
  shape.n_vocab = c.n_vocab;
  shape.dim = s.dim;
  shape.target_n_layer = s.n_layer;
  shape.n_layer = c.n_layer;
  shape.n_head = c.n_head;
  shape.n_kv_head = c.n_kv_head;
  shape.head_dim = c.head_dim * f;
  shape.ffn_dim = s.ffn_dim;
  shape.max_ctx = c.max_ctx;
  shape.rope_theta = c.rope_theta;
  shape.rms_eps = static_cast<double>(c.rms_eps) / f;
  shape.block_size = d.block_size;
  shape.target_layer_ids = d.target_layer_ids;
  shape.mask_token_id = d.mask_token_id;
  shape.markov_rank = d.markov_rank;
  shape.confidence_head = d.confidence_head;
  shape.confidence_head_with_markov = d.confidence_head_with_markov;

  std::vector<safetensors::WriteTensor> out;
  const auto put = [&](const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
    out.push_back(safetensors::make_tensor(name, "F32", std::move(dims), v));
  };
  const auto same = [](int64_t r) { return r; };
  const auto wide_rows = [&](const TensorView& t) {  // [rows, dim] -> [rows, dim2]
    return place_rows(view_matrix(t), t.rows, s.dim, same, 1.0f);
  };
  const float shrink = 1.0f / std::sqrt(static_cast<float>(f));
  const auto wide_norm = [&](const TensorView& t) {
    std::vector<float> v(static_cast<size_t>(s.dim), 0.0f);
    const Matrix m = view_matrix(t);
    for (int64_t i = 0; i < m.cols; ++i) v[static_cast<size_t>(i)] = m.at(0, i) * shrink;
    return v;
  };
  const ModelWeights& w = src.model.weights;
  put("embed_tokens.weight", {c.n_vocab, s.dim}, wide_rows(w.tok_embd));
  for (size_t l = 0; l < w.layers.size(); ++l)
    put_widened_layer(w.layers[l], c, s, "layers." + std::to_string(l) + ".", &out);
  put("norm.weight", {s.dim}, wide_norm(w.out_norm));
  put("lm_head.weight", {c.n_vocab, s.dim}, wide_rows(w.lm_head));
  // fc: captured layer k's column j moves to k * dim2 + j.
  const Matrix fc = view_matrix(src.fc);
  const int64_t n_cap = static_cast<int64_t>(d.target_layer_ids.size());
  std::vector<float> fc2(static_cast<size_t>(int64_t{s.dim} * n_cap * s.dim), 0.0f);
  for (int64_t r = 0; r < fc.rows; ++r)
    for (int64_t col = 0; col < fc.cols; ++col)
      fc2[static_cast<size_t>(r * n_cap * s.dim + (col / c.dim) * s.dim + col % c.dim)] = fc.at(r, col);
  put("fc.weight", {s.dim, n_cap * s.dim}, fc2);
  put("hidden_norm.weight", {s.dim}, wide_norm(src.hidden_norm));
  if (d.markov_rank > 0) {
    put("markov_head.markov_w1.weight", {c.n_vocab, d.markov_rank}, view_matrix(src.markov_w1).v);
    put("markov_head.markov_w2.weight", {c.n_vocab, d.markov_rank}, view_matrix(src.markov_w2).v);
  }
  if (d.confidence_head) {
    // [h, markov_w1 row]: h's weights first, padded to dim2, then the Markov part.
    const Matrix cw = view_matrix(src.confidence_w);
    const int64_t extra = cw.cols - c.dim;
    std::vector<float> cw2(static_cast<size_t>(s.dim + extra), 0.0f);
    for (int64_t i = 0; i < cw.cols; ++i) cw2[static_cast<size_t>(i < c.dim ? i : s.dim + (i - c.dim))] = cw.at(0, i);
    put("confidence_head.proj.weight", {1, s.dim + extra}, cw2);
    put("confidence_head.proj.bias", {1}, view_matrix(src.confidence_b).v);
  }
  return write_dspark_checkpoint(dst, shape, out);
}

}  // namespace sb
