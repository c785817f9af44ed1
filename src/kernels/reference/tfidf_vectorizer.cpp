// TfIdfVectorizer: counts the pool's n-grams (n in [min_gram_length, max_gram_length], items up to
// max_skip_count apart) in each input row and writes TF, IDF or TF-IDF values at ngram_indexes.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class TfIdfVectorizer final : public Kernel {
 public:
  enum class Mode { kTf, kIdf, kTfIdf };

  TfIdfVectorizer(const Node& node, int64_t opset) {
    auto invalid = [&](const std::string& msg) { throw Error(ErrorCode::kInvalidModel, node.describe() + ": " + msg); };
    min_n_ = node.attr_int("min_gram_length", 0);
    max_n_ = node.attr_int("max_gram_length", 0);
    max_skip_ = node.attr_int("max_skip_count", 0);
    if (min_n_ < 1 || max_n_ < min_n_)
      invalid("needs 1 <= min_gram_length <= max_gram_length, got " + std::to_string(min_n_) + " and " + std::to_string(max_n_));
    if (max_skip_ < 0) invalid("max_skip_count must not be negative");
    const std::string mode = node.attr_string("mode", "");
    if (mode == "TF") mode_ = Mode::kTf;
    else if (mode == "IDF") mode_ = Mode::kIdf;
    else if (mode == "TFIDF") mode_ = Mode::kTfIdf;
    else invalid("mode must be TF, IDF or TFIDF, got '" + mode + "'");

    const std::vector<int64_t> counts = node.attr_ints("ngram_counts");
    const std::vector<int64_t> indexes = node.attr_ints("ngram_indexes");
    weights_ = node.attr_floats("weights");
    uses_strings_ = node.has_attr("pool_strings");
    if (uses_strings_ == node.has_attr("pool_int64s")) invalid("needs exactly one of pool_strings and pool_int64s");

    // Strings become token ids so both pools share the integer n-gram table.
    std::vector<int64_t> pool;
    if (uses_strings_) {
      for (const std::string& s : node.attr_strings("pool_strings")) {
        auto it = string_ids_.try_emplace(s, static_cast<int64_t>(string_ids_.size())).first;
        pool.push_back(it->second);
      }
    } else {
      pool = node.attr_ints("pool_int64s");
    }
    const int64_t pool_size = static_cast<int64_t>(pool.size());
    int64_t ngram_id = 0;
    tables_.resize(static_cast<size_t>(counts.size()));
    for (size_t g = 0; g < counts.size(); ++g) {
      const int64_t n = static_cast<int64_t>(g) + 1;
      const int64_t begin = counts[g];
      const int64_t end = g + 1 < counts.size() ? counts[g + 1] : pool_size;
      if (begin < 0 || end < begin || end > pool_size || (end - begin) % n != 0)
        invalid("ngram_counts do not split the pool into whole " + std::to_string(n) + "-grams");
      for (int64_t at = begin; at < end; at += n) {
        if (ngram_id >= static_cast<int64_t>(indexes.size())) invalid("ngram_indexes has fewer entries than the pool has n-grams");
        const int64_t out_index = indexes[ngram_id];
        if (out_index < 0) invalid("ngram_indexes must not be negative");
        if (!weights_.empty() && ngram_id >= static_cast<int64_t>(weights_.size()))
          invalid("weights has fewer entries than the pool has n-grams");
        tables_[g].emplace(std::vector<int64_t>(pool.begin() + at, pool.begin() + at + n), ngram_id);
        ++ngram_id;
      }
    }
    ngram_out_.assign(indexes.begin(), indexes.begin() + std::min<int64_t>(ngram_id, static_cast<int64_t>(indexes.size())));
    for (int64_t i : indexes) output_size_ = std::max(output_size_, i + 1);
    key_.reserve(static_cast<size_t>(max_n_));
  }

  void prepare(PrepareContext& ctx) override {
    const DType dtype = ctx.input_dtype(0);
    if (uses_strings_ ? dtype != DType::kString : (dtype != DType::kInt32 && dtype != DType::kInt64))
      ctx.fail(std::string("expects ") + (uses_strings_ ? "string" : "int32 or int64") + " input, got " + dtype_name(dtype));
    const Shape& s = ctx.input_shape(0);
    if (s.empty() || s.size() > 2) ctx.fail("expects input of shape [C] or [N, C], got " + shape_str(s));
    rows_ = s.size() == 2 ? s[0] : 1;
    row_len_ = s.back();
    ids_.resize(static_cast<size_t>(row_len_));
    counts_.resize(static_cast<size_t>(ngram_out_.size()));
    ctx.set_output(0, DType::kFloat32, s.size() == 2 ? Shape{rows_, output_size_} : Shape{output_size_});
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    float* out = ctx.output(0).data<float>();
    std::fill(out, out + rows_ * output_size_, 0.0f);
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t i = 0; i < row_len_; ++i) {
        const int64_t at = r * row_len_ + i;
        if (in.dtype() == DType::kString) {
          auto it = string_ids_.find(in.data<std::string>()[at]);
          ids_[i] = it == string_ids_.end() ? -1 : it->second;
        } else {
          ids_[i] = in.dtype() == DType::kInt32 ? in.data<int32_t>()[at] : in.data<int64_t>()[at];
        }
      }
      std::fill(counts_.begin(), counts_.end(), 0);
      count_row();
      float* y = out + r * output_size_;
      for (size_t g = 0; g < counts_.size(); ++g) {
        if (counts_[g] == 0) continue;
        const float w = weights_.empty() ? 1.0f : weights_[g];
        const float v = mode_ == Mode::kTf ? static_cast<float>(counts_[g])
                        : mode_ == Mode::kIdf ? w
                                              : static_cast<float>(counts_[g]) * w;
        y[ngram_out_[g]] = v;
      }
    }
  }

 private:
  void count_row() {
    const int64_t top = std::min<int64_t>(max_n_, static_cast<int64_t>(tables_.size()));
    for (int64_t start = 0; start < row_len_; ++start) {
      for (int64_t n = min_n_; n <= top; ++n) {
        const auto& table = tables_[n - 1];
        if (table.empty()) continue;
        // A unigram is the same item whatever the skip: count it once.
        const int64_t max_skip = n == 1 ? 0 : max_skip_;
        for (int64_t skip = 0; skip <= max_skip; ++skip) {
          const int64_t step = skip + 1;
          if (start + (n - 1) * step >= row_len_) break;
          key_.clear();
          for (int64_t k = 0; k < n; ++k) key_.push_back(ids_[start + k * step]);
          auto it = table.find(key_);
          if (it != table.end()) ++counts_[it->second];
        }
      }
    }
  }

  Mode mode_ = Mode::kTf;
  int64_t min_n_ = 0, max_n_ = 0, max_skip_ = 0, output_size_ = 0;
  bool uses_strings_ = false;
  std::vector<float> weights_;
  std::unordered_map<std::string, int64_t> string_ids_;
  std::vector<std::map<std::vector<int64_t>, int64_t>> tables_;  // per n-1: n-gram -> pool n-gram id
  std::vector<int64_t> ngram_out_;                               // pool n-gram id -> output index
  int64_t rows_ = 1, row_len_ = 0;
  std::vector<int64_t> ids_, key_, counts_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("TfIdfVectorizer", TfIdfVectorizer);
}  // namespace edgerun
