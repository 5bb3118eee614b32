// SPDX-License-Identifier: GPL-2.0-only
// What an object declares, for the helper: its global variables (collected from the ELF symbols, bounds
// checked in 64 bits, read and written in place) and JSON descriptions of BTF types for globals and maps.
// Split from core.cc, which keeps the object's lifetime: open, load, attach, maps and teardown.
#include "core.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace bpflsm {
namespace {
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// An object's BTF is the client's: a description is bounded in depth and in nodes (a crafted BTF can nest
// a struct of 65535 members 12 levels deep, or chain typedefs in a loop), and whatever is past a bound is
// described as opaque bytes of its size, which the codec shows raw.
constexpr int kMaxTypeDepth = 12;
constexpr size_t kMaxTypeNodes = 20000;
constexpr int kMaxTypedefChain = 64;

/** A BTF type as JSON for the TypeScript codec; modifiers and typedefs are looked through. */
std::string DescribeType(const struct btf* btf, uint32_t id, int depth, size_t& nodes) {
  if (depth > kMaxTypeDepth || ++nodes > kMaxTypeNodes) {
    long long size = btf__resolve_size(btf, id);
    return "{\"kind\":\"opaque\",\"size\":" + std::to_string(size < 0 ? 0 : size) + "}";
  }
  std::string typedefName;
  const struct btf_type* t = btf__type_by_id(btf, id);
  for (int hops = 0; t && (btf_is_mod(t) || btf_is_typedef(t)); hops++) {
    if (hops == kMaxTypedefChain) return "{\"kind\":\"opaque\",\"size\":0}";
    if (btf_is_typedef(t) && typedefName.empty()) typedefName = btf__name_by_offset(btf, t->name_off);
    id = t->type;
    t = btf__type_by_id(btf, id);
  }
  if (!t || id == 0) return "{\"kind\":\"void\",\"size\":0}";
  const char* rawName = btf__name_by_offset(btf, t->name_off);
  std::string name = rawName && *rawName ? rawName : typedefName;
  long long size = btf__resolve_size(btf, id);
  if (size < 0) size = 0;
  std::ostringstream o;
  o << "{";
  if (btf_is_int(t)) {
    uint8_t enc = btf_int_encoding(t);
    o << "\"kind\":\"int\",\"name\":" << JsonString(name) << ",\"size\":" << size
      << ",\"signed\":" << ((enc & BTF_INT_SIGNED) ? "true" : "false")
      << ",\"bool\":" << ((enc & BTF_INT_BOOL) ? "true" : "false")
      << ",\"char\":" << ((enc & BTF_INT_CHAR) ? "true" : "false");
  } else if (btf_is_enum(t) || btf_is_enum64(t)) {
    o << "\"kind\":\"enum\",\"name\":" << JsonString(name) << ",\"size\":" << size
      << ",\"signed\":" << (btf_kflag(t) ? "true" : "false") << ",\"values\":{";
    int n = btf_vlen(t);
    for (int i = 0; i < n; i++) {
      if (i) o << ",";
      if (btf_is_enum(t)) {
        const struct btf_enum* e = btf_enum(t) + i;
        o << JsonString(btf__name_by_offset(btf, e->name_off)) << ":" << (btf_kflag(t) ? (long long)e->val : (long long)(uint32_t)e->val);
      } else {
        const struct btf_enum64* e = btf_enum64(t) + i;
        o << JsonString(btf__name_by_offset(btf, e->name_off)) << ":" << (long long)btf_enum64_value(e);
      }
    }
    o << "}";
  } else if (btf_is_ptr(t)) {
    o << "\"kind\":\"ptr\",\"size\":" << size;
  } else if (btf_is_array(t)) {
    const struct btf_array* a = btf_array(t);
    o << "\"kind\":\"array\",\"length\":" << a->nelems << ",\"size\":" << size
      << ",\"elem\":" << DescribeType(btf, a->type, depth + 1, nodes);
  } else if (btf_is_composite(t)) {
    o << "\"kind\":\"" << (btf_is_struct(t) ? "struct" : "union") << "\",\"name\":" << JsonString(name)
      << ",\"size\":" << size << ",\"members\":[";
    int n = btf_vlen(t);
    const struct btf_member* m = btf_members(t);
    for (int i = 0; i < n; i++, m++) {
      if (i) o << ",";
      uint32_t bitOffset = btf_member_bit_offset(t, i);
      uint32_t bitSize = btf_member_bitfield_size(t, i);
      o << "{\"name\":" << JsonString(btf__name_by_offset(btf, m->name_off)) << ",\"offset\":" << bitOffset / 8
        << ",\"bitOffset\":" << bitOffset << ",\"bitSize\":" << bitSize
        << ",\"type\":" << DescribeType(btf, m->type, depth + 1, nodes) << "}";
    }
    o << "]";
  } else if (btf_is_float(t)) {
    o << "\"kind\":\"float\",\"size\":" << size;
  } else {
    o << "\"kind\":\"opaque\",\"name\":" << JsonString(name) << ",\"size\":" << size;
  }
  o << "}";
  return o.str();
}

bool IsGlobalSection(const char* name) {
  return name && (strcmp(name, ".rodata") == 0 || strcmp(name, ".bss") == 0 || strcmp(name, ".data") == 0 ||
                  strncmp(name, ".rodata.", 8) == 0 || strncmp(name, ".data.", 6) == 0);
}

struct GlobalVar {
  std::string name, section;
  uint32_t offset = 0, size = 0, typeId = 0;
  bpf_map* map = nullptr;
  // False when offset + size runs past the section's storage: the offsets come from the object's symbols,
  // which a crafted object sets freely (0xfffffff8 + 8 wraps to 0 in 32 bits).
  bool inRange = false;
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
    size_t total = 0;
    const void* storage = bpf_map__initial_value(owner, &total);
    const struct btf_var_secinfo* v = btf_var_secinfos(t);
    for (int i = 0; i < btf_vlen(t); i++, v++) {
      const struct btf_type* var = btf__type_by_id(btf, v->type);
      if (!var || !btf_is_var(var)) continue;
      GlobalVar g;
      g.name = btf__name_by_offset(btf, var->name_off);
      g.section = secName;
      g.offset = v->offset;
      g.size = v->size;
      g.typeId = var->type;
      g.map = owner;
      g.inRange = storage && InRange(g.offset, g.size, total);
      out.push_back(g);
    }
  }
  return out;
}

}  // namespace

std::string Object::GlobalsJson() {
  std::ostringstream o;
  o << "[";
  if (obj_) {
    const struct btf* btf = bpf_object__btf(obj_);
    bool first = true;
    size_t nodes = 0;  // one budget for the whole list
    for (const GlobalVar& g : CollectGlobals(obj_)) {
      if (!g.inRange) continue;  // never offered: GetGlobal/SetGlobal refuse it with the reason
      if (!first) o << ",";
      first = false;
      o << "{\"name\":" << JsonString(g.name) << ",\"section\":" << JsonString(g.section) << ",\"offset\":" << g.offset
        << ",\"size\":" << g.size << ",\"type\":" << DescribeType(btf, g.typeId, 0, nodes) << "}";
    }
  }
  o << "]";
  return o.str();
}

std::string Object::MapTypesJson(const std::string& name, Failure& failure) {
  bpf_map* m = FindMap(name);
  if (!m) {
    failure = Fail(ENOENT, "no map named \"" + name + "\" in object " + name_);
    return "";
  }
  const struct btf* btf = bpf_object__btf(obj_);
  std::ostringstream o;
  uint32_t k = bpf_map__btf_key_type_id(m), v = bpf_map__btf_value_type_id(m);
  size_t nodes = 0;
  o << "{\"key\":" << (btf && k ? DescribeType(btf, k, 0, nodes) : "null") << ",\"value\":" << (btf && v ? DescribeType(btf, v, 0, nodes) : "null") << "}";
  return o.str();
}

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
