#include "serve/datatype.h"

#include <array>
#include <utility>

namespace edgerun::serve {
namespace {

struct Name {
  DType dtype;
  const char* protocol;
  const char* config;
};

constexpr std::array<Name, 14> kNames = {{
    {DType::kBool, "BOOL", "TYPE_BOOL"},
    {DType::kUInt8, "UINT8", "TYPE_UINT8"},
    {DType::kUInt16, "UINT16", "TYPE_UINT16"},
    {DType::kUInt32, "UINT32", "TYPE_UINT32"},
    {DType::kUInt64, "UINT64", "TYPE_UINT64"},
    {DType::kInt8, "INT8", "TYPE_INT8"},
    {DType::kInt16, "INT16", "TYPE_INT16"},
    {DType::kInt32, "INT32", "TYPE_INT32"},
    {DType::kInt64, "INT64", "TYPE_INT64"},
    {DType::kFloat16, "FP16", "TYPE_FP16"},
    {DType::kFloat32, "FP32", "TYPE_FP32"},
    {DType::kFloat64, "FP64", "TYPE_FP64"},
    {DType::kBFloat16, "BF16", "TYPE_BF16"},
    {DType::kString, "BYTES", "TYPE_STRING"},
}};

}  // namespace

const char* protocol_datatype(DType t) {
  for (const auto& n : kNames)
    if (n.dtype == t) return n.protocol;
  return "";
}

DType dtype_from_protocol(std::string_view name) {
  for (const auto& n : kNames)
    if (name == n.protocol) return n.dtype;
  return DType::kUndefined;
}

DType dtype_from_config(std::string_view name) {
  for (const auto& n : kNames)
    if (name == n.config) return n.dtype;
  return DType::kUndefined;
}

}  // namespace edgerun::serve
