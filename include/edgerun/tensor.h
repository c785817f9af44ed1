// Tensor: a dtype, a shape and a block of memory, either owned or borrowed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgerun {

// Values match ONNX TensorProto.DataType so conversion is a cast.
enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

using Shape = std::vector<int64_t>;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
std::string shape_str(const Shape& s);
// Element count of a shape; throws Error if negative or the product overflows int64.
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  // Allocates zeroed, owned storage.
  Tensor(DType dtype, Shape shape);
  // Owned storage left uninitialized, for callers that write every element (string tensors are
  // still default-constructed).
  static Tensor uninitialized(DType dtype, Shape shape);
  // Borrows memory owned by someone else (no copy); caller keeps it alive.
  static Tensor borrow(DType dtype, Shape shape, void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t i) const { return shape_[i]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool empty() const { return dtype_ == DType::kUndefined; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }

  // Same storage, new shape (element count must match).
  Tensor reshaped(Shape shape) const;
  // Deep copy into owned storage.
  Tensor clone() const;
  bool owns_memory() const { return static_cast<bool>(storage_); }
  // Owned storage that no other tensor shares: safe to modify without affecting a copy.
  bool sole_owner() const { return storage_ && storage_.use_count() == 1; }

 private:
  Tensor(DType dtype, Shape shape, bool zero);

  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;  // null when borrowed
};

// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bfloat16(float f);
float bfloat16_to_float(uint16_t b);

}  // namespace edgerun
