#include "shmrpc/message/peer_serialize.h"

#include <algorithm>
#include <climits>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc::message {
namespace {

// Hands out [out, out + size) in blocks of at most kBlock bytes, and takes
// aliased writes (large string and bytes fields) with CopyToPeer. Blocks are
// kept small so that any field at least a block long is written aliased: the
// coded stream only aliases a field that does not fit in its current block.
class PeerArrayOutputStream final
    : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  static constexpr size_t kBlock = size_t{8} * 1024;

  PeerArrayOutputStream(uint8_t* out, size_t size) : out_(out), size_(size) {}

  bool Next(void** data, int* size) override {
    if (pos_ == size_) return false;
    const size_t n = std::min(kBlock, size_ - pos_);
    *data = out_ + pos_;
    *size = static_cast<int>(n);
    pos_ += n;
    return true;
  }

  void BackUp(int count) override {
    // The coded stream only backs up what it was last given.
    pos_ -= std::min(pos_, static_cast<size_t>(std::max(count, 0)));
  }

  int64_t ByteCount() const override { return static_cast<int64_t>(pos_); }

  bool WriteAliasedRaw(const void* data, int size) override {
    if (size < 0 || static_cast<size_t>(size) > size_ - pos_) return false;
    transport::CopyToPeer(out_ + pos_, data, static_cast<size_t>(size));
    pos_ += static_cast<size_t>(size);
    return true;
  }

  bool AllowsAliasing() const override { return true; }

 private:
  uint8_t* const out_;
  const size_t size_;
  size_t pos_ = 0;
};

}  // namespace

bool SerializeToPeer(const google::protobuf::MessageLite& message, size_t size,
                     uint8_t* out) {
  if (size > static_cast<size_t>(INT_MAX)) return false;
  if (size < transport::kStreamingCopyMinBytes) {
    // Trusts `size`, as protobuf's own array serializer does.
    uint8_t* end = message.SerializeWithCachedSizesToArray(out);
    return static_cast<size_t>(end - out) == size;
  }
  PeerArrayOutputStream stream(out, size);
  {
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.EnableAliasing(true);
    message.SerializeWithCachedSizes(&coded);
    coded.Trim();
    if (coded.HadError()) return false;
  }
  return stream.ByteCount() == static_cast<int64_t>(size);
}

}  // namespace shmrpc::message
