// Kernel interface: every op implements prepare (validate, infer output shapes, ask for scratch)
// and run (compute only; no validation, no allocation).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edgerun/error.h"
#include "edgerun/tensor.h"
#include "ir/graph.h"

namespace edgerun {

class ThreadPool;

// Thrown by PrepareContext::require_value when an input's data is not known while planning:
// the planner then runs the model shape-by-shape at run time instead.
struct ValueNotKnown {};

class PrepareContext {
 public:
  PrepareContext(const Node& node, int64_t opset, std::vector<const Tensor*> inputs, std::vector<bool> known,
                 std::vector<Tensor>* outputs, std::vector<bool>* dynamic_outputs);

  const Node& node() const { return node_; }
  int64_t opset() const { return opset_; }

  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  DType input_dtype(size_t i) const;
  const Shape& input_shape(size_t i) const;
  // The input's data when it is known (constants while planning; everything at run time), else null.
  const Tensor* input_value(size_t i) const;
  // The input's data; when unknown while planning, the plan falls back to run-time shapes.
  const Tensor& require_value(size_t i) const;

  size_t num_outputs() const { return node_.outputs.size(); }
  bool has_output(size_t i) const { return i < node_.outputs.size() && !node_.outputs[i].empty(); }
  void set_output(size_t i, DType dtype, Shape shape);
  // The shape depends on input data (NonZero, Unique, If): run() calls RunContext::allocate_output.
  void set_output_dynamic(size_t i, DType dtype);

  // Scratch bytes needed by run(); the planner gives one region shared by all nodes.
  void request_scratch(size_t bytes) { scratch_bytes_ = std::max(scratch_bytes_, bytes); }
  size_t scratch_bytes() const { return scratch_bytes_; }

  // Throws Error(kInvalidModel) with node context.
  [[noreturn]] void fail(const std::string& message) const;
  [[noreturn]] void unsupported(const std::string& message) const;

 private:
  const Node& node_;
  int64_t opset_;
  std::vector<const Tensor*> inputs_;
  std::vector<bool> known_;
  std::vector<Tensor>* outputs_;
  std::vector<bool>* dynamic_outputs_;
  size_t scratch_bytes_ = 0;
};

// Runs a subgraph (If/Loop/Scan bodies) with values from the enclosing scope.
class SubgraphRunner {
 public:
  SubgraphRunner(const Graph& graph);
  ~SubgraphRunner();
  // inputs bind the subgraph's declared inputs in order; outer resolves names from enclosing scopes.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs,
                          const std::function<const Tensor*(const std::string&)>& outer);
  const Graph& graph() const { return graph_; }

 private:
  struct Impl;
  const Graph& graph_;
  std::unique_ptr<Impl> impl_;
};

class RunContext {
 public:
  RunContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs, void* scratch,
             ThreadPool* threads, std::function<const Tensor*(const std::string&)> outer);

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // A required input the node lacks (a malformed model) is an Error, not a null dereference.
  const Tensor& input(size_t i) const {
    if (!has_input(i)) fail("input " + std::to_string(i) + " is missing");
    return *inputs_[i];
  }

  size_t num_outputs() const { return node_.outputs.size(); }
  bool has_output(size_t i) const { return i < outputs_.size() && outputs_[i] != nullptr; }
  Tensor& output(size_t i) { return *outputs_[i]; }
  // For outputs declared dynamic in prepare.
  Tensor& allocate_output(size_t i, DType dtype, Shape shape);

  void* scratch() { return scratch_; }
  ThreadPool* threads() { return threads_; }
  // Elements from one row of output i's last dimension to the next: 0 (dense) unless the executor put
  // the output inside a wider one (see Kernel::writes_strided_output).
  int64_t output_row_stride(size_t i) const { return i < row_strides_.size() ? row_strides_[i] : 0; }
  void set_output_row_stride(size_t i, int64_t stride) {
    if (row_strides_.size() <= i) row_strides_.resize(i + 1, 0);
    row_strides_[i] = stride;
  }
  // Value of an enclosing-scope name (subgraph implicit inputs); null if not found.
  const Tensor* outer_value(const std::string& name) const;
  const std::function<const Tensor*(const std::string&)>& outer() const { return outer_; }

  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
  void* scratch_;
  ThreadPool* threads_;
  std::function<const Tensor*(const std::string&)> outer_;
  std::vector<int64_t> row_strides_;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void prepare(PrepareContext& ctx) = 0;
  virtual void run(RunContext& ctx) = 0;
  // Ops whose result varies between runs (random generators) are never constant-folded.
  virtual bool deterministic() const { return true; }
  // True when prepare() copied constant input `index` into the kernel's own packed form and neither
  // run() nor a later prepare() (new input shapes) reads that tensor's data again: the executor may
  // then free it, so the weights are not held twice.
  virtual bool packed_input(size_t index) const { return false; }
  // Concatenation in place: when a Concat on the last axis (concatenates_last_axis) is the only reader
  // of values whose producers can write them with rows ctx.output_row_stride() apart
  // (writes_strided_output, asked after prepare), the executor places those values inside the Concat's
  // output, and the Concat finds its inputs already there. squeezenet's expand convolutions then store
  // straight into their Concat's output (a channel Concat in NHWC is a copy of every pixel).
  virtual bool writes_strided_output(size_t index) const { return false; }
  virtual bool concatenates_last_axis() const { return false; }
};

// Factories get the node (attributes) and the opset version of its domain; they may throw Error
// for invalid attributes.
using KernelFactory = std::function<std::unique_ptr<Kernel>(const Node& node, int64_t opset)>;

class KernelRegistry {
 public:
  static KernelRegistry& instance();
  void add(const std::string& domain, const std::string& op_type, KernelFactory factory);
  // Null if the op is unknown.
  const KernelFactory* find(const std::string& domain, const std::string& op_type) const;
  std::vector<std::string> op_names() const;

 private:
  std::map<std::string, KernelFactory> factories_;  // key: domain + "::" + op_type
};

struct KernelRegistrar {
  KernelRegistrar(const char* domain, const char* op_type, KernelFactory factory) {
    KernelRegistry::instance().add(domain, op_type, std::move(factory));
  }
};

// Registers a kernel class constructible as KernelClass(const Node&, int64_t opset).
#define EDGERUN_CONCAT_INNER(a, b) a##b
#define EDGERUN_CONCAT(a, b) EDGERUN_CONCAT_INNER(a, b)
#define EDGERUN_REGISTER_KERNEL_DOMAIN(DOMAIN, OP, KernelClass)                                         \
  static ::edgerun::KernelRegistrar EDGERUN_CONCAT(kernel_registrar_, __COUNTER__)(                     \
      DOMAIN, OP, [](const ::edgerun::Node& node, int64_t opset) -> std::unique_ptr<::edgerun::Kernel> { \
        return std::make_unique<KernelClass>(node, opset);                                               \
      })
#define EDGERUN_REGISTER_KERNEL(OP, KernelClass) EDGERUN_REGISTER_KERNEL_DOMAIN("", OP, KernelClass)

}  // namespace edgerun
