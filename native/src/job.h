// SPDX-License-Identifier: GPL-2.0-only
// Blocking work of the addon's N-API surface (binding.cc) on the libuv pool, settled as a Promise.
#ifndef BPFLSM_JOB_H
#define BPFLSM_JOB_H

#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>

#include "convert.h"
#include "core.h"

namespace bpflsm {

/** Runs `work` on the libuv pool with the object's lock held and settles a Promise with `done`'s value. */
template <typename Result>
class Job : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Done = std::function<Napi::Value(Napi::Env, Result&)>;
  using Failed = std::function<Failure(Result&)>;

  static Napi::Promise Start(Napi::Env env, std::shared_ptr<bpflsm::Object> object, Work work, Done done, Failed failed,
                             std::function<void(Napi::Error&, Result&)> decorate = nullptr) {
    auto* job = new Job(env, std::move(object), std::move(work), std::move(done), std::move(failed), std::move(decorate));
    Napi::Promise p = job->deferred_.Promise();
    job->Queue();
    return p;
  }

 protected:
  void Execute() override {
    if (object_) {
      std::lock_guard<std::mutex> guard(object_->lock());
      result_ = work_();
    } else {
      result_ = work_();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Failure f = failed_ ? failed_(result_) : Failure{};
    if (f) {
      Napi::Error e = ToError(env, f);
      if (decorate_) decorate_(e, result_);
      deferred_.Reject(e.Value());
    } else {
      deferred_.Resolve(done_(env, result_));
    }
  }
  // Execute threw (e.g. std::bad_alloc): node-addon-api calls this instead of OnOK, and without it the
  // Promise would never settle and the helper request would hang until the client gives up.
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Job(Napi::Env env, std::shared_ptr<bpflsm::Object> object, Work work, Done done, Failed failed,
      std::function<void(Napi::Error&, Result&)> decorate)
      : Napi::AsyncWorker(env, "bpflsm"), deferred_(Napi::Promise::Deferred::New(env)), object_(std::move(object)),
        work_(std::move(work)), done_(std::move(done)), failed_(std::move(failed)), decorate_(std::move(decorate)) {}
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<bpflsm::Object> object_;
  Work work_;
  Done done_;
  Failed failed_;
  std::function<void(Napi::Error&, Result&)> decorate_;
  Result result_{};
};

}  // namespace bpflsm

#endif
