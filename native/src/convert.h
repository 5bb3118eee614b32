// SPDX-License-Identifier: GPL-2.0-only
// Argument and error conversion shared by the addon's N-API surface (binding.cc).
#ifndef BPFLSM_CONVERT_H
#define BPFLSM_CONVERT_H

#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "core.h"

namespace bpflsm {

/** A JavaScript Error for a Failure, with its errno and the errno's symbolic name as `code`. */
inline Napi::Error ToError(Napi::Env env, const Failure& f) {
  Napi::Error e = Napi::Error::New(env, f.message);
  const char* name = strerrorname_np(f.err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, f.err));
  return e;
}

inline std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline std::vector<uint8_t> BytesArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  auto b = info[i].As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

}  // namespace bpflsm

#endif
