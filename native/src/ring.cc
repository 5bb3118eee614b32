// SPDX-License-Identifier: GPL-2.0-only
// Ring buffer consumption in batches (RingBatcher, see core.h): every record that is ready, framed for the
// helper protocol's event batches, in one poll on a libuv worker thread.
#include "core.h"

#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>

namespace bpflsm {

int RingBatcher::OnRecord(void* ctx, void* data, size_t size) {
  auto* rc = static_cast<Ring*>(ctx);
  RingBatcher* self = rc->batcher;
  std::vector<uint8_t>& batch = *self->batch_;
  static const uint8_t zeros[8] = {};
  uint8_t header[kHeader] = {};
  uint32_t len = static_cast<uint32_t>(size);
  uint16_t ring = rc->index;
  memcpy(header, &len, 4);
  memcpy(header + 4, &ring, 2);
  // Appending (rather than resizing, which zero-fills first) writes each byte of the batch once.
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  batch.insert(batch.end(), header, header + kHeader);
  batch.insert(batch.end(), bytes, bytes + size);
  batch.insert(batch.end(), zeros, zeros + (((size + 7) & ~size_t(7)) - size));
  self->count_++;
  // Returning an error stops libbpf after this record; the record itself is already consumed and copied.
  return batch.size() >= self->maxBytes_ ? -ECANCELED : 0;
}

std::unique_ptr<RingBatcher> RingBatcher::Create(std::shared_ptr<Object> owner, const std::vector<std::string>& maps, Failure& failure) {
  std::unique_ptr<RingBatcher> self(new RingBatcher());
  self->owner_ = owner;
  for (size_t i = 0; i < maps.size(); i++) {
    size_t ks = 0, vs = 0;
    int fd = -1;
    failure = owner->MapValueSize(maps[i], ks, vs, fd);
    if (failure) return nullptr;
    if (fd < 0) {
      failure = Fail(EBADF, "ring buffer " + maps[i] + " has no kernel map yet; load the object first");
      return nullptr;
    }
    self->rings_.push_back(std::make_unique<Ring>(Ring{self.get(), static_cast<uint16_t>(i)}));
    LibbpfMessages messages;
    int err = 0;
    if (!self->rb_) {
      self->rb_ = ring_buffer__new(fd, OnRecord, self->rings_.back().get(), nullptr);
      if (!self->rb_) err = -errno;
    } else {
      err = ring_buffer__add(self->rb_, fd, OnRecord, self->rings_.back().get());
    }
    if (err) {
      failure = Fail(err, "cannot consume map " + maps[i] + " as a ring buffer: " + ErrnoText(err) + " (is it BPF_MAP_TYPE_RINGBUF?)\n" + Tidy(messages.text()));
      if (self->rb_) ring_buffer__free(self->rb_);
      self->rb_ = nullptr;
      return nullptr;
    }
  }
  return self;
}

RingBatcher::~RingBatcher() { Free(); }

void RingBatcher::Free() {
  if (rb_) ring_buffer__free(rb_);
  rb_ = nullptr;
  owner_.reset();
}

int64_t RingBatcher::Poll(int timeoutMs, size_t maxBytes, std::vector<uint8_t>& batch, Failure& failure) {
  if (!rb_) {
    failure = Fail(EBADF, "ring buffer consumer is closed");
    return -1;
  }
  batch_ = &batch;
  maxBytes_ = maxBytes;
  count_ = 0;
  // libbpf drains every ready ring before returning, so one call returns all that is ready (up to maxBytes).
  int err = ring_buffer__poll(rb_, timeoutMs);
  if (err == -EINTR) err = 0;
  // Producers may submit without waking us (BPF_RB_NO_WAKEUP, to batch wakeups), so a poll that timed out
  // still reads whatever is waiting.
  if (err == 0) err = ring_buffer__consume(rb_);
  if (err < 0 && err != -ECANCELED) {
    failure = Fail(err, "polling ring buffers failed: " + ErrnoText(err));
    batch_ = nullptr;
    return -1;
  }
  batch_ = nullptr;
  return count_;
}

}  // namespace bpflsm
