// Static post-training quantization to QDQ ONNX: finds the layers int8 kernels can run, calibrates
// their activations, and writes QuantizeLinear/DequantizeLinear pairs around them.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "edgerun/compress.h"
#include "onnx/onnx_writer.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"
#include "quant/calibration.h"

namespace edgerun {
namespace {

// A node quantized as a unit: its float activation inputs and its weight (and bias). Its output is
// quantized only as the activation of another quantized node; a Relu or Clip between them stays a
// node, which int8 kernels fold into their output clamp.
struct Candidate {
  size_t node = 0;
  std::vector<std::string> activations;
  int weight = -1;  // input index of a constant weight
  int weight_axis = 0;
  int bias = -1;
  bool output_follows_input = false;  // MaxPool: same parameters in and out, so int8 max is exact
};

void say(const QuantizeOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

bool is_float_constant(const Graph& g, const std::string& name, size_t rank_min, size_t rank_max) {
  const Tensor* t = constant_value(g, name);
  return t && t->dtype() == DType::kFloat32 && t->rank() >= rank_min && t->rank() <= rank_max;
}

bool is_activation(const Graph& g, const std::string& name) { return !name.empty() && !constant_value(g, name); }

bool excluded(const Node& n, const std::vector<std::string>& exclude) {
  return std::find(exclude.begin(), exclude.end(), n.name) != exclude.end() ||
         std::find(exclude.begin(), exclude.end(), n.op_type) != exclude.end();
}

std::vector<Candidate> find_candidates(const Graph& g) {
  std::vector<Candidate> out;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    if (!n.domain.empty() || n.outputs.empty() || n.outputs[0].empty()) continue;
    Candidate c;
    c.node = k;
    const std::string& op = n.op_type;
    if (op == "Conv" && n.inputs.size() >= 2 && is_activation(g, n.inputs[0]) &&
        is_float_constant(g, n.inputs[1], 3, 5)) {
      c.activations = {n.inputs[0]};
      c.weight = 1;
      c.weight_axis = 0;
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        if (!is_float_constant(g, n.inputs[2], 1, 1)) continue;
        c.bias = 2;
      }
    } else if (op == "Gemm" && n.inputs.size() >= 2 && is_activation(g, n.inputs[0]) &&
               is_float_constant(g, n.inputs[1], 2, 2) && n.attr_int("transA", 0) == 0 &&
               n.attr_float("alpha", 1.0f) == 1.0f && n.attr_float("beta", 1.0f) == 1.0f) {
      c.activations = {n.inputs[0]};
      c.weight = 1;
      c.weight_axis = n.attr_int("transB", 0) ? 0 : 1;
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const Tensor* b = constant_value(g, n.inputs[2]);
        const int64_t units = constant_value(g, n.inputs[1])->dim(c.weight_axis);
        if (!b || b->dtype() != DType::kFloat32 || b->numel() != units || b->rank() != 1) continue;
        c.bias = 2;
      }
    } else if (op == "MatMul" && n.inputs.size() == 2 && is_activation(g, n.inputs[0]) &&
               is_float_constant(g, n.inputs[1], 2, 2)) {
      c.activations = {n.inputs[0]};
      c.weight = 1;
      c.weight_axis = 1;
    } else if (op == "Add" && n.inputs.size() == 2 && is_activation(g, n.inputs[0]) && is_activation(g, n.inputs[1])) {
      c.activations = {n.inputs[0], n.inputs[1]};
    } else if ((op == "GlobalAveragePool" || op == "AveragePool") && n.inputs.size() == 1 && is_activation(g, n.inputs[0])) {
      c.activations = {n.inputs[0]};
    } else if (op == "MaxPool" && n.inputs.size() == 1 && n.outputs.size() == 1 && is_activation(g, n.inputs[0])) {
      c.activations = {n.inputs[0]};
      c.output_follows_input = true;
    } else {
      continue;
    }
    out.push_back(std::move(c));
  }
  // A pooling's input quantized for it alone is noise for its other readers, when they run in float (a
  // squeeze-excitation's x feeds its average and x * gate), and pooling costs next to nothing: such
  // poolings stay float.
  std::set<size_t> quantizable;
  for (const auto& c : out) quantizable.insert(c.node);
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (const auto& in : g.nodes[k].inputs) readers[in].push_back(k);
  std::erase_if(out, [&](const Candidate& c) {
    if (c.weight >= 0 || g.nodes[c.node].op_type == "Add") return false;
    for (size_t r : readers[c.activations[0]])
      if (!quantizable.count(r)) return true;
    return false;
  });
  return out;
}

// The float graph quantization starts from: identities removed, BatchNorm folded into convolutions.
Graph prepare_graph(const Model& model) {
  Graph g = model.graph();
  remove_identities(g);
  fold_constant_casts(g);
  fuse_conv_batchnorm(g);
  remove_unused_initializers(g);
  return g;
}

std::shared_ptr<Model> model_from_graph(const Graph& g) {
  const std::string bytes = serialize_model(g);
  return Model::load_from_memory(bytes.data(), bytes.size());
}

// `g` with extra graph outputs, so a session returns intermediate values.
Graph with_outputs(Graph g, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (is_graph_output(g, name)) continue;
    ValueDesc d;
    d.name = name;
    g.outputs.push_back(d);
  }
  return g;
}

size_t output_index(const Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.outputs.size(); ++i)
    if (g.outputs[i].name == name) return i;
  return g.outputs.size();
}

void check_samples(const Model& model, const std::vector<Sample>& samples) {
  if (samples.empty()) throw Error(ErrorCode::kInvalidArgument, "calibration data is empty");
  for (size_t s = 0; s < samples.size(); ++s)
    for (const auto& in : model.inputs()) {
      auto it = samples[s].find(in.name);
      if (it == samples[s].end())
        throw Error(ErrorCode::kInvalidArgument, "calibration sample " + std::to_string(s) + " has no input '" + in.name + "'");
      const Tensor& t = it->second;
      if (t.dtype() != in.dtype)
        throw Error(ErrorCode::kInvalidArgument, "calibration sample " + std::to_string(s) + " input '" + in.name +
                                                     "' is " + dtype_name(t.dtype()) + ", the model expects " +
                                                     dtype_name(in.dtype));
      if (in.has_shape) {
        bool ok = in.dims.size() == t.rank();
        for (size_t d = 0; ok && d < t.rank(); ++d) ok = in.dims[d].value < 0 || in.dims[d].value == t.dim(d);
        if (!ok)
          throw Error(ErrorCode::kInvalidArgument, "calibration sample " + std::to_string(s) + " input '" + in.name +
                                                       "' has shape " + shape_str(t.shape()) + ", the model expects " +
                                                       in.str());
      }
      if (t.dtype() == DType::kFloat32)
        for (int64_t i = 0; i < t.numel(); ++i)
          if (!std::isfinite(t.data<float>()[i]))
            throw Error(ErrorCode::kInvalidArgument, "calibration sample " + std::to_string(s) + " input '" + in.name +
                                                         "' contains NaN or infinity at element " + std::to_string(i));
    }
}

// Runs the float graph over the samples and returns the int8 parameters of every tensor in `names`
// that turns out to be float32 (others are left out).
std::map<std::string, QuantParams> calibrate(const Graph& g, const std::vector<std::string>& names,
                                             const std::vector<Sample>& samples, const QuantizeOptions& opt) {
  Graph probe = with_outputs(g, names);
  auto model = model_from_graph(probe);
  Session session(model, SessionOptions{opt.num_threads, true, false});
  std::vector<size_t> index;
  for (const auto& name : names) index.push_back(output_index(probe, name));
  std::map<std::string, TensorStats> stats;
  std::set<std::string> not_float;
  const bool histograms = opt.method != CalibrationMethod::kMinMax;
  for (int pass = 0; pass < (histograms ? 2 : 1); ++pass) {
    if (pass == 1)
      for (auto& [name, st] : stats) st.begin_histogram();
    for (size_t s = 0; s < samples.size(); ++s) {
      const auto outputs = session.run(samples[s]);
      for (size_t i = 0; i < names.size(); ++i) {
        const Tensor& t = outputs[index[i]];
        if (t.dtype() != DType::kFloat32) {
          not_float.insert(names[i]);
          continue;
        }
        try {
          if (pass == 0) stats[names[i]].observe_range(t.data<float>(), t.numel());
          else stats[names[i]].observe_histogram(t.data<float>(), t.numel());
        } catch (const Error&) {
          throw Error(ErrorCode::kInvalidArgument, "calibration sample " + std::to_string(s) + " makes tensor '" +
                                                       names[i] + "' non-finite: the float model overflows on it");
        }
      }
    }
    say(opt, std::string("calibration pass ") + std::to_string(pass + 1) + ": " + std::to_string(samples.size()) + " samples");
  }
  std::map<std::string, QuantParams> params;
  for (const auto& [name, st] : stats) {
    if (not_float.count(name)) continue;
    float lo, hi;
    st.range(opt.method, opt.percentile, &lo, &hi);
    params[name] = int8_params(lo, hi);
  }
  return params;
}

Tensor scalar_float(float v) {
  Tensor t(DType::kFloat32, {});
  *t.data<float>() = v;
  return t;
}

// The axis weights are quantized along: per output channel from opset 13 (DequantizeLinear's axis),
// per tensor (-1) before.
int64_t stored_weight_axis(const Graph& g, const Candidate& c) { return g.opset_for("") >= 13 ? c.weight_axis : -1; }

// Symmetric int8 weights of `bits` bits: one scale per index of `axis` (amax / 127 for 8 bits, amax / 63
// for 7), or one for the whole tensor when axis < 0.
struct Int8Weights {
  std::vector<float> scale;
  std::vector<int8_t> values;
  int64_t inner = 1, channels = 1;
  float scale_of(int64_t i) const { return scale[static_cast<size_t>((i / inner) % channels)]; }
};

// Bits of a layer's weights: `conv_bits` for ungrouped convolutions (the int8 GEMM kernel, whose
// vpmaddubsw path 7-bit weights select), 8 elsewhere (depthwise and Gemm kernels gain nothing).
int weight_bits_of(const Node& n, int conv_bits) {
  return n.op_type == "Conv" && n.attr_int("group", 1) == 1 ? conv_bits : 8;
}

Int8Weights quantize_weights(const Tensor& w, int64_t axis, int bits) {
  const float qmax = static_cast<float>((1 << (bits - 1)) - 1);
  Int8Weights q;
  q.channels = axis >= 0 ? w.dim(axis) : 1;
  q.inner = axis >= 0 ? 1 : w.numel();
  for (size_t d = axis + 1; axis >= 0 && d < w.rank(); ++d) q.inner *= w.dim(d);
  const float* v = w.data<float>();
  std::vector<float> amax(static_cast<size_t>(q.channels), 0.0f);
  for (int64_t i = 0; i < w.numel(); ++i) {
    float& a = amax[static_cast<size_t>((i / q.inner) % q.channels)];
    a = std::max(a, std::fabs(v[i]));
  }
  q.scale.resize(amax.size());
  for (size_t ch = 0; ch < amax.size(); ++ch) q.scale[ch] = amax[ch] > 0 ? amax[ch] / qmax : 1.0f;
  q.values.resize(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i)
    q.values[i] = static_cast<int8_t>(std::clamp(std::nearbyint(v[i] / q.scale_of(i)), -qmax, qmax));
  return q;
}

// The candidates of `all` that are not in `active`.
std::set<size_t> left_out(const std::vector<Candidate>& all, const std::vector<Candidate>& active) {
  std::set<size_t> out;
  for (const auto& c : all) out.insert(c.node);
  for (const auto& c : active) out.erase(c.node);
  return out;
}

class QdqWriter {
 public:
  QdqWriter(const Graph& src, const std::map<std::string, QuantParams>& params, int conv_weight_bits)
      : src_(src), params_(params), conv_weight_bits_(conv_weight_bits), names_(src), out_(src) {
    out_.nodes.clear();
  }

  // `active` are quantized: their float inputs get QuantizeLinear/DequantizeLinear pairs, so a value
  // is quantized only where an int8 kernel reads it (a layer followed only by float ops keeps a float
  // output instead of paying for a second rounding). `kept_float` (candidates left out) read their
  // inputs unquantized.
  Graph build(const std::vector<Candidate>& active, const std::set<size_t>& kept_float) {
    std::map<size_t, const Candidate*> by_node;
    for (const auto& c : active) {
      by_node[c.node] = &c;
      for (const auto& a : c.activations) quantized_.insert(a);
    }
    for (const auto& in : src_.inputs)
      if (quantized_.count(in.name)) emit_qdq(in.name);
    for (size_t k = 0; k < src_.nodes.size(); ++k) {
      Node n = src_.nodes[k];
      auto it = by_node.find(k);
      if (it != by_node.end()) quantize_constants(n, *it->second);
      if (!kept_float.count(k))
        for (auto& i : n.inputs)
          if (dequantized_.count(i)) i = dequantized_.at(i);
      const auto outputs = n.outputs;
      out_.nodes.push_back(std::move(n));
      for (const auto& o : outputs)
        if (quantized_.count(o)) emit_qdq(o);
    }
    remove_unused_initializers(out_);
    return out_;
  }

  // Activation -> the output of its DequantizeLinear, after build().
  const std::map<std::string, std::string>& dequantized() const { return dequantized_; }

 private:
  void emit_qdq(const std::string& t) {
    const QuantParams& p = params_.at(t);
    const std::string scale = names_.make(t + "_scale"), zp = names_.make(t + "_zero_point");
    const std::string q = names_.make(t + "_quantized"), dq = names_.make(t + "_dequantized");
    out_.initializers[scale] = scalar_float(p.scale);
    Tensor z(DType::kInt8, {});
    *z.data<int8_t>() = p.zero_point;
    out_.initializers[zp] = z;
    out_.nodes.push_back(make("QuantizeLinear", t + "_QuantizeLinear", {t, scale, zp}, {q}));
    out_.nodes.push_back(make("DequantizeLinear", t + "_DequantizeLinear", {q, scale, zp}, {dq}));
    dequantized_[t] = dq;
  }

  static Node make(const std::string& op, const std::string& name, std::vector<std::string> in,
                   std::vector<std::string> out) {
    Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    return n;
  }

  void set_axis(Node& n, int64_t axis) {
    Attribute a;
    a.type = Attribute::Type::kInt;
    a.i = axis;
    n.attrs["axis"] = a;
  }

  // Symmetric int8 weights, one scale per output channel (per tensor before opset 13).
  void quantize_constants(Node& n, const Candidate& c) {
    if (c.weight < 0) return;
    const std::string w_name = n.inputs[c.weight];
    const Tensor& w = *constant_value(src_, w_name);
    const int64_t axis = stored_weight_axis(src_, c);
    const Int8Weights qw = quantize_weights(w, axis, weight_bits_of(n, conv_weight_bits_));
    Tensor scale(DType::kFloat32, axis >= 0 ? Shape{qw.channels} : Shape{});
    std::copy(qw.scale.begin(), qw.scale.end(), scale.data<float>());
    auto weight_it = weight_dq_.find(w_name);
    if (weight_it == weight_dq_.end()) {
      Tensor q(DType::kInt8, w.shape());
      std::copy(qw.values.begin(), qw.values.end(), q.data<int8_t>());
      Tensor zp(DType::kInt8, scale.shape());
      std::fill_n(zp.data<int8_t>(), zp.numel(), int8_t{0});
      const std::string qn = names_.make(w_name + "_quantized"), sn = names_.make(w_name + "_scale");
      const std::string zn = names_.make(w_name + "_zero_point"), dq = names_.make(w_name + "_dequantized");
      out_.initializers[qn] = q;
      out_.initializers[sn] = scale;
      out_.initializers[zn] = zp;
      Node d = make("DequantizeLinear", w_name + "_DequantizeLinear", {qn, sn, zn}, {dq});
      if (axis >= 0) set_axis(d, axis);
      out_.nodes.push_back(std::move(d));
      weight_it = weight_dq_.emplace(w_name, dq).first;
    }
    n.inputs[c.weight] = weight_it->second;
    if (c.bias < 0) return;
    // int32 bias with scale input_scale * weight_scale, as integer kernels accumulate.
    const std::string b_name = n.inputs[c.bias];
    const Tensor& b = *constant_value(src_, b_name);
    const float x_scale = params_.at(c.activations[0]).scale;
    Tensor bq(DType::kInt32, {b.numel()});
    Tensor bs(DType::kFloat32, axis >= 0 ? Shape{b.numel()} : Shape{});
    for (int64_t i = 0; i < b.numel(); ++i) {
      const float s = x_scale * scale.data<float>()[axis >= 0 ? i : 0];
      if (axis >= 0 || i == 0) bs.data<float>()[axis >= 0 ? i : 0] = s;
      const double v = std::nearbyint(static_cast<double>(b.data<float>()[i]) / s);
      bq.data<int32_t>()[i] = static_cast<int32_t>(std::clamp(v, -2147483647.0, 2147483647.0));
    }
    Tensor bz(DType::kInt32, bs.shape());
    std::fill_n(bz.data<int32_t>(), bz.numel(), 0);
    const std::string qn = names_.make(b_name + "_quantized"), sn = names_.make(b_name + "_scale");
    const std::string zn = names_.make(b_name + "_zero_point"), dq = names_.make(b_name + "_dequantized");
    out_.initializers[qn] = bq;
    out_.initializers[sn] = bs;
    out_.initializers[zn] = bz;
    Node d = make("DequantizeLinear", n.name + "_bias_DequantizeLinear", {qn, sn, zn}, {dq});
    if (axis >= 0) set_axis(d, 0);
    out_.nodes.push_back(std::move(d));
    n.inputs[c.bias] = dq;
  }

  const Graph& src_;
  const std::map<std::string, QuantParams>& params_;
  const int conv_weight_bits_;
  UniqueNames names_;
  Graph out_;
  std::set<std::string> quantized_;
  std::map<std::string, std::string> dequantized_;  // activation -> its DequantizeLinear output
  std::map<std::string, std::string> weight_dq_;    // weight -> its DequantizeLinear output
};

// Candidates whose tensors all calibrated as float32 and that the user did not exclude.
std::vector<Candidate> usable(const Graph& g, const std::vector<Candidate>& all, const std::map<std::string, QuantParams>& params,
                              const std::vector<std::string>& exclude, const std::set<size_t>& kept = {}) {
  std::vector<Candidate> out;
  for (const auto& c : all) {
    if (excluded(g.nodes[c.node], exclude) || kept.count(c.node)) continue;
    bool ok = true;
    for (const auto& a : c.activations) ok = ok && params.count(a);
    if (ok) out.push_back(c);
  }
  return out;
}

struct Evaluation {
  double cosine = 0, agreement = 0;
  std::vector<LayerError> layers;
};

std::vector<int64_t> row_argmax(const Tensor& t) {
  std::vector<int64_t> out;
  if (t.dtype() != DType::kFloat32 || t.rank() == 0 || t.numel() == 0) return out;
  const int64_t cols = t.dim(t.rank() - 1), rows = t.numel() / std::max<int64_t>(cols, 1);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = t.data<float>() + r * cols;
    out.push_back(std::max_element(row, row + cols) - row);
  }
  return out;
}

// Rows of two [.., classes] outputs whose largest value sits in the same place, and the row count.
std::pair<int64_t, int64_t> matching_rows(const Tensor& a, const Tensor& b) {
  const auto fa = row_argmax(a), qa = row_argmax(b);
  int64_t agree = 0;
  for (size_t r = 0; r < fa.size() && r < qa.size(); ++r) agree += fa[r] == qa[r];
  return {agree, static_cast<int64_t>(fa.size())};
}

// Runs float and quantized graphs side by side; compares final outputs and every layer's output.
// A layer answers for the noise between its float inputs and its output: the rounding of its inputs
// to int8 and its int8 weights. Noise is compared as noise-to-signal power ratios, which add up
// along a network, so the layer that raises the ratio most is the one worth keeping in float.
Evaluation evaluate(const Graph& float_graph, const Graph& qdq_graph, const std::vector<Candidate>& active,
                    const std::vector<Sample>& samples, const QuantizeOptions& opt) {
  std::vector<std::string> watched;
  std::set<std::string> seen;
  auto watch = [&](const std::string& name) {
    if (seen.insert(name).second) watched.push_back(name);
  };
  for (const auto& c : active) {
    for (const auto& a : c.activations) watch(a);
    watch(float_graph.nodes[c.node].outputs[0]);
  }
  const std::vector<std::string>& watched_q = watched;
  const Graph fp = with_outputs(float_graph, watched), qp = with_outputs(qdq_graph, watched_q);
  Session fs(model_from_graph(fp), SessionOptions{opt.num_threads, true, false});
  Session qs(model_from_graph(qp), SessionOptions{opt.num_threads, true, false});
  std::map<std::string, std::pair<double, double>> energy;  // signal, noise
  Evaluation e;
  double cos_sum = 0;
  int64_t agree = 0, rows = 0;
  for (const auto& s : samples) {
    const auto fo = fs.run(s), qo = qs.run(s);
    cos_sum += cosine_similarity(fo[0], qo[0]);
    const auto [matching, count] = matching_rows(fo[0], qo[0]);
    agree += matching;
    rows += count;
    for (size_t w = 0; w < watched.size(); ++w) {
      const std::string& name = watched[w];
      const Tensor& a = fo[output_index(fp, name)];
      const Tensor& b = qo[output_index(qp, watched_q[w])];
      if (a.dtype() != DType::kFloat32 || b.dtype() != DType::kFloat32 || a.numel() != b.numel()) continue;
      auto& [sig, noise] = energy[name];
      for (int64_t i = 0; i < a.numel(); ++i) {
        const double x = a.data<float>()[i], d = x - b.data<float>()[i];
        sig += x * x;
        noise += d * d;
      }
    }
  }
  e.cosine = cos_sum / samples.size();
  e.agreement = rows ? static_cast<double>(agree) / rows : 1.0;
  auto nsr = [&](const std::string& name) {  // noise-to-signal power ratio
    auto it = energy.find(name);
    if (it == energy.end() || it->second.second <= 0) return 0.0;
    return it->second.second / std::max(it->second.first, 1e-30);
  };
  for (const auto& c : active) {
    const Node& n = float_graph.nodes[c.node];
    LayerError l;
    l.node = n.name;
    l.op_type = n.op_type;
    const double out = nsr(n.outputs[0]);
    l.sqnr_db = out > 0 ? std::min(100.0, -10.0 * std::log10(out)) : 100.0;
    double in = 0;
    for (const auto& a : c.activations) in = std::max(in, nsr(a));
    l.noise_added = out - in;
    e.layers.push_back(l);
  }
  std::sort(e.layers.begin(), e.layers.end(), [](const LayerError& a, const LayerError& b) { return a.noise_added > b.noise_added; });
  return e;
}

// Per-channel means over axis 1 of an [N, C, ...] tensor, added into sums (resized to C).
void add_channel_sums(const Tensor& t, std::vector<double>& sums, int64_t& count) {
  if (t.dtype() != DType::kFloat32 || t.rank() < 2) return;
  const int64_t n = t.dim(0), ch = t.dim(1), inner = t.numel() / std::max<int64_t>(n * ch, 1);
  sums.resize(static_cast<size_t>(ch), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < ch; ++k) {
      const float* x = t.data<float>() + (i * ch + k) * inner;
      double d = 0;
      for (int64_t j = 0; j < inner; ++j) d += x[j];
      sums[static_cast<size_t>(k)] += d;
    }
  count += n * inner;
}

// Bias correction. Rounding a layer's weights and its input shifts the mean of its outputs per
// channel (a depthwise kernel's nine rounded weights times an input of non-zero mean shift that channel
// everywhere), and such shifts add up along a network. For each weighted layer the shift it adds
// itself is  sum over inputs of  Wq * mean(dequantized input) - W * mean(float input),  with the means
// taken per input channel in the quantized network (the convolution is linear; image borders are
// neglected). It is subtracted from the layer's bias (one is made if absent).
void correct_biases(Graph& g, const std::map<std::string, QuantParams>& params, const std::vector<std::string>& exclude,
                    const std::vector<Sample>& samples, const QuantizeOptions& opt) {
  UniqueNames names(g);
  const auto all = find_candidates(g);
  const auto active = usable(g, all, params, exclude);
  QdqWriter writer(g, params, opt.conv_weight_bits);
  const Graph qdq = writer.build(active, left_out(all, active));
  std::vector<const Candidate*> layers;
  std::vector<std::string> watched;
  std::map<std::string, size_t> slot;
  auto watch = [&](const std::string& name) {
    if (slot.emplace(name, watched.size()).second) watched.push_back(name);
  };
  for (const auto& c : active) {
    const Node& n = g.nodes[c.node];
    if (c.weight < 0 || (n.op_type != "Conv" && n.op_type != "Gemm")) continue;
    if (!writer.dequantized().count(c.activations[0])) continue;
    layers.push_back(&c);
    watch(c.activations[0]);
    watch(writer.dequantized().at(c.activations[0]));
  }
  if (layers.empty()) return;
  const Graph qp = with_outputs(qdq, watched);
  Session qs(model_from_graph(qp), SessionOptions{opt.num_threads, true, false});
  std::vector<std::vector<double>> sums(watched.size());
  std::vector<int64_t> counts(watched.size(), 0);
  for (const auto& s : samples) {
    const auto qo = qs.run(s);
    for (size_t w = 0; w < watched.size(); ++w) add_channel_sums(qo[output_index(qp, watched[w])], sums[w], counts[w]);
  }
  std::map<std::string, int> uses;
  for (const auto& node : g.nodes)
    for (const auto& i : node.inputs) ++uses[i];
  int corrected = 0;
  for (const Candidate* c : layers) {
    Node& n = g.nodes[c->node];
    const size_t xi = slot.at(c->activations[0]), qi = slot.at(writer.dequantized().at(c->activations[0]));
    if (counts[xi] == 0 || counts[qi] == 0) continue;
    const Tensor& w = *constant_value(g, n.inputs[c->weight]);
    const Int8Weights qw = quantize_weights(w, stored_weight_axis(g, *c), weight_bits_of(n, opt.conv_weight_bits));
  const auto wq = [&](int64_t i) { return qw.values[static_cast<size_t>(i)] * qw.scale_of(i); };
    const bool conv = n.op_type == "Conv";
    const int64_t out = conv ? w.dim(0) : w.dim(c->weight_axis);
    const int64_t in = static_cast<int64_t>(sums[xi].size());
    std::vector<double> shift(static_cast<size_t>(out), 0.0);
    if (conv) {
      const int64_t group_in = w.dim(1), taps = w.numel() / (w.dim(0) * w.dim(1));
      const int64_t per_group = out / std::max<int64_t>(in / group_in, 1);
      for (int64_t m = 0; m < out; ++m)
        for (int64_t ci = 0; ci < group_in; ++ci) {
          const int64_t ch = m / per_group * group_in + ci;
          if (ch >= in) continue;
          const double mx = sums[xi][ch] / counts[xi], mq = sums[qi][ch] / counts[qi];
          for (int64_t t = 0; t < taps; ++t) {
            const int64_t k = (m * group_in + ci) * taps + t;
            shift[m] += wq(k) * mq - w.data<float>()[k] * mx;
          }
        }
    } else {
      const bool trans = c->weight_axis == 0;  // [M, K]
      for (int64_t m = 0; m < out; ++m)
        for (int64_t k = 0; k < in; ++k) {
          const int64_t idx = trans ? m * in + k : k * out + m;
          shift[m] += wq(idx) * (sums[qi][k] / counts[qi]) - w.data<float>()[idx] * (sums[xi][k] / counts[xi]);
        }
    }
    Tensor bias(DType::kFloat32, {out});
    const Tensor* old = c->bias >= 0 ? constant_value(g, n.inputs[c->bias]) : nullptr;
    for (int64_t m = 0; m < out; ++m)
      bias.data<float>()[m] = (old ? old->data<float>()[m] : 0.0f) - static_cast<float>(shift[m]);
    // The corrected bias replaces the original under its name unless another node reads that too.
    std::string name = old ? n.inputs[c->bias] : names.make(n.name + "_bias");
    if (old && uses[name] > 1) name = names.make(name + "_corrected");
    g.initializers[name] = std::move(bias);
    if (n.inputs.size() < 3) n.inputs.resize(3);
    n.inputs[2] = name;
    ++corrected;
  }
  remove_unused_initializers(g);
  say(opt, "bias correction: " + std::to_string(corrected) + " layers");
}

// Channel equalization. A convolution's input is quantized per tensor, so channels whose range is a
// tenth of the widest get a tenth of the levels. Where an input can be rescaled per channel at almost no
// cost, channel c is divided by s_c and the weights' input channel c multiplied by it (the float result
// is unchanged), with s_c = sqrt(max|x_c| / max|W[:, c]|) so that activation and weight ranges meet
// halfway. The cheap places: a squeeze-excitation product x * gate feeding the convolution (the
// [N, C, 1, 1] gate absorbs 1 / s: a Mul of C values), and an input of [N, C, 1, 1] itself (the gates'
// own layers, and a classifier's [N, C] input: one Mul of C values). Gated products are where per-tensor ranges hurt most: gates near 0
// and near 1 leave channels of very different size.
void equalize_channels(Graph& g, const std::vector<Sample>& samples, const QuantizeOptions& opt) {
  struct Site {
    size_t conv;
    int mul = -1;  // the gating Mul producing the input, or -1: the input is [N, C, 1, ...]
  };
  const auto uses = count_uses(g);
  std::vector<Site> sites;
  std::vector<std::string> watched;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    if (!n.domain.empty() || n.inputs.size() < 2 || !is_activation(g, n.inputs[0])) continue;
    const bool conv = n.op_type == "Conv" && n.attr_int("group", 1) == 1 && is_float_constant(g, n.inputs[1], 3, 5);
    const bool gemm = n.op_type == "Gemm" && n.attr_int("transA", 0) == 0 && is_float_constant(g, n.inputs[1], 2, 2);
    if (!conv && !gemm) continue;
    Site site{k};
    const int p = producer_of(g, n.inputs[0]);
    if (conv && p >= 0 && g.nodes[p].op_type == "Mul" && g.nodes[p].domain.empty() && g.nodes[p].inputs.size() == 2 &&
        uses.at(n.inputs[0]) == 1 && !is_graph_output(g, n.inputs[0]) && is_activation(g, g.nodes[p].inputs[0]) &&
        is_activation(g, g.nodes[p].inputs[1])) {
      site.mul = p;
      for (const auto& in : g.nodes[p].inputs) watched.push_back(in);
    }
    watched.push_back(n.inputs[0]);
    sites.push_back(site);
  }
  if (sites.empty()) return;
  // Per-channel extremes of the inputs, and the shapes that decide which sites qualify.
  const Graph probe = with_outputs(g, watched);
  Session session(model_from_graph(probe), SessionOptions{opt.num_threads, true, false});
  std::map<std::string, std::vector<float>> absmax;
  std::map<std::string, std::vector<int64_t>> shape;
  const size_t n_samples = std::min<size_t>(samples.size(), 64);
  for (size_t s = 0; s < n_samples; ++s) {
    const auto outputs = session.run(samples[s]);
    for (const auto& name : watched) {
      const Tensor& t = outputs[output_index(probe, name)];
      if (t.dtype() != DType::kFloat32 || t.rank() < 2) continue;
      shape[name] = std::vector<int64_t>(t.shape().begin(), t.shape().end());
      const int64_t n = t.dim(0), ch = t.dim(1), inner = t.numel() / std::max<int64_t>(n * ch, 1);
      auto& m = absmax[name];
      m.resize(static_cast<size_t>(ch), 0.0f);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < ch; ++c) {
          const float* x = t.data<float>() + (i * ch + c) * inner;
          for (int64_t j = 0; j < inner; ++j) m[static_cast<size_t>(c)] = std::max(m[static_cast<size_t>(c)], std::fabs(x[j]));
        }
    }
  }
  auto is_vector = [&](const std::string& name) {  // [N, C, 1, ...] or [N, C]
    auto it = shape.find(name);
    if (it == shape.end()) return false;
    for (size_t d = 2; d < it->second.size(); ++d)
      if (it->second[d] != 1) return false;
    return true;
  };
  UniqueNames names(g);
  std::map<size_t, std::vector<Node>> before;  // new nodes, inserted before node k
  int equalized = 0;
  for (const Site& site : sites) {
    Node& conv = g.nodes[site.conv];
    const std::string x = conv.inputs[0];
    if (!absmax.count(x) || !shape.count(x)) continue;
    std::string gate;
    if (site.mul >= 0) {
      const Node& mul = g.nodes[static_cast<size_t>(site.mul)];
      for (int i = 0; i < 2; ++i)
        if (is_vector(mul.inputs[i]) && !is_vector(mul.inputs[1 - i]) && shape.count(mul.inputs[1 - i]) &&
            shape[mul.inputs[1 - i]] == shape[x] && shape[mul.inputs[i]][1] == shape[x][1] &&
            uses.at(mul.inputs[i]) == 1)
          gate = mul.inputs[i];
    }
    if (gate.empty() && !is_vector(x)) continue;
    const Tensor& w = *constant_value(g, conv.inputs[1]);
    // Weight element (output m, input channel c, tap t): Conv [M, C, taps...], Gemm [M, C] or [C, M].
    const bool columns = conv.op_type == "Conv" || conv.attr_int("transB", 0) != 0;
    const int64_t out = columns ? w.dim(0) : w.dim(1), ch = columns ? w.dim(1) : w.dim(0);
    const int64_t taps = w.numel() / std::max<int64_t>(out * ch, 1);
    auto at = [&](int64_t m, int64_t c, int64_t t) { return columns ? (m * ch + c) * taps + t : c * out + m; };
    const auto& ax = absmax[x];
    if (static_cast<int64_t>(ax.size()) != ch) continue;
    std::vector<float> scale(static_cast<size_t>(ch), 1.0f);
    for (int64_t c = 0; c < ch; ++c) {
      float aw = 0;
      for (int64_t m = 0; m < out; ++m)
        for (int64_t t = 0; t < taps; ++t) aw = std::max(aw, std::fabs(w.data<float>()[at(m, c, t)]));
      if (ax[static_cast<size_t>(c)] > 0 && aw > 0)
        scale[static_cast<size_t>(c)] = std::clamp(std::sqrt(ax[static_cast<size_t>(c)] / aw), 1e-4f, 1e4f);
    }
    Tensor scaled = w.clone();
    for (int64_t m = 0; m < out; ++m)
      for (int64_t c = 0; c < ch; ++c)
        for (int64_t t = 0; t < taps; ++t) scaled.data<float>()[at(m, c, t)] *= scale[static_cast<size_t>(c)];
    std::vector<int64_t> inv_dims(shape[x].size(), 1);
    inv_dims[1] = ch;
    Tensor inv(DType::kFloat32, inv_dims);
    for (int64_t c = 0; c < ch; ++c) inv.data<float>()[c] = 1.0f / scale[static_cast<size_t>(c)];
    const std::string inv_name = names.make(conv.name + "_equalize");
    g.initializers[inv_name] = std::move(inv);
    Node mul;
    mul.op_type = "Mul";
    mul.name = names.make(conv.name + "_equalize_mul");
    if (!gate.empty()) {
      Node& gating = g.nodes[static_cast<size_t>(site.mul)];
      const std::string scaled_gate = names.make(gate + "_equalized");
      mul.inputs = {gate, inv_name};
      mul.outputs = {scaled_gate};
      for (auto& in : gating.inputs)
        if (in == gate) in = scaled_gate;
      before[static_cast<size_t>(site.mul)].push_back(std::move(mul));
    } else {
      const std::string scaled_x = names.make(x + "_equalized");
      mul.inputs = {x, inv_name};
      mul.outputs = {scaled_x};
      conv.inputs[0] = scaled_x;
      before[site.conv].push_back(std::move(mul));
    }
    std::string w_name = conv.inputs[1];
    if (uses.at(w_name) > 1 || !g.initializers.count(w_name)) w_name = names.make(w_name + "_equalized");
    g.initializers[w_name] = std::move(scaled);
    conv.inputs[1] = w_name;
    ++equalized;
  }
  if (before.empty()) return;
  std::vector<Node> nodes;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    if (auto it = before.find(k); it != before.end())
      for (auto& n : it->second) nodes.push_back(std::move(n));
    nodes.push_back(std::move(g.nodes[k]));
  }
  g.nodes = std::move(nodes);
  remove_unused_initializers(g);
  say(opt, "channel equalization: " + std::to_string(equalized) + " layers");
}

// Output 0 of the float graph for each sample.
std::vector<Tensor> float_outputs(const Graph& g, const std::vector<Sample>& samples, const QuantizeOptions& opt) {
  Session s(model_from_graph(g), SessionOptions{opt.num_threads, true, false});
  std::vector<Tensor> out;
  for (const auto& x : samples) out.push_back(s.run(x)[0]);
  return out;
}

// Mean cosine similarity and top-1 agreement of `qdq`'s output 0 with `reference` on the first n samples.
std::pair<double, double> judge_outputs(const Graph& qdq, const std::vector<Sample>& samples,
                                        const std::vector<Tensor>& reference, size_t n, const QuantizeOptions& opt) {
  Session s(model_from_graph(qdq), SessionOptions{opt.num_threads, true, false});
  double cos_sum = 0;
  int64_t agree = 0, rows = 0;
  for (size_t i = 0; i < n; ++i) {
    const Tensor out = s.run(samples[i])[0];
    cos_sum += cosine_similarity(reference[i], out);
    const auto [matching, count] = matching_rows(reference[i], out);
    agree += matching;
    rows += count;
  }
  return {cos_sum / static_cast<double>(std::max<size_t>(n, 1)), rows ? static_cast<double>(agree) / rows : 1.0};
}

// Multiply-adds of each candidate on one sample (weighted layers), or its input size (the others).
std::vector<double> layer_costs(const Graph& g, const std::vector<Candidate>& all, const Sample& sample,
                                const QuantizeOptions& opt) {
  std::vector<std::string> names;
  for (const auto& c : all) names.push_back(g.nodes[c.node].outputs[0]);
  const Graph probe = with_outputs(g, names);
  Session s(model_from_graph(probe), SessionOptions{opt.num_threads, true, false});
  const auto outputs = s.run(sample);
  std::vector<double> cost;
  for (const auto& c : all) {
    const Tensor& y = outputs[output_index(probe, g.nodes[c.node].outputs[0])];
    double v = static_cast<double>(y.numel());
    if (c.weight >= 0) {
      const Tensor& w = *constant_value(g, g.nodes[c.node].inputs[c.weight]);
      const int64_t units = g.nodes[c.node].op_type == "Conv" ? w.dim(0) : w.dim(c.weight_axis);
      v *= static_cast<double>(w.numel()) / static_cast<double>(std::max<int64_t>(units, 1));
    }
    cost.push_back(v);
  }
  return cost;
}

std::string fmt(double v, int digits = 4) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

CalibrationMethod parse_calibration_method(const std::string& name) {
  if (name == "minmax") return CalibrationMethod::kMinMax;
  if (name == "percentile") return CalibrationMethod::kPercentile;
  if (name == "entropy") return CalibrationMethod::kEntropy;
  if (name == "mse") return CalibrationMethod::kMse;
  throw Error(ErrorCode::kInvalidArgument, "unknown calibration method '" + name + "' (minmax, percentile, entropy, mse)");
}

double cosine_similarity(const Tensor& a, const Tensor& b) {
  if (a.dtype() != DType::kFloat32 || b.dtype() != DType::kFloat32 || a.numel() != b.numel())
    throw Error(ErrorCode::kInvalidArgument, "cosine similarity needs two float32 tensors of the same size");
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  if (aa == 0 && bb == 0) return 1.0;
  if (aa == 0 || bb == 0) return 0.0;
  return ab / std::sqrt(aa * bb);
}

QuantizeReport quantize_model(const Model& model, const std::vector<Sample>& calibration, const QuantizeOptions& opt,
                              const std::string& out_path) {
  if (opt.conv_weight_bits < 2 || opt.conv_weight_bits > 8)
    throw Error(ErrorCode::kInvalidArgument,
                "convolution weight bits must be in 2..8, got " + std::to_string(opt.conv_weight_bits));
  if (opt.percentile <= 50 || opt.percentile > 100)
    throw Error(ErrorCode::kInvalidArgument, "percentile must be in (50, 100], got " + fmt(opt.percentile, 3));
  check_samples(model, calibration);
  Graph g = prepare_graph(model);
  if (opt.equalize_channels) equalize_channels(g, calibration, opt);
  const auto all = find_candidates(g);
  if (all.empty()) throw Error(ErrorCode::kUnsupported, "the model has no layers that can be quantized");
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& c : all) {
    for (const auto& a : c.activations)
      if (seen.insert(a).second) names.push_back(a);
  }
  auto params = calibrate(g, names, calibration, opt);
  for (const auto& c : all)  // int8 max pooling needs the same parameters in and out
    if (c.output_follows_input && !is_graph_output(g, g.nodes[c.node].outputs[0]) && params.count(c.activations[0]))
      params[g.nodes[c.node].outputs[0]] = params[c.activations[0]];

  std::vector<std::string> exclude = opt.exclude;
  Graph corrected = g;
  if (opt.bias_correction) correct_biases(corrected, params, exclude, calibration, opt);
  QuantizeReport report;
  report.calibration_samples = calibration.size();
  // Automatic mode judges on at most 64 samples to bound its cost.
  const std::vector<Sample> judge(calibration.begin(), calibration.begin() + std::min<size_t>(calibration.size(), 64));
  std::vector<Candidate> active;
  const auto all_corrected = find_candidates(corrected);
  std::set<size_t> kept;  // candidates the automatic mode keeps in float32
  auto build = [&](std::vector<Candidate>* active_out) {
    auto active = usable(corrected, all_corrected, params, exclude, kept);
    QdqWriter writer(corrected, params, opt.conv_weight_bits);
    Graph out = writer.build(active, left_out(all, active));
    if (active_out) *active_out = std::move(active);
    return out;
  };
  Graph qdq = build(&active);
  Evaluation e = evaluate(g, qdq, active, judge, opt);
  say(opt, "quantized " + std::to_string(active.size()) + " layers: cosine " + fmt(e.cosine) + ", top-1 agreement " +
               fmt(e.agreement));
  auto met = [&](double cosine, double agreement) {
    return cosine >= opt.min_cosine && agreement >= opt.min_top1_agreement;
  };
  if (opt.automatic && !met(e.cosine, e.agreement)) {
    // Which layers to keep in float32: each layer's sensitivity is the gain in cosine similarity when it
    // alone stays float (on a few samples); layers are then kept in order of that gain per multiply-add
    // they cost, so cheap layers that matter (squeeze-excitation gates, classifier heads) go first and
    // the bulk of the computation stays int8.
    const std::vector<Tensor> reference = float_outputs(g, judge, opt);
    const size_t probe = std::min<size_t>(judge.size(), 16);
    const std::vector<double> cost = layer_costs(g, all, judge.front(), opt);
    double total = 0;
    for (double c : cost) total += c;
    const double base = judge_outputs(build(nullptr), judge, reference, probe, opt).first;
    std::vector<std::pair<double, size_t>> order;  // (gain per cost, index into all)
    for (size_t i = 0; i < all.size(); ++i) {
      if (excluded(g.nodes[all[i].node], exclude)) continue;
      kept.insert(all[i].node);
      const double gain = judge_outputs(build(nullptr), judge, reference, probe, opt).first - base;
      kept.erase(all[i].node);
      if (gain > 0) order.emplace_back(gain / (cost[i] + 0.002 * total), i);
    }
    std::sort(order.begin(), order.end(), std::greater<>());
    say(opt, "sensitivity measured for " + std::to_string(all.size()) + " layers; " + std::to_string(order.size()) +
                 " gain from float32");
    int kept_count = 0;
    for (const auto& [score, i] : order) {
      if (kept_count >= opt.max_float_layers) break;
      kept.insert(all[i].node);
      ++kept_count;
      const auto [cosine, agreement] = judge_outputs(build(nullptr), judge, reference, judge.size(), opt);
      say(opt, "keeping " + g.nodes[all[i].node].op_type + " '" + g.nodes[all[i].node].name + "' in float32 (" +
                   fmt(100.0 * cost[i] / std::max(total, 1.0), 2) + " % of the multiply-adds): cosine " + fmt(cosine) +
                   ", top-1 agreement " + fmt(agreement));
      if (met(cosine, agreement)) break;
    }
    qdq = build(&active);
    e = evaluate(g, qdq, active, judge, opt);
  }
  report.mean_cosine = e.cosine;
  report.top1_agreement = e.agreement;
  report.layers = e.layers;
  report.quantized_nodes = static_cast<int>(active.size());
  std::set<size_t> active_nodes;
  for (const auto& c : active) active_nodes.insert(c.node);
  for (const auto& c : all)
    if (!active_nodes.count(c.node)) report.float_nodes.push_back(g.nodes[c.node].name);
  save_model(qdq, out_path);
  return report;
}

}  // namespace edgerun
