#include "onnx/initializer_data.h"

#include <algorithm>
#include <cstring>

namespace edgerun {
namespace {

// Field numbers in onnx.proto.
constexpr uint64_t kModelGraph = 7;        // ModelProto.graph
constexpr uint64_t kGraphInitializer = 5;  // GraphProto.initializer
constexpr uint64_t kTensorRawData = 9;     // TensorProto.raw_data

enum WireType : uint64_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

class Splitter {
 public:
  Splitter(const ReadAt& read, uint64_t size, uint64_t min_bytes) : read_(read), size_(size), min_bytes_(min_bytes) {}

  std::optional<SplitModel> run() {
    SplitModel m;
    if (!fields(0, size_, 0, m.skeleton)) return std::nullopt;
    m.raw_data = std::move(raw_data_);
    return m;
  }

 private:
  // Walks the fields in [pos, end) of a message at `level` (0 model, 1 main graph, 2 initializer),
  // appending them to `out`, the nested ones rewritten.
  bool fields(uint64_t pos, uint64_t end, int level, std::string& out) {
    while (pos < end) {
      const uint64_t start = pos;
      uint64_t tag = 0, length = 0;
      if (!varint(pos, end, tag)) return false;
      const uint64_t field = tag >> 3, wire = tag & 7;
      if (field == 0) return false;
      uint64_t value = pos;
      switch (wire) {
        case kVarint: {
          uint64_t ignored = 0;
          if (!varint(pos, end, ignored)) return false;
          break;
        }
        case kFixed64: pos += 8; break;
        case kFixed32: pos += 4; break;
        case kLengthDelimited:
          if (!varint(pos, end, length) || length > end - pos) return false;
          value = pos;
          pos += length;
          break;
        default: return false;  // groups: left to the full parser
      }
      if (pos > end) return false;
      const bool nested = wire == kLengthDelimited;
      if (nested && level == 0 && field == kModelGraph) {
        if (graph_seen_) return false;  // repeated messages merge; the full parser knows how
        graph_seen_ = true;
        if (!message(tag, value, pos, 1, out)) return false;
      } else if (nested && level == 1 && field == kGraphInitializer) {
        raw_in_tensor_ = 0;
        location_.reset();
        if (!message(tag, value, pos, 2, out)) return false;
        raw_data_.push_back(location_);
      } else if (level == 2 && field == kTensorRawData) {
        if (!nested || ++raw_in_tensor_ > 1) return false;
        if (length >= min_bytes_) location_ = RawDataLocation{value, length};
        else if (!copy(start, pos, out)) return false;
      } else if (!copy(start, pos, out)) {
        return false;
      }
    }
    return pos == end;
  }

  bool message(uint64_t tag, uint64_t begin, uint64_t end, int level, std::string& out) {
    std::string inner;
    if (!fields(begin, end, level, inner)) return false;
    put_varint(tag, out);
    put_varint(inner.size(), out);
    out += inner;
    return true;
  }

  bool varint(uint64_t& pos, uint64_t end, uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= end) return false;
      uint8_t b = 0;
      if (!byte(pos++, b)) return false;
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }

  bool byte(uint64_t pos, uint8_t& b) {
    if (pos < window_begin_ || pos >= window_begin_ + window_.size()) {
      const uint64_t n = std::min<uint64_t>(kWindow, size_ - pos);
      window_.resize(n);
      window_begin_ = pos;
      if (!read_(pos, window_.data(), n)) {
        window_.clear();
        return false;
      }
    }
    b = static_cast<uint8_t>(window_[pos - window_begin_]);
    return true;
  }

  bool copy(uint64_t from, uint64_t to, std::string& out) {
    const size_t n = to - from, at = out.size();
    out.resize(at + n);
    if (from >= window_begin_ && to <= window_begin_ + window_.size()) {
      std::memcpy(out.data() + at, window_.data() + (from - window_begin_), n);
      return true;
    }
    return read_(from, out.data() + at, n);
  }

  static constexpr uint64_t kWindow = 64 * 1024;
  const ReadAt& read_;
  const uint64_t size_, min_bytes_;
  std::string window_;
  uint64_t window_begin_ = 0;
  bool graph_seen_ = false;
  int raw_in_tensor_ = 0;
  std::optional<RawDataLocation> location_;
  std::vector<std::optional<RawDataLocation>> raw_data_;
};

}  // namespace

std::optional<SplitModel> split_initializer_data(const ReadAt& read, uint64_t size, uint64_t min_bytes) {
  return Splitter(read, size, min_bytes).run();
}

}  // namespace edgerun
