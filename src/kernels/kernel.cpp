#include "kernels/kernel.h"

#include <algorithm>

namespace edgerun {

PrepareContext::PrepareContext(const Node& node, int64_t opset, std::vector<const Tensor*> inputs,
                               std::vector<bool> known, std::vector<Tensor>* outputs,
                               std::vector<bool>* dynamic_outputs)
    : node_(node), opset_(opset), inputs_(std::move(inputs)), known_(std::move(known)),
      outputs_(outputs), dynamic_outputs_(dynamic_outputs) {}

DType PrepareContext::input_dtype(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is missing");
  return inputs_[i]->dtype();
}

const Shape& PrepareContext::input_shape(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is missing");
  return inputs_[i]->shape();
}

const Tensor* PrepareContext::input_value(size_t i) const {
  if (!has_input(i) || !known_[i]) return nullptr;
  return inputs_[i];
}

const Tensor& PrepareContext::require_value(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is missing");
  if (!known_[i]) throw ValueNotKnown{};
  return *inputs_[i];
}

void PrepareContext::set_output(size_t i, DType dtype, Shape shape) {
  if (i >= outputs_->size()) return;  // the node does not bind this optional output
  shape_numel(shape);                 // rejects negative or overflowing dims
  (*outputs_)[i] = Tensor::borrow(dtype, std::move(shape), nullptr);
  (*dynamic_outputs_)[i] = false;
}

void PrepareContext::set_output_dynamic(size_t i, DType dtype) {
  if (i >= outputs_->size()) return;
  (*outputs_)[i] = Tensor::borrow(dtype, Shape{0}, nullptr);
  (*dynamic_outputs_)[i] = true;
}

void PrepareContext::fail(const std::string& message) const {
  throw Error(ErrorCode::kInvalidModel, node_.describe() + ": " + message);
}

void PrepareContext::unsupported(const std::string& message) const {
  throw Error(ErrorCode::kUnsupported, node_.describe() + ": " + message);
}

RunContext::RunContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs,
                       void* scratch, ThreadPool* threads, std::function<const Tensor*(const std::string&)> outer)
    : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)), scratch_(scratch),
      threads_(threads), outer_(std::move(outer)) {}

Tensor& RunContext::allocate_output(size_t i, DType dtype, Shape shape) {
  *outputs_[i] = Tensor(dtype, std::move(shape));
  return *outputs_[i];
}

const Tensor* RunContext::outer_value(const std::string& name) const { return outer_ ? outer_(name) : nullptr; }

void RunContext::fail(const std::string& message) const {
  throw Error(ErrorCode::kRuntime, node_.describe() + ": " + message);
}

KernelRegistry& KernelRegistry::instance() {
  static KernelRegistry registry;
  return registry;
}

void KernelRegistry::add(const std::string& domain, const std::string& op_type, KernelFactory factory) {
  factories_[domain + "::" + op_type] = std::move(factory);
}

const KernelFactory* KernelRegistry::find(const std::string& domain, const std::string& op_type) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  auto it = factories_.find(d + "::" + op_type);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> KernelRegistry::op_names() const {
  std::vector<std::string> names;
  for (const auto& [key, f] : factories_) names.push_back(key.rfind("::", 0) == 0 ? key.substr(2) : key);
  return names;
}

}  // namespace edgerun
