// The main graph's weight bytes, found in a serialized ModelProto without parsing them.
//
// A protobuf parse copies every `raw_data` into a string, which the loader then copies into a tensor:
// for a 100 MB model that is two passes over fresh memory. Splitting the file first lets the parser see
// only the small rest of the model, and each weight is read once, straight into its tensor.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace edgerun {

// Reads `size` bytes at `offset` into `dst`; false on a short read or an I/O error.
using ReadAt = std::function<bool(uint64_t offset, void* dst, size_t size)>;

struct RawDataLocation {
  uint64_t offset = 0;
  uint64_t size = 0;
};

struct SplitModel {
  // The ModelProto with the `raw_data` of the main graph's larger initializers left out.
  std::string skeleton;
  // Per initializer of the main graph, in file order: where its left-out raw_data lies, if it was.
  std::vector<std::optional<RawDataLocation>> raw_data;
};

// Splits a serialized ModelProto of `size` bytes. Returns nothing when the bytes are not plainly a
// ModelProto with one graph (malformed, groups, a repeated graph or raw_data field): the caller then
// parses the whole file, whose parser gives the error or the merge semantics.
std::optional<SplitModel> split_initializer_data(const ReadAt& read, uint64_t size, uint64_t min_bytes = 4096);

}  // namespace edgerun
