#include "core/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace sb {

StatusOr<RopeTable> rope_table(const ModelConfig& c, int max_ctx) {
  const int hd = c.head_dim;
  if (hd <= 0 || hd % 2 != 0) return invalid_argument("rope: head_dim must be even, got " + std::to_string(hd));
  const RopeScaling& s = c.rope_scaling;
  const double factor = s.factor;
  const int orig = s.original_max_position > 0 ? s.original_max_position : c.max_ctx;
  double base = c.rope_theta;
  if (s.type == RopeScalingType::kDynamic && orig > 0 && max_ctx > orig)
    base *= std::pow(factor * max_ctx / orig - (factor - 1), static_cast<double>(hd) / (hd - 2));
  RopeTable t;
  t.inv_freq.resize(static_cast<size_t>(hd / 2));
  const size_t n_pairs = static_cast<size_t>(hd / 2);
  const std::vector<float>& longrope =
      orig > 0 && max_ctx > orig ? s.long_factor : s.short_factor;  // the long factors past the original context
  if (s.type == RopeScalingType::kLongRope && longrope.size() != n_pairs)
    return invalid_argument("rope longrope scaling needs " + std::to_string(n_pairs) + " short and long factors");
  if (!s.freq_factors.empty() && s.freq_factors.size() != n_pairs)
    return invalid_argument("rope_freqs has " + std::to_string(s.freq_factors.size()) + " factors, expected " +
                            std::to_string(n_pairs));
  for (int i = 0; i < hd / 2; ++i) {
    const double inv = 1.0 / std::pow(base, 2.0 * i / hd);
    double out = inv;
    switch (s.type) {
      case RopeScalingType::kNone:
      case RopeScalingType::kDynamic:
        break;
      case RopeScalingType::kLongRope:
        out = inv / longrope[static_cast<size_t>(i)];
        break;
      case RopeScalingType::kLinear:
        out = inv / factor;
        break;
      case RopeScalingType::kLlama3: {
        if (orig <= 0) return invalid_argument("rope llama3 scaling needs original_max_position_embeddings");
        const double low_wavelen = orig / s.low_freq_factor;
        const double high_wavelen = orig / s.high_freq_factor;
        const double wavelen = 2 * std::numbers::pi / inv;
        if (wavelen > low_wavelen) {
          out = inv / factor;
        } else if (wavelen >= high_wavelen) {
          const double smooth = (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          out = (1 - smooth) * inv / factor + smooth * inv;
        }
        break;
      }
      case RopeScalingType::kYarn: {
        if (orig <= 0) return invalid_argument("rope yarn scaling needs original_max_position_embeddings");
        // Dimensions rotating fewer than beta_slow times over orig are interpolated,
        // more than beta_fast times extrapolated, a linear ramp in between.
        auto correction_dim = [&](double n_rot) {
          return hd * std::log(orig / (n_rot * 2 * std::numbers::pi)) / (2 * std::log(c.rope_theta));
        };
        const double low = std::max(0.0, std::floor(correction_dim(s.beta_fast)));
        double high = std::min<double>(hd - 1, std::ceil(correction_dim(s.beta_slow)));
        if (low == high) high += 0.001;
        const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
        const double extrapolation = 1 - ramp;
        out = inv / factor * (1 - extrapolation) + inv * extrapolation;
        break;
      }
    }
    if (!s.freq_factors.empty()) out /= s.freq_factors[static_cast<size_t>(i)];
    t.inv_freq[static_cast<size_t>(i)] = static_cast<float>(out);
  }
  if (s.type == RopeScalingType::kYarn && factor > 1) t.attn_factor = static_cast<float>(0.1 * std::log(factor) + 1);
  if (s.type == RopeScalingType::kLongRope) {
    t.attn_factor = s.attention_factor;
    if (t.attn_factor <= 0)
      t.attn_factor = factor > 1 && orig > 1 ? static_cast<float>(std::sqrt(1 + std::log(factor) / std::log(orig))) : 1.0f;
  }
  return t;
}

StatusOr<DeviceRope> upload_rope(DeviceArena& arena, const ModelConfig& config, int max_ctx) {
  SB_ASSIGN_OR_RETURN(const RopeTable table, rope_table(config, max_ctx));
  DeviceRope rope;
  SB_ASSIGN_OR_RETURN(rope.inv_freq, arena.upload_floats(table.inv_freq));
  rope.attn_factor = table.attn_factor;
  return rope;
}

}  // namespace sb
