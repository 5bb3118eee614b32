// SPDX-License-Identifier: GPL-2.0-only
// N-API surface of the addon. This file only converts arguments and results and schedules blocking work
// (load, attach, detach, close, ring buffer polls) on the libuv pool as Promises; the libbpf logic is in
// core.cc.
#include <napi.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "core.h"
#include "convert.h"
#include "job.h"
#include "widenedthread.h"

namespace {

using bpflsm::BytesArg;
using bpflsm::Failure;
using bpflsm::Job;
using bpflsm::StringArg;
using bpflsm::StringListArg;
using bpflsm::ToError;
using bpflsm::UintArg;

Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, std::vector<uint8_t>&& bytes) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  return Napi::Buffer<uint8_t>::NewOrCopy(env, owned->data(), owned->size(),
                                          [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, owned);
}

Napi::Array AttachResults(Napi::Env env, const std::vector<bpflsm::AttachResult>& results) {
  Napi::Array out = Napi::Array::New(env, results.size());
  for (size_t i = 0; i < results.size(); i++) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("program", results[i].program);
    r.Set("ok", results[i].err == 0);
    if (results[i].err) {
      const char* name = strerrorname_np(results[i].err);
      r.Set("code", name ? name : "EUNKNOWN");
      r.Set("errno", results[i].err);
      r.Set("message", results[i].message);
    }
    out.Set(i, r);
  }
  return out;
}

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::FunctionReference constructor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfObject",
                       {
                           StaticMethod("openFile", &BpfObject::OpenFile),
                           StaticMethod("openBuffer", &BpfObject::OpenBuffer),
                           InstanceAccessor("name", &BpfObject::Name, nullptr),
                           InstanceAccessor("loaded", &BpfObject::Loaded, nullptr),
                           InstanceMethod("programs", &BpfObject::Programs),
                           InstanceMethod("maps", &BpfObject::Maps),
                           InstanceMethod("btf", &BpfObject::Btf),
                           InstanceMethod("setAutoload", &BpfObject::SetAutoload),
                           InstanceMethod("setGlobal", &BpfObject::SetGlobal),
                           InstanceMethod("getGlobal", &BpfObject::GetGlobal),
                           InstanceMethod("load", &BpfObject::Load),
                           InstanceMethod("attach", &BpfObject::Attach),
                           InstanceMethod("detach", &BpfObject::Detach),
                           InstanceMethod("pinLink", &BpfObject::PinLink),
                           InstanceMethod("pinProgram", &BpfObject::PinProgram),
                           InstanceMethod("forgetLink", &BpfObject::ForgetLink),
                           InstanceMethod("setMapPinPath", &BpfObject::SetMapPinPath),
                           InstanceMethod("setMapAutocreate", &BpfObject::SetMapAutocreate),
                           InstanceMethod("setInnerMap", &BpfObject::SetInnerMap),
                           InstanceMethod("mapLookup", &BpfObject::MapLookup),
                           InstanceMethod("mapUpdate", &BpfObject::MapUpdate),
                           InstanceMethod("mapDelete", &BpfObject::MapDelete),
                           InstanceMethod("mapEntries", &BpfObject::MapEntries),
                           InstanceMethod("close", &BpfObject::Close),
                       });
  }

  BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "use BpfObject.openFile() or BpfObject.openBuffer()");
    auto* holder = info[0].As<Napi::External<std::shared_ptr<bpflsm::Object>>>().Data();
    object_ = *holder;
  }

  std::shared_ptr<bpflsm::Object> object() { return object_; }

 private:
  static Napi::Value Wrap(Napi::Env env, std::shared_ptr<bpflsm::Object> obj) {
    std::shared_ptr<bpflsm::Object> holder = std::move(obj);
    return constructor.New({Napi::External<std::shared_ptr<bpflsm::Object>>::New(env, &holder)});
  }

  static Napi::Value OpenFile(const Napi::CallbackInfo& info) {
    std::string path = StringArg(info, 0, "path");
    Failure f;
    auto obj = bpflsm::Object::OpenFile(path, f);
    if (!obj) throw ToError(info.Env(), f);
    return Wrap(info.Env(), obj);
  }

  static Napi::Value OpenBuffer(const Napi::CallbackInfo& info) {
    std::vector<uint8_t> bytes = BytesArg(info, 0, "bytes");
    std::string name = StringArg(info, 1, "name");
    Failure f;
    auto obj = bpflsm::Object::OpenMemory(bytes.data(), bytes.size(), name, f);
    if (!obj) throw ToError(info.Env(), f);
    return Wrap(info.Env(), obj);
  }

  /** Synchronous calls never wait for a running load/attach: they fail fast so the event loop stays free. */
  std::unique_lock<std::mutex> Hold(Napi::Env env) {
    std::unique_lock<std::mutex> guard(object_->lock(), std::try_to_lock);
    if (!guard.owns_lock()) {
      Failure f{EBUSY, "object " + object_->name() + " is busy with a load, attach, detach or close; await it first"};
      throw ToError(env, f);
    }
    if (object_->closed()) throw ToError(env, Failure{EBADF, "object " + object_->name() + " is closed"});
    return guard;
  }

  Napi::Value Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), object_->name()); }
  Napi::Value Loaded(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), object_->loaded()); }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    auto guard = Hold(info.Env());
    auto programs = object_->Programs();
    Napi::Array out = Napi::Array::New(info.Env(), programs.size());
    for (size_t i = 0; i < programs.size(); i++) {
      Napi::Object p = Napi::Object::New(info.Env());
      p.Set("name", programs[i].name);
      p.Set("section", programs[i].section);
      p.Set("type", programs[i].type);
      p.Set("attachType", programs[i].attachType);
      p.Set("attachTarget", programs[i].attachTarget);
      p.Set("autoload", programs[i].autoload);
      p.Set("loaded", programs[i].loaded);
      p.Set("attached", programs[i].attached);
      p.Set("pinned", programs[i].pinned);
      p.Set("instructions", programs[i].insnCount);
      out.Set(i, p);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo& info) {
    auto guard = Hold(info.Env());
    auto maps = object_->Maps();
    Napi::Array out = Napi::Array::New(info.Env(), maps.size());
    for (size_t i = 0; i < maps.size(); i++) {
      Napi::Object m = Napi::Object::New(info.Env());
      m.Set("name", maps[i].name);
      m.Set("type", maps[i].type);
      m.Set("keySize", maps[i].keySize);
      m.Set("valueSize", maps[i].valueSize);
      m.Set("maxEntries", maps[i].maxEntries);
      m.Set("flags", maps[i].flags);
      m.Set("btfKeyTypeId", maps[i].btfKeyTypeId);
      m.Set("btfValueTypeId", maps[i].btfValueTypeId);
      m.Set("internal", maps[i].internal);
      out.Set(i, m);
    }
    return out;
  }

  Napi::Value Btf(const Napi::CallbackInfo& info) {
    auto guard = Hold(info.Env());
    Failure f;
    auto raw = object_->RawBtf(f);
    if (f) throw ToError(info.Env(), f);
    return ToBuffer(info.Env(), std::move(raw));
  }

  // setAutoload, setMapAutocreate: (name, flag) -> undefined, or a thrown NativeError.
  Napi::Value NameAndFlag(const Napi::CallbackInfo& info, const char* what, const char* flag, Failure (bpflsm::Object::*call)(const std::string&, bool)) {
    std::string name = StringArg(info, 0, what);
    if (info.Length() < 2 || !info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(flag) + " must be a boolean");
    auto guard = Hold(info.Env());
    Failure f = (object_.get()->*call)(name, info[1].As<Napi::Boolean>().Value());
    if (f) throw ToError(info.Env(), f);
    return info.Env().Undefined();
  }

  Napi::Value SetAutoload(const Napi::CallbackInfo& info) { return NameAndFlag(info, "program", "autoload", &bpflsm::Object::SetAutoload); }
  Napi::Value SetMapAutocreate(const Napi::CallbackInfo& info) { return NameAndFlag(info, "map", "autocreate", &bpflsm::Object::SetMapAutocreate); }

  Napi::Value SetGlobal(const Napi::CallbackInfo& info) {
    std::string name = StringArg(info, 0, "name");
    std::vector<uint8_t> bytes = BytesArg(info, 1, "value");
    auto guard = Hold(info.Env());
    Failure f = object_->SetGlobal(name, bytes.data(), bytes.size());
    if (f) throw ToError(info.Env(), f);
    return info.Env().Undefined();
  }

  Napi::Value GetGlobal(const Napi::CallbackInfo& info) {
    std::string name = StringArg(info, 0, "name");
    auto guard = Hold(info.Env());
    std::vector<uint8_t> out;
    Failure f = object_->GetGlobal(name, out);
    if (f) throw ToError(info.Env(), f);
    return ToBuffer(info.Env(), std::move(out));
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    uint32_t level = UintArg(info, 0, "logLevel");
    uint32_t size = UintArg(info, 1, "logSize");
    if (level > 2) throw Napi::RangeError::New(info.Env(), "logLevel must be 0, 1 or 2");
    if (size < 4096 || size > (1u << 30)) throw Napi::RangeError::New(info.Env(), "logSize must be from 4 KiB to 1 GiB");
    std::vector<std::string> attach;
    if (info.Length() > 2 && !info[2].IsUndefined()) attach = StringListArg(info, 2, "attach");
    uint32_t cpus = info.Length() > 3 && !info[3].IsUndefined() ? UintArg(info, 3, "cpus") : 0;
    auto obj = object_;
    return Job<bpflsm::LoadResult>::Start(
        info.Env(), obj,
        [obj, level, size, attach, cpus]() {
          bpflsm::WidenedThread widened(cpus);
          return obj->Load(level, size, attach);
        },
        [](Napi::Env env, bpflsm::LoadResult& r) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("attached", AttachResults(env, r.attached));
          Napi::Object logs = Napi::Object::New(env);
          for (auto& [prog, log] : r.logs) logs.Set(prog, log);
          out.Set("logs", logs);
          out.Set("truncated", r.truncated);
          return out;
        },
        [](bpflsm::LoadResult& r) { return r.failure; },
        [](Napi::Error& e, bpflsm::LoadResult& r) {
          Napi::Env env = e.Env();
          std::string log;
          for (auto& [prog, text] : r.logs) log += text;
          e.Set("log", Napi::String::New(env, log));
          e.Set("program", r.failedProgram.empty() ? env.Null() : Napi::String::New(env, r.failedProgram));
          e.Set("truncated", Napi::Boolean::New(env, r.truncated));
        });
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    auto names = StringListArg(info, 0, "programs");
    auto obj = object_;
    return Job<std::vector<bpflsm::AttachResult>>::Start(
        info.Env(), obj, [obj, names]() { return obj->Attach(names); },
        [](Napi::Env env, std::vector<bpflsm::AttachResult>& r) -> Napi::Value { return AttachResults(env, r); }, nullptr);
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    auto names = StringListArg(info, 0, "programs");
    auto obj = object_;
    return Job<std::vector<bpflsm::AttachResult>>::Start(
        info.Env(), obj, [obj, names]() { return obj->Detach(names); },
        [](Napi::Env env, std::vector<bpflsm::AttachResult>& r) -> Napi::Value { return AttachResults(env, r); }, nullptr);
  }

  // pinLink, pinProgram, setMapPinPath: (name, path) -> undefined, or a thrown NativeError.
  Napi::Value NameAndPath(const Napi::CallbackInfo& info, const char* what, Failure (bpflsm::Object::*call)(const std::string&, const std::string&)) {
    std::string name = StringArg(info, 0, what);
    std::string path = StringArg(info, 1, "path");
    auto guard = Hold(info.Env());
    Failure f = (object_.get()->*call)(name, path);
    if (f) throw ToError(info.Env(), f);
    return info.Env().Undefined();
  }

  Napi::Value PinLink(const Napi::CallbackInfo& info) { return NameAndPath(info, "program", &bpflsm::Object::PinLink); }
  Napi::Value PinProgram(const Napi::CallbackInfo& info) { return NameAndPath(info, "program", &bpflsm::Object::PinProgram); }
  Napi::Value SetMapPinPath(const Napi::CallbackInfo& info) { return NameAndPath(info, "map", &bpflsm::Object::SetMapPinPath); }

  Napi::Value ForgetLink(const Napi::CallbackInfo& info) {
    std::string prog = StringArg(info, 0, "program");
    auto guard = Hold(info.Env());
    Failure f = object_->ForgetLink(prog);
    if (f) throw ToError(info.Env(), f);
    return info.Env().Undefined();
  }

  Napi::Value SetInnerMap(const Napi::CallbackInfo& info) {
    std::string outer = StringArg(info, 0, "outer map");
    auto key = BytesArg(info, 1, "key");
    std::string inner = StringArg(info, 2, "inner map");
    auto guard = Hold(info.Env());
    Failure f = object_->SetInnerMap(outer, key, inner);
    if (f) throw ToError(info.Env(), f);
    return info.Env().Undefined();
  }

  Napi::Value MapLookup(const Napi::CallbackInfo& info) {
    std::string map = StringArg(info, 0, "map");
    auto key = BytesArg(info, 1, "key");
    auto guard = Hold(info.Env());
    std::vector<uint8_t> value;
    bool found = false;
    Failure f = object_->MapLookup(map, key, value, found);
    if (f) throw ToError(info.Env(), f);
    if (!found) return info.Env().Null();
    return ToBuffer(info.Env(), std::move(value));
  }

  Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
    std::string map = StringArg(info, 0, "map");
    auto key = BytesArg(info, 1, "key");
    auto value = BytesArg(info, 2, "value");
    uint32_t flags = info.Length() > 3 ? UintArg(info, 3, "flags") : 0;
    auto guard = Hold(info.Env());
    Failure f = object_->MapUpdate(map, key, value, flags);
    if (f) throw ToError(info.Env(), f);
    return info.Env().Undefined();
  }

  Napi::Value MapDelete(const Napi::CallbackInfo& info) {
    std::string map = StringArg(info, 0, "map");
    auto key = BytesArg(info, 1, "key");
    auto guard = Hold(info.Env());
    bool found = false;
    Failure f = object_->MapDelete(map, key, found);
    if (f) throw ToError(info.Env(), f);
    return Napi::Boolean::New(info.Env(), found);
  }

  Napi::Value MapEntries(const Napi::CallbackInfo& info) {
    std::string map = StringArg(info, 0, "map");
    std::vector<uint8_t> start;
    if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) start = BytesArg(info, 1, "start key");
    uint32_t limit = UintArg(info, 2, "limit");
    auto guard = Hold(info.Env());
    std::vector<uint8_t> keys, values;
    uint32_t count = 0;
    bool more = false;
    Failure f = object_->MapEntries(map, start, limit, keys, values, count, more);
    if (f) throw ToError(info.Env(), f);
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("count", count);
    out.Set("more", more);
    out.Set("keys", ToBuffer(info.Env(), std::move(keys)));
    out.Set("values", ToBuffer(info.Env(), std::move(values)));
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    auto obj = object_;
    return Job<int>::Start(
        info.Env(), obj, [obj]() { obj->Close(); return 0; },
        [](Napi::Env env, int&) -> Napi::Value { return env.Undefined(); }, nullptr);
  }

  std::shared_ptr<bpflsm::Object> object_;
};

Napi::FunctionReference BpfObject::constructor;

struct PollResult {
  int64_t count = 0;
  Failure failure;
};

class RingConsumer : public Napi::ObjectWrap<RingConsumer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RingConsumer",
                       {InstanceMethod("poll", &RingConsumer::Poll), InstanceMethod("close", &RingConsumer::Close)});
  }

  RingConsumer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingConsumer>(info) {
    if (info.Length() < 2 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(BpfObject::constructor.Value()))
      throw Napi::TypeError::New(info.Env(), "new RingConsumer(object: BpfObject, maps: string[])");
    auto maps = StringListArg(info, 1, "maps");
    if (maps.empty() || maps.size() > 65535) throw Napi::RangeError::New(info.Env(), "maps must name 1 to 65535 ring buffers");
    auto obj = BpfObject::Unwrap(info[0].As<Napi::Object>())->object();
    std::unique_lock<std::mutex> guard(obj->lock(), std::try_to_lock);
    if (!guard.owns_lock()) throw ToError(info.Env(), Failure{EBUSY, "object " + obj->name() + " is busy; await its load first"});
    Failure f;
    batcher_ = std::shared_ptr<bpflsm::RingBatcher>(bpflsm::RingBatcher::Create(obj, maps, f).release());
    if (!batcher_) throw ToError(info.Env(), f);
  }

 private:
  class PollJob : public Napi::AsyncWorker {
   public:
    PollJob(Napi::Env env, RingConsumer* owner, int timeout, size_t maxBytes)
        : Napi::AsyncWorker(env, "bpflsm.poll"), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner),
          batcher_(owner->batcher_), timeout_(timeout), maxBytes_(maxBytes) {
      ref_ = Napi::Persistent(owner->Value());
    }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      result_.count = batcher_->Poll(timeout_, maxBytes_, result_.failure);
    }
    void OnOK() override {
      Napi::Env env = Env();
      owner_->polling_ = false;
      if (owner_->closeRequested_) owner_->Release();
      if (result_.failure) {
        deferred_.Reject(ToError(env, result_.failure).Value());
        return;
      }
      Napi::Object out = Napi::Object::New(env);
      out.Set("count", Napi::Number::New(env, static_cast<double>(result_.count)));
      // A copy on this thread: the batcher's buffer is reused by the next poll.
      out.Set("data", Napi::Buffer<uint8_t>::Copy(env, batcher_->data(), batcher_->size()));
      deferred_.Resolve(out);
    }
    void OnError(const Napi::Error& e) override {
      owner_->polling_ = false;
      if (owner_->closeRequested_) owner_->Release();
      deferred_.Reject(e.Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    RingConsumer* owner_;
    std::shared_ptr<bpflsm::RingBatcher> batcher_;
    Napi::ObjectReference ref_;
    int timeout_;
    size_t maxBytes_;
    PollResult result_;
  };

  Napi::Value Poll(const Napi::CallbackInfo& info) {
    uint32_t timeout = UintArg(info, 0, "timeoutMs");
    uint32_t maxBytes = UintArg(info, 1, "maxBytes");
    if (timeout > 60000) throw Napi::RangeError::New(info.Env(), "timeoutMs must be at most 60000");
    if (maxBytes < 64 || maxBytes > (256u << 20)) throw Napi::RangeError::New(info.Env(), "maxBytes must be from 64 bytes to 256 MiB");
    if (!batcher_ || closeRequested_) throw ToError(info.Env(), Failure{EBADF, "ring buffer consumer is closed"});
    if (polling_) throw ToError(info.Env(), Failure{EBUSY, "a poll is already running on this consumer; await it first"});
    polling_ = true;
    auto* job = new PollJob(info.Env(), this, static_cast<int>(timeout), maxBytes);
    Napi::Promise p = job->Promise();
    job->Queue();
    return p;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    // A poll in flight still uses the rings; they are freed when it returns (at most its timeout later).
    closeRequested_ = true;
    if (!polling_) Release();
    return info.Env().Undefined();
  }

  void Release() {
    if (batcher_) batcher_->Free();
    batcher_.reset();
  }

  std::shared_ptr<bpflsm::RingBatcher> batcher_;
  bool polling_ = false;
  bool closeRequested_ = false;
};

// Indexes the kernel's LSM hooks on the pool (no object lock), so a helper can do it before its first load needs it.
Napi::Value IndexLsmHooks(const Napi::CallbackInfo& info) {
  return Job<int>::Start(
      info.Env(), nullptr, [] { return bpflsm::IndexLsmHooks(); },
      [](Napi::Env env, int& hooks) -> Napi::Value { return Napi::Number::New(env, hooks); },
      [](int& hooks) { return hooks >= 0 ? Failure{} : bpflsm::Fail(-hooks, "cannot index the kernel's LSM hooks: " + bpflsm::ErrnoText(-hooks)); });
}

// On the pool: each attach updates a BPF trampoline (~20 ms under TCG), ~230 of them after an idle time.
Napi::Value AttachPinnedPrograms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "pairs must be an array of [programPath, linkPath]");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    Napi::Array pair = v.IsArray() ? v.As<Napi::Array>() : Napi::Array::New(env);
    if (pair.Length() != 2 || !pair.Get(0u).IsString() || !pair.Get(1u).IsString()) throw Napi::TypeError::New(env, "pairs must be an array of [programPath, linkPath]");
    pairs.emplace_back(pair.Get(0u).As<Napi::String>().Utf8Value(), pair.Get(1u).As<Napi::String>().Utf8Value());
  }
  return Job<Failure>::Start(
      env, nullptr,
      [pairs = std::move(pairs)] {
        for (const auto& [prog, link] : pairs) {
          if (Failure f = bpflsm::AttachPinnedProgram(prog, link)) return f;
        }
        return Failure{};
      },
      [](Napi::Env env, Failure&) -> Napi::Value { return env.Undefined(); }, [](Failure& f) { return f; });
}

Napi::Value DetachPinnedLinks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> paths = StringListArg(info, 0, "paths");
  using Outcome = std::pair<Failure, uint32_t>;
  return Job<Outcome>::Start(
      env, nullptr,
      [paths = std::move(paths)] {
        Outcome out{};
        for (const auto& path : paths) {
          bool found = false;
          if ((out.first = bpflsm::DetachPinnedLink(path, &found))) break;
          out.second += found ? 1 : 0;
        }
        return out;
      },
      [](Napi::Env env, Outcome& o) -> Napi::Value { return Napi::Number::New(env, o.second); }, [](Outcome& o) { return o.first; });
}

// Ends the process without exit()'s handlers. libuv joins its thread pool at exit, and a pool thread
// blocked in read() on the VM's helper channel (a virtio-serial port, which only returns at the host's
// end of the connection) would hold exit() up for ever.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  fflush(nullptr);
  _exit(code);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function object = BpfObject::Define(env);
  BpfObject::constructor = Napi::Persistent(object);
  exports.Set("BpfObject", object);
  exports.Set("RingConsumer", RingConsumer::Define(env));
  exports.Set("libbpfVersion", Napi::String::New(env, bpflsm::LibbpfVersion()));
  exports.Set("recordHeaderSize", Napi::Number::New(env, bpflsm::RingBatcher::kHeader));
  exports.Set("indexLsmHooks", Napi::Function::New(env, IndexLsmHooks, "indexLsmHooks"));
  exports.Set("attachPinnedPrograms", Napi::Function::New(env, AttachPinnedPrograms, "attachPinnedPrograms"));
  exports.Set("detachPinnedLinks", Napi::Function::New(env, DetachPinnedLinks, "detachPinnedLinks"));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow, "exitNow"));
  return exports;
}

}  // namespace

NODE_API_MODULE(bpflsm, Init)
