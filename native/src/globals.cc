// SPDX-License-Identifier: GPL-2.0-only
// An object's global variables, read and written in place: found by name in the object's BTF (each DATASEC
// of .rodata/.bss/.data and their named variants, with the internal map that backs it), and every access
// bounds-checked in 64 bits against that map's storage first, because the offsets come from the object's
// symbols, which a crafted object sets freely (0xfffffff8 + 8 wraps to 0 in 32 bits). The helper describes the
// globals' and maps' types itself from the raw BTF (extension/shared/btf/describe.ts), which also leaves out a
// global outside its section. core.cc keeps the object's lifetime: open, load, attach, maps and teardown.
#include "core.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>

namespace bpflsm {
namespace {
bool IsGlobalSection(const char* name) {
  return name && (strcmp(name, ".rodata") == 0 || strcmp(name, ".bss") == 0 || strcmp(name, ".data") == 0 ||
                  strncmp(name, ".rodata.", 8) == 0 || strncmp(name, ".data.", 6) == 0);
}

struct GlobalVar {
  std::string name, section;
  uint32_t offset = 0, size = 0;
  bpf_map* map = nullptr;
};

/** Whether [offset, offset + size) lies inside storage of `total` bytes, computed without wrapping. */
bool InRange(uint64_t offset, uint64_t size, uint64_t total) {
  return offset <= total && size <= total - offset;
}

std::string OutOfRange(const GlobalVar& g, size_t total) {
  return "global " + g.name + " lies outside " + g.section + " (offset " + std::to_string(g.offset) + " + " + std::to_string(g.size) +
         " bytes, the section has " + std::to_string(total) + "); the object is malformed, rebuild it with clang";
}

std::vector<GlobalVar> CollectGlobals(bpf_object* obj) {
  std::vector<GlobalVar> out;
  const struct btf* btf = bpf_object__btf(obj);
  if (!btf) return out;
  uint32_t n = btf__type_cnt(btf);
  for (uint32_t id = 1; id < n; id++) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (!btf_is_datasec(t)) continue;
    const char* secName = btf__name_by_offset(btf, t->name_off);
    if (!IsGlobalSection(secName)) continue;
    bpf_map* owner = nullptr;
    bpf_map* m;
    bpf_object__for_each_map(m, obj) {
      if (bpf_map__is_internal(m) && bpf_map__btf_value_type_id(m) == id) owner = m;
    }
    if (!owner) continue;
    const struct btf_var_secinfo* v = btf_var_secinfos(t);
    for (int i = 0; i < btf_vlen(t); i++, v++) {
      const struct btf_type* var = btf__type_by_id(btf, v->type);
      if (!var || !btf_is_var(var)) continue;
      GlobalVar g;
      g.name = btf__name_by_offset(btf, var->name_off);
      g.section = secName;
      g.offset = v->offset;
      g.size = v->size;
      g.map = owner;
      out.push_back(g);
    }
  }
  return out;
}

}  // namespace

Failure Object::SetGlobal(const std::string& name, const void* data, size_t size) {
  if (!obj_) return Fail(EBADF, "object is closed");
  for (const GlobalVar& g : CollectGlobals(obj_)) {
    if (g.name != name) continue;
    if (size != g.size) return Fail(EINVAL, "global " + name + " is " + std::to_string(g.size) + " bytes, got " + std::to_string(size));
    if (loaded_ && g.section.rfind(".rodata", 0) == 0)
      return Fail(EPERM, "global " + name + " is in " + g.section + " (const volatile) and the object is loaded; set it before loading");
    size_t total = 0;
    void* base = const_cast<void*>(bpf_map__initial_value(g.map, &total));
    if (!base) return Fail(EFAULT, "storage of global " + name + " is not accessible");
    if (!InRange(g.offset, g.size, total)) return Fail(EINVAL, OutOfRange(g, total));
    memcpy(static_cast<uint8_t*>(base) + g.offset, data, size);
    return {};
  }
  return Fail(ENOENT, "no global variable named \"" + name + "\" in .rodata/.bss/.data of " + name_);
}

Failure Object::GetGlobal(const std::string& name, std::vector<uint8_t>& out) {
  if (!obj_) return Fail(EBADF, "object is closed");
  for (const GlobalVar& g : CollectGlobals(obj_)) {
    if (g.name != name) continue;
    size_t total = 0;
    const void* base = bpf_map__initial_value(g.map, &total);
    if (!base) return Fail(EFAULT, "storage of global " + name + " is not accessible");
    if (!InRange(g.offset, g.size, total)) return Fail(EINVAL, OutOfRange(g, total));
    const uint8_t* p = static_cast<const uint8_t*>(base) + g.offset;
    out.assign(p, p + g.size);
    return {};
  }
  return Fail(ENOENT, "no global variable named \"" + name + "\" in .rodata/.bss/.data of " + name_);
}

}  // namespace bpflsm
