// Views of repeated fields for generated flat-message code (message/flat.h):
// what `FooView::values()` returns for `repeated T values`. Each is a value
// over a checked internal::RepeatedRef: size(), operator[] (the default for
// an index out of range), iteration, and for scalars span(), the elements in
// place when the writer used exactly the reader's element type.
//
// Thread-safety: values; safe to read from several threads.
#ifndef SHMRPC_MESSAGE_FLAT_VIEW_H_
#define SHMRPC_MESSAGE_FLAT_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "shmrpc/message/flat.h"

namespace shmrpc::flat {

// How an element of a repeated field reads as each protobuf scalar type.
namespace element {
using internal::RepeatedRef;
inline int32_t Int32(const RepeatedRef& r, int i) {
  return static_cast<int32_t>(r.VarintAt(i));
}
inline int64_t Int64(const RepeatedRef& r, int i) { return r.VarintAt(i); }
inline uint32_t UInt32(const RepeatedRef& r, int i) {
  return static_cast<uint32_t>(r.VarintAt(i));
}
inline uint64_t UInt64(const RepeatedRef& r, int i) {
  return static_cast<uint64_t>(r.VarintAt(i));
}
inline bool Bool(const RepeatedRef& r, int i) { return r.VarintAt(i) != 0; }
inline uint32_t Fixed32(const RepeatedRef& r, int i) { return r.Fixed32At(i); }
inline int32_t SFixed32(const RepeatedRef& r, int i) {
  return static_cast<int32_t>(r.Fixed32At(i));
}
inline uint64_t Fixed64(const RepeatedRef& r, int i) { return r.Fixed64At(i); }
inline int64_t SFixed64(const RepeatedRef& r, int i) {
  return static_cast<int64_t>(r.Fixed64At(i));
}
inline float Float(const RepeatedRef& r, int i) { return r.FloatAt(i); }
inline double Double(const RepeatedRef& r, int i) { return r.DoubleAt(i); }
// Enums (int-based, so every int32 value is one).
template <typename E>
E Enum(const RepeatedRef& r, int i) {
  return static_cast<E>(static_cast<int32_t>(r.VarintAt(i)));
}
}  // namespace element

// Random-access iteration over any of the views below.
template <typename View, typename T>
class ViewIterator {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = T;

  ViewIterator(const View* view, int i) : view_(view), i_(i) {}
  T operator*() const { return (*view_)[i_]; }
  ViewIterator& operator++() {
    ++i_;
    return *this;
  }
  ViewIterator operator++(int) {
    ViewIterator old = *this;
    ++i_;
    return old;
  }
  ViewIterator& operator+=(difference_type n) {
    i_ += static_cast<int>(n);
    return *this;
  }
  difference_type operator-(const ViewIterator& other) const {
    return i_ - other.i_;
  }
  bool operator==(const ViewIterator& other) const { return i_ == other.i_; }
  bool operator!=(const ViewIterator& other) const { return i_ != other.i_; }

 private:
  const View* view_;
  int i_;
};

// `repeated T` for a scalar or enum T. `Get` reads an element as T;
// `kExact` is the element kind whose elements are T in memory (span()).
template <typename T, T (*Get)(const internal::RepeatedRef&, int),
          uint8_t kExact>
class RepeatedScalarView {
 public:
  using const_iterator = ViewIterator<RepeatedScalarView, T>;

  RepeatedScalarView() = default;
  explicit RepeatedScalarView(internal::RepeatedRef ref) : ref_(ref) {}

  int size() const { return ref_.size(); }
  bool empty() const { return ref_.size() == 0; }
  T operator[](int i) const { return Get(ref_, i); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size()); }

  // The elements in place (no copy), when the writer wrote kExact elements;
  // empty otherwise (then read them with operator[]).
  template <typename U = T>
  absl::Span<const U> span() const {
    return ref_.Span<U>(kExact);
  }

 private:
  internal::RepeatedRef ref_;
};

// `repeated string` and `repeated bytes`.
class RepeatedBytesView {
 public:
  using const_iterator = ViewIterator<RepeatedBytesView, absl::string_view>;

  RepeatedBytesView() = default;
  explicit RepeatedBytesView(internal::RepeatedRef ref) : ref_(ref) {}

  int size() const { return ref_.size(); }
  bool empty() const { return ref_.size() == 0; }
  absl::string_view operator[](int i) const { return ref_.BytesAt(i); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size()); }

 private:
  internal::RepeatedRef ref_;
};

// `repeated M` (and map fields, as their entries) for a generated view
// type M.
template <typename MView>
class RepeatedMessageView {
 public:
  using const_iterator = ViewIterator<RepeatedMessageView, MView>;

  RepeatedMessageView() = default;
  explicit RepeatedMessageView(internal::RepeatedRef ref) : ref_(ref) {}

  int size() const { return ref_.size(); }
  bool empty() const { return ref_.size() == 0; }
  MView operator[](int i) const { return MView(ref_.MessageAt(i)); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size()); }

 private:
  internal::RepeatedRef ref_;
};

}  // namespace shmrpc::flat

#endif  // SHMRPC_MESSAGE_FLAT_VIEW_H_
