// Einsum: general Einstein summation over any number of operands, with implicit or explicit output,
// repeated labels within an operand (diagonals), and broadcast ellipsis dimensions. The output labels form
// the outer loops and the summed labels the inner ones; each operand advances by its own per-label stride.
#include <algorithm>
#include <map>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

constexpr int kLetters = 52;  // a-z, A-Z; ellipsis dimensions get ids from kLetters up

int letter_id(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}

// One subscript term: label ids in order, with -1 standing for the ellipsis.
struct Term {
  std::vector<int> labels;
  bool has_ellipsis = false;
};

// Integer sums wrap like numpy's; unsigned arithmetic keeps that defined.
template <typename T> struct Accumulator { using type = double; };
template <> struct Accumulator<int8_t> { using type = uint64_t; };
template <> struct Accumulator<int16_t> { using type = uint64_t; };
template <> struct Accumulator<int32_t> { using type = uint64_t; };
template <> struct Accumulator<int64_t> { using type = uint64_t; };
template <> struct Accumulator<uint8_t> { using type = uint64_t; };
template <> struct Accumulator<uint16_t> { using type = uint64_t; };
template <> struct Accumulator<uint32_t> { using type = uint64_t; };
template <> struct Accumulator<uint64_t> { using type = uint64_t; };

class Einsum final : public Kernel {
 public:
  Einsum(const Node& node, int64_t opset) {
    const std::string desc = node.describe();
    if (!node.has_attr("equation")) throw Error(ErrorCode::kInvalidModel, desc + ": equation attribute is required");
    std::string eq;
    for (char c : node.attr_string("equation", "")) if (c != ' ' && c != '\t') eq += c;
    const size_t arrow = eq.find("->");
    explicit_output_ = arrow != std::string::npos;
    const std::string lhs = eq.substr(0, arrow);
    size_t start = 0;
    while (true) {
      const size_t comma = lhs.find(',', start);
      inputs_.push_back(parse_term(lhs.substr(start, comma - start), desc));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (explicit_output_) output_ = parse_term(eq.substr(arrow + 2), desc);
    for (int id : output_.labels)
      if (id >= 0 && std::count(output_.labels.begin(), output_.labels.end(), id) > 1)
        throw Error(ErrorCode::kInvalidModel, desc + ": output subscripts repeat a label");
  }

  void prepare(PrepareContext& ctx) override {
    const size_t n = inputs_.size();
    if (ctx.num_inputs() != n)
      ctx.fail("equation has " + std::to_string(n) + " operands but the node has " + std::to_string(ctx.num_inputs()) + " inputs");
    dtype_ = ctx.input_dtype(0);
    if (!dispatch_dtype<kNumeric>(dtype_, [](auto) {})) ctx.fail(std::string("unsupported dtype ") + dtype_name(dtype_));
    // Ellipsis rank: the largest number of dimensions any operand's "..." covers.
    int64_t ellipsis_rank = 0;
    for (size_t i = 0; i < n; ++i) {
      if (ctx.input_dtype(i) != dtype_) ctx.fail("all operands must have the same dtype");
      const int64_t rank = static_cast<int64_t>(ctx.input_shape(i).size());
      const int64_t named = static_cast<int64_t>(inputs_[i].labels.size()) - (inputs_[i].has_ellipsis ? 1 : 0);
      if (inputs_[i].has_ellipsis ? rank < named : rank != named)
        ctx.fail("operand " + std::to_string(i) + " has rank " + std::to_string(rank) + " but its subscripts name " +
                 std::to_string(named) + " dimensions");
      if (inputs_[i].has_ellipsis) ellipsis_rank = std::max(ellipsis_rank, rank - named);
    }
    const int total_ids = kLetters + static_cast<int>(ellipsis_rank);
    std::vector<int64_t> size(total_ids, -1);
    std::vector<int> uses(total_ids, 0);
    // Per operand: the label id of every dimension.
    std::vector<std::vector<int>> dim_ids(n);
    for (size_t i = 0; i < n; ++i) {
      const Shape& s = ctx.input_shape(i);
      const int64_t named = static_cast<int64_t>(inputs_[i].labels.size()) - (inputs_[i].has_ellipsis ? 1 : 0);
      const int64_t covered = static_cast<int64_t>(s.size()) - named;
      for (int label : inputs_[i].labels) {
        if (label >= 0) {
          dim_ids[i].push_back(label);
        } else {
          for (int64_t e = 0; e < covered; ++e) dim_ids[i].push_back(kLetters + static_cast<int>(ellipsis_rank - covered + e));
        }
      }
      for (size_t d = 0; d < s.size(); ++d) {
        const int id = dim_ids[i][d];
        ++uses[id];
        // Size-1 dimensions broadcast against the label's size elsewhere.
        if (size[id] < 0 || size[id] == 1) size[id] = s[d];
        else if (s[d] != size[id] && s[d] != 1) ctx.fail(label_mismatch(id, size[id], s[d]));
      }
    }
    // Output labels.
    std::vector<int> out_ids;
    if (explicit_output_) {
      for (int label : output_.labels) {
        if (label >= 0) {
          if (uses[label] == 0) ctx.fail(std::string("output label '") + label_char(label) + "' does not appear in any operand");
          out_ids.push_back(label);
        } else {
          for (int64_t e = 0; e < ellipsis_rank; ++e) out_ids.push_back(kLetters + static_cast<int>(e));
        }
      }
    } else {
      for (int64_t e = 0; e < ellipsis_rank; ++e) out_ids.push_back(kLetters + static_cast<int>(e));
      // Letters used exactly once, in character order (upper case sorts before lower case).
      std::vector<std::pair<char, int>> once;
      for (int id = 0; id < kLetters; ++id)
        if (uses[id] == 1) once.push_back({label_char(id), id});
      std::sort(once.begin(), once.end());
      for (auto& [c, id] : once) out_ids.push_back(id);
    }
    std::vector<int> loop_ids = out_ids;
    for (int id = 0; id < total_ids; ++id)
      if (uses[id] > 0 && std::find(out_ids.begin(), out_ids.end(), id) == out_ids.end()) loop_ids.push_back(id);

    Shape out_shape;
    for (int id : out_ids) out_shape.push_back(size[id]);
    ctx.set_output(0, dtype_, out_shape);
    loop_sizes_.clear();
    for (int id : loop_ids) loop_sizes_.push_back(size[id]);
    out_total_ = shape_numel(out_shape);
    reduce_total_ = 1;
    for (size_t l = out_ids.size(); l < loop_ids.size(); ++l) reduce_total_ *= size[loop_ids[l]];
    // strides_[i * L + l]: how far operand i moves when loop label l advances (0 on broadcast dimensions;
    // repeated labels add up, which walks the diagonal).
    const size_t L = loop_ids.size();
    strides_.assign(n * L, 0);
    for (size_t i = 0; i < n; ++i) {
      const Shape& s = ctx.input_shape(i);
      const auto st = strides_of(s);
      for (size_t d = 0; d < s.size(); ++d) {
        if (s[d] == 1 && size[dim_ids[i][d]] != 1) continue;
        const size_t l = std::find(loop_ids.begin(), loop_ids.end(), dim_ids[i][d]) - loop_ids.begin();
        strides_[i * L + l] += st[d];
      }
    }
    counter_.assign(L, 0);
    offsets_.assign(n, 0);
    operands_.assign(n, nullptr);
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kNumeric>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      using Acc = typename Accumulator<T>::type;
      const size_t n = inputs_.size(), L = loop_sizes_.size();
      for (size_t i = 0; i < n; ++i) operands_[i] = ctx.input(i).raw();
      T* y = ctx.output(0).data<T>();
      if (reduce_total_ == 0) {
        std::fill(y, y + out_total_, T{});
        return;
      }
      std::fill(counter_.begin(), counter_.end(), 0);
      std::fill(offsets_.begin(), offsets_.end(), 0);
      for (int64_t o = 0; o < out_total_; ++o) {
        Acc acc = 0;
        for (int64_t r = 0; r < reduce_total_; ++r) {
          Acc product = 1;
          for (size_t i = 0; i < n; ++i) product *= static_cast<Acc>(static_cast<const T*>(operands_[i])[offsets_[i]]);
          acc += product;
          // Advance the innermost label; carry outwards.
          for (size_t l = L; l-- > 0;) {
            if (++counter_[l] < loop_sizes_[l]) {
              for (size_t i = 0; i < n; ++i) offsets_[i] += strides_[i * L + l];
              break;
            }
            for (size_t i = 0; i < n; ++i) offsets_[i] -= strides_[i * L + l] * (loop_sizes_[l] - 1);
            counter_[l] = 0;
          }
        }
        y[o] = static_cast<T>(acc);
      }
    });
  }

 private:
  static Term parse_term(const std::string& s, const std::string& desc) {
    Term t;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '.') {
        if (t.has_ellipsis || s.compare(i, 3, "...") != 0)
          throw Error(ErrorCode::kInvalidModel, desc + ": malformed ellipsis in equation term '" + s + "'");
        t.has_ellipsis = true;
        t.labels.push_back(-1);
        i += 2;
        continue;
      }
      const int id = letter_id(s[i]);
      if (id < 0) throw Error(ErrorCode::kInvalidModel, desc + ": invalid character '" + std::string(1, s[i]) + "' in equation");
      t.labels.push_back(id);
    }
    return t;
  }

  static char label_char(int id) { return id < 26 ? static_cast<char>('a' + id) : static_cast<char>('A' + id - 26); }

  static std::string label_mismatch(int id, int64_t a, int64_t b) {
    const std::string name = id < kLetters ? std::string("label '") + label_char(id) + "'" : "ellipsis dimension";
    return name + " has sizes " + std::to_string(a) + " and " + std::to_string(b);
  }

  std::vector<Term> inputs_;
  Term output_;
  bool explicit_output_ = false;
  DType dtype_ = DType::kFloat32;
  std::vector<int64_t> loop_sizes_, strides_, counter_, offsets_;
  std::vector<const void*> operands_;
  int64_t out_total_ = 0, reduce_total_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Einsum", Einsum);
}  // namespace edgerun
