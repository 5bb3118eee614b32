// SPDX-License-Identifier: GPL-2.0-only
// Ring buffer consumption in batches (RingBatcher, see core.h): every record that is ready, framed for the
// helper protocol's event batches, in one poll on a libuv worker thread.
#include "core.h"

#include <bpf/libbpf.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

namespace bpflsm {

int RingBatcher::OnRecord(void* ctx, void* data, size_t size) {
  auto* rc = static_cast<Ring*>(ctx);
  RingBatcher* self = rc->batcher;
  size_t padded = (size + 7) & ~size_t(7);
  size_t end = self->used_ + kHeader + padded;
  if (end > self->buf_.size()) self->buf_.resize(std::max(end, self->buf_.size() * 2));
  uint8_t* at = self->buf_.data() + self->used_;
  uint32_t len = static_cast<uint32_t>(size);
  memcpy(at, &len, 4);
  memcpy(at + 4, &rc->index, 2);
  memset(at + 6, 0, 2);
  memcpy(at + kHeader, data, size);
  memset(at + kHeader + size, 0, padded - size);
  self->used_ = end;
  self->count_++;
  // Returning an error stops libbpf after this record; the record itself is already consumed and copied.
  return self->used_ >= self->maxBytes_ ? -ECANCELED : 0;
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

int64_t RingBatcher::Poll(int timeoutMs, size_t maxBytes, Failure& failure) {
  if (!rb_) {
    failure = Fail(EBADF, "ring buffer consumer is closed");
    return -1;
  }
  used_ = 0;
  maxBytes_ = maxBytes;
  count_ = 0;
  if (buf_.size() < maxBytes + 4096) buf_.resize(maxBytes + 4096);
  // libbpf drains every ready ring before returning, so one call returns all that is ready (up to maxBytes).
  int err = ring_buffer__poll(rb_, timeoutMs);
  if (err == -EINTR) err = 0;
  // Producers may submit without waking us (BPF_RB_NO_WAKEUP, to batch wakeups), so a poll that timed out
  // still reads whatever is waiting.
  if (err == 0) err = ring_buffer__consume(rb_);
  if (err < 0 && err != -ECANCELED) {
    failure = Fail(err, "polling ring buffers failed: " + ErrnoText(err));
    return -1;
  }
  return count_;
}

}  // namespace bpflsm
