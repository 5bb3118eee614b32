// SPDX-License-Identifier: GPL-2.0-only
#include "core.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <regex>
#include <sstream>
#include <sys/mman.h>
#include <unistd.h>

namespace bpflsm {
namespace {

thread_local LibbpfMessages* currentSink = nullptr;

int PrintToSink(enum libbpf_print_level level, const char* format, va_list args) {
  // Debug chatter is never useful to a user; warnings and info explain failures (e.g. missing kernel
  // features, attach errors), so they are attached to the operation's error message.
  if (level == LIBBPF_DEBUG || currentSink == nullptr) return 0;
  char line[1024];
  va_list copy;
  va_copy(copy, args);
  vsnprintf(line, sizeof(line), format, copy);
  va_end(copy);
  currentSink->append(line);
  return 0;
}

struct PrintInstaller {
  PrintInstaller() { libbpf_set_print(PrintToSink); }
} installPrint;

}  // namespace

void NoteLibbpfMessage(const std::string& line) {
  if (currentSink) currentSink->append(line.c_str());
}

Failure Fail(int err, const std::string& message) {
  Failure f;
  f.err = err < 0 ? -err : err;
  if (f.err == 0) f.err = EINVAL;
  f.message = message;
  return f;
}

std::string ErrnoText(int err) {
  if (err < 0) err = -err;
  // strerror_r: the ring buffer poll runs on a pool thread, and strerror's text for an unknown code (such
  // as the kernel-internal ENOTSUPP, 524) lives in a shared buffer.
  char buf[128];
  return std::string(strerror_r(err, buf, sizeof(buf)));
}

/** libbpf output minus its "libbpf: " prefixes and trailing newline, for one readable message. */
std::string Tidy(const std::string& raw) {
  std::string out;
  std::istringstream lines(raw);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("libbpf: ", 0) == 0) line = line.substr(8);
    if (line.empty()) continue;
    if (!out.empty()) out += "\n";
    out += line;
  }
  return out;
}

LibbpfMessages::LibbpfMessages() : previous_(currentSink) { currentSink = this; }
LibbpfMessages::~LibbpfMessages() { currentSink = previous_; }

std::string LibbpfVersion() {
  return std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version());
}

std::shared_ptr<Object> Object::OpenFile(const std::string& path, Failure& failure) {
  LibbpfMessages messages;
  bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (!obj) {
    int err = errno;
    failure = Fail(err, "cannot open BPF object " + path + ": " + ErrnoText(err) + (messages.text().empty() ? "" : "\n" + Tidy(messages.text())));
    return nullptr;
  }
  return std::shared_ptr<Object>(new Object(obj, bpf_object__name(obj)));
}

std::shared_ptr<Object> Object::OpenMemory(const void* data, size_t size, const std::string& name, Failure& failure) {
  LibbpfMessages messages;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str());
  bpf_object* obj = bpf_object__open_mem(data, size, &opts);
  if (!obj) {
    int err = errno;
    failure = Fail(err, "cannot open BPF object " + name + " (" + std::to_string(size) + " bytes): " + ErrnoText(err) +
                            (messages.text().empty() ? "" : "\n" + Tidy(messages.text())));
    return nullptr;
  }
  return std::shared_ptr<Object>(new Object(obj, bpf_object__name(obj)));
}

Object::~Object() { Close(); }

bpf_program* Object::FindProgram(const std::string& name) {
  return obj_ ? bpf_object__find_program_by_name(obj_, name.c_str()) : nullptr;
}

bpf_map* Object::FindMap(const std::string& name) {
  if (!obj_) return nullptr;
  bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
  if (m) return m;
  // Internal maps are named "<object prefix>.bss"; let callers say ".bss".
  bpf_object__for_each_map(m, obj_) {
    const char* n = bpf_map__name(m);
    size_t len = strlen(n);
    if (bpf_map__is_internal(m) && len >= name.size() && name[0] == '.' && strcmp(n + len - name.size(), name.c_str()) == 0)
      return m;
  }
  return nullptr;
}

std::vector<ProgramInfo> Object::Programs() {
  std::vector<ProgramInfo> out;
  if (!obj_) return out;
  bpf_program* p;
  bpf_object__for_each_program(p, obj_) {
    ProgramInfo info;
    info.name = bpf_program__name(p);
    info.section = bpf_program__section_name(p);
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(p));
    info.type = type ? type : "unknown";
    const char* at = libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(p));
    info.attachType = at ? at : "";
    // libbpf has no public accessor for the attach function; for lsm/, fentry/, tp_btf/ and similar
    // sections it is everything after the first slash.
    size_t slash = info.section.find('/');
    info.attachTarget = slash == std::string::npos ? "" : info.section.substr(slash + 1);
    info.autoload = bpf_program__autoload(p);
    info.loaded = bpf_program__fd(p) >= 0;
    info.attached = links_.count(info.name) > 0;
    info.pinned = pinned_.count(info.name) > 0;
    info.insnCount = static_cast<uint32_t>(bpf_program__insn_cnt(p));
    out.push_back(info);
  }
  return out;
}

std::vector<MapInfo> Object::Maps() {
  std::vector<MapInfo> out;
  if (!obj_) return out;
  bpf_map* m;
  bpf_object__for_each_map(m, obj_) {
    MapInfo info;
    info.name = bpf_map__name(m);
    const char* type = libbpf_bpf_map_type_str(bpf_map__type(m));
    info.type = type ? type : "unknown";
    info.keySize = bpf_map__key_size(m);
    info.valueSize = bpf_map__value_size(m);
    info.maxEntries = bpf_map__max_entries(m);
    info.flags = bpf_map__map_flags(m);
    info.btfKeyTypeId = bpf_map__btf_key_type_id(m);
    info.btfValueTypeId = bpf_map__btf_value_type_id(m);
    info.internal = bpf_map__is_internal(m);
    out.push_back(info);
  }
  return out;
}


std::vector<uint8_t> Object::RawBtf(Failure& failure) {
  const struct btf* btf = obj_ ? bpf_object__btf(obj_) : nullptr;
  if (!btf) {
    failure = Fail(ENOENT, "object " + name_ + " has no BTF; compile it with clang -g");
    return {};
  }
  uint32_t size = 0;
  const void* raw = btf__raw_data(btf, &size);
  if (!raw) {
    failure = Fail(errno, "cannot serialise the BTF of " + name_);
    return {};
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(raw);
  return std::vector<uint8_t>(bytes, bytes + size);
}

Failure Object::SetAutoload(const std::string& program, bool autoload) {
  bpf_program* p = FindProgram(program);
  if (!p) return Fail(ENOENT, "no program named \"" + program + "\" in object " + name_);
  if (loaded_) return Fail(EBUSY, "object " + name_ + " is already loaded; choose programs before loading");
  int err = bpf_program__set_autoload(p, autoload);
  return err ? Fail(err, "cannot change autoload of " + program + ": " + ErrnoText(err)) : Failure{};
}


constexpr size_t kTotalLogBudget = 256u << 20;
constexpr size_t kMinProgramLog = 64u << 10;

LoadResult Object::Load(uint32_t logLevel, size_t logSize, const std::vector<std::string>& attach) {
  LoadResult result;
  if (!obj_) {
    result.failure = Fail(EBADF, "object is closed");
    return result;
  }
  if (loaded_) {
    result.failure = Fail(EALREADY, "object " + name_ + " is already loaded");
    return result;
  }
  // Without a requested level, one buffer is shared: libbpf loads programs one at a time and, on a
  // rejection, retries that program at level 1 into the buffer we gave it. With a level, each program
  // gets its own buffer so every log can be returned.
  std::vector<std::pair<bpf_program*, std::vector<char>>> buffers;
  std::vector<char> shared;
  bpf_program* p;
  if (logLevel == 0) shared.assign(logSize, 0);
  // Per-program logs share one budget: an object may hold 4096 programs, and 4096 x logSize would be
  // gigabytes in the root helper. Each program gets its share (at least 64 KiB); a log cut by the share
  // comes back marked truncated, like one cut by logSize.
  size_t perProgram = logSize;
  if (logLevel != 0) {
    size_t autoloaded = 0;
    bpf_object__for_each_program(p, obj_) autoloaded += bpf_program__autoload(p) ? 1 : 0;
    if (autoloaded) perProgram = std::min(logSize, std::max(kMinProgramLog, kTotalLogBudget / autoloaded));
  }
  bpf_object__for_each_program(p, obj_) {
    if (!bpf_program__autoload(p)) continue;
    if (logLevel == 0) {
      bpf_program__set_log_buf(p, shared.data(), shared.size());
    } else {
      buffers.emplace_back(p, std::vector<char>(perProgram, 0));
      bpf_program__set_log_buf(p, buffers.back().second.data(), perProgram);
      bpf_program__set_log_level(p, logLevel);
    }
  }
  LibbpfMessages messages;
  // Attaches `attach`'s LSM and fentry programs as the load goes on; on a failed load its destructor closes them.
  AttachPipeline pipeline(obj_, attach);
  ResolveTracingTargets(obj_);
  int err;
  {
    AttachPipeline::Scope active(&pipeline);
    err = bpf_object__load(obj_);
  }
  std::string printed = Tidy(messages.text());
  if (err) {
    std::smatch m;
    static const std::regex failedProg("prog '([^']+)': (?:BPF program load failed|failed to load)");
    if (std::regex_search(printed, m, failedProg)) result.failedProgram = m[1];
    result.failure = Fail(err, "loading " + name_ + " failed: " + ErrnoText(err) +
                                   (result.failedProgram.empty() ? "" : " (program " + result.failedProgram + ")") +
                                   (printed.empty() ? "" : "\n" + printed));
  } else {
    loaded_ = true;
    MapGlobalsLive();
    // What the pipeline did not attach (programs other than LSM ones, or any it missed) is attached now.
    std::vector<std::string> rest;
    std::set<std::string> made;
    for (AttachPipeline::Made& m : pipeline.Finish()) {
      made.insert(m.result.program);
      if (m.linkFd >= 0) links_[m.result.program] = Link{nullptr, m.linkFd};
      result.attached.push_back(std::move(m.result));
    }
    for (const std::string& name : attach) {
      if (!made.count(name)) rest.push_back(name);
    }
    for (AttachResult& r : Attach(rest)) result.attached.push_back(std::move(r));
  }
  auto keep = [&](const std::string& prog, const std::vector<char>& buf) {
    size_t len = strnlen(buf.data(), buf.size());
    if (len == 0) return;
    if (len + 1 >= buf.size()) result.truncated = true;
    result.logs[prog] = std::string(buf.data(), len);
  };
  if (logLevel == 0) {
    if (err) keep(result.failedProgram.empty() ? std::string("?") : result.failedProgram, shared);
  } else {
    for (auto& [prog, buf] : buffers) keep(bpf_program__name(prog), buf);
  }
  // libbpf keeps the pointers; the buffers die with this frame.
  bpf_object__for_each_program(p, obj_) bpf_program__set_log_buf(p, nullptr, 0);
  return result;
}

void Object::MapGlobalsLive() {
  // libbpf 1.1 points .bss/.data/.rodata storage at the kernel maps only in bpf_object__load_skeleton();
  // without a skeleton the user-space copy goes stale after load. Do the same remap here so globals read
  // and written after load (counters, live knobs) are the kernel's. Later libbpf versions do this in
  // bpf_object__load itself, where remapping again is harmless.
  long page = sysconf(_SC_PAGESIZE);
  bpf_map* m;
  bpf_object__for_each_map(m, obj_) {
    if (!bpf_map__is_internal(m) || !(bpf_map__map_flags(m) & BPF_F_MMAPABLE)) continue;
    size_t size = 0;
    void* storage = const_cast<void*>(bpf_map__initial_value(m, &size));
    if (!storage || bpf_map__fd(m) < 0) continue;
    size_t mapped = (static_cast<size_t>(bpf_map__value_size(m)) * bpf_map__max_entries(m) + page - 1) & ~static_cast<size_t>(page - 1);
    int prot = (bpf_map__map_flags(m) & BPF_F_RDONLY_PROG) ? PROT_READ : PROT_READ | PROT_WRITE;
    mmap(storage, mapped, prot, MAP_SHARED | MAP_FIXED, bpf_map__fd(m), 0);
  }
}

std::vector<AttachResult> Object::Attach(const std::vector<std::string>& programs) {
  std::vector<AttachResult> out;
  for (const std::string& name : programs) {
    AttachResult r;
    r.program = name;
    bpf_program* p = FindProgram(name);
    if (!p) {
      r.err = ENOENT;
      r.message = "no program named \"" + name + "\" in object " + name_;
    } else if (bpf_program__fd(p) < 0) {
      r.err = ENOEXEC;
      r.message = "program " + name + " is not loaded (it was excluded from loading, or the object is not loaded yet)";
    } else if (links_.count(name)) {
      r.err = EEXIST;
      r.message = "program " + name + " is already attached";
    } else {
      LibbpfMessages messages;
      bpf_link* link = bpf_program__attach(p);
      if (!link) {
        r.err = errno ? errno : EINVAL;
        std::string printed = Tidy(messages.text());
        r.message = "attaching " + name + " (" + bpf_program__section_name(p) + ") failed: " + ErrnoText(r.err) +
                    (printed.empty() ? "" : "\n" + printed);
      } else {
        links_[name] = Link{link, -1};
      }
    }
    out.push_back(r);
  }
  return out;
}

std::vector<AttachResult> Object::Detach(const std::vector<std::string>& programs) {
  std::vector<AttachResult> out;
  for (const std::string& name : programs) {
    AttachResult r;
    r.program = name;
    auto it = links_.find(name);
    if (it == links_.end()) {
      r.err = ENOENT;
      r.message = "program " + name + " is not attached";
    } else {
      auto pin = pinned_.find(name);
      if (pin != pinned_.end()) {
        unlink(pin->second.c_str());
        pinned_.erase(pin);
      }
      int err = 0;
      if (it->second.link) {
        err = bpf_link__destroy(it->second.link);
      } else if (close(it->second.fd) != 0) {
        err = -errno;
      }
      links_.erase(it);
      if (err) {
        r.err = -err;
        r.message = "detaching " + name + " reported " + ErrnoText(err);
      }
    }
    out.push_back(r);
  }
  return out;
}

Failure Object::PinLink(const std::string& program, const std::string& path) {
  auto it = links_.find(program);
  if (it == links_.end()) return Fail(ENOENT, "program " + program + " is not attached; attach it before pinning");
  LibbpfMessages messages;
  int err = it->second.link ? bpf_link__pin(it->second.link, path.c_str()) : (bpf_obj_pin(it->second.fd, path.c_str()) ? -errno : 0);
  if (err) return Fail(err, "pinning " + program + " at " + path + " failed: " + ErrnoText(err) + "\n" + Tidy(messages.text()));
  pinned_[program] = path;
  return {};
}

Failure Object::ForgetLink(const std::string& program) {
  auto it = links_.find(program);
  if (it == links_.end()) return Fail(ENOENT, "program " + program + " is not attached");
  if (!pinned_.count(program)) return Fail(EINVAL, "the link of " + program + " is not pinned: dropping it would detach it");
  if (it->second.link) {
    // As in Close(): libbpf frees a disconnected link without closing its descriptor.
    int fd = bpf_link__fd(it->second.link);
    bpf_link__disconnect(it->second.link);
    bpf_link__destroy(it->second.link);
    if (fd >= 0) close(fd);
  } else {
    close(it->second.fd);
  }
  links_.erase(it);
  pinned_.erase(program);
  return {};
}

Failure Object::PinProgram(const std::string& program, const std::string& path) {
  bpf_program* p = FindProgram(program);
  if (!p) return Fail(ENOENT, "object " + name_ + " has no program " + program);
  int fd = bpf_program__fd(p);
  if (fd < 0) return Fail(EBADF, "program " + program + " is not loaded; load it before pinning");
  if (bpf_obj_pin(fd, path.c_str())) {
    int err = errno;
    return Fail(err, "pinning program " + program + " at " + path + " failed: " + ErrnoText(err));
  }
  return {};
}

size_t Object::ValueSizeFor(bpf_map* m) {
  switch (bpf_map__type(m)) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: {
      int cpus = libbpf_num_possible_cpus();
      size_t rounded = (bpf_map__value_size(m) + 7) & ~size_t(7);
      return rounded * (cpus > 0 ? cpus : 1);
    }
    default:
      return bpf_map__value_size(m);
  }
}

Failure Object::MapValueSize(const std::string& map, size_t& keySize, size_t& valueSize, int& fd) {
  bpf_map* m = FindMap(map);
  if (!m) return Fail(ENOENT, "no map named \"" + map + "\" in object " + name_);
  keySize = bpf_map__key_size(m);
  valueSize = ValueSizeFor(m);
  fd = bpf_map__fd(m);
  return {};
}

#define CHECK_MAP(m, mapName)                                                                             \
  bpf_map* m = FindMap(mapName);                                                                          \
  if (!m) return Fail(ENOENT, "no map named \"" + mapName + "\" in object " + name_);                     \
  if (bpf_map__fd(m) < 0) return Fail(EBADF, "map " + mapName + " has no kernel map yet; load the object first");

Failure Object::SetMapPinPath(const std::string& map, const std::string& path) {
  if (loaded_) return Fail(EBUSY, "object " + name_ + " is already loaded; set pin paths before loading");
  bpf_map* m = FindMap(map);
  if (!m) return Fail(ENOENT, "no map named \"" + map + "\" in object " + name_);
  int err = bpf_map__set_pin_path(m, path.c_str());
  return err ? Fail(err, "cannot pin map " + map + " at " + path + ": " + ErrnoText(err)) : Failure{};
}

Failure Object::SetMapAutocreate(const std::string& map, bool autocreate) {
  if (loaded_) return Fail(EBUSY, "object " + name_ + " is already loaded; choose its maps before loading");
  bpf_map* m = FindMap(map);
  if (!m) return Fail(ENOENT, "no map named \"" + map + "\" in object " + name_);
  int err = bpf_map__set_autocreate(m, autocreate);
  return err ? Fail(err, "cannot change autocreate of map " + map + ": " + ErrnoText(err)) : Failure{};
}

Failure Object::SetInnerMap(const std::string& outer, const std::vector<uint8_t>& key, const std::string& inner) {
  CHECK_MAP(o, outer);
  CHECK_MAP(i, inner);
  if (key.size() != bpf_map__key_size(o))
    return Fail(EINVAL, "key for map " + outer + " must be " + std::to_string(bpf_map__key_size(o)) + " bytes, got " + std::to_string(key.size()));
  uint32_t fd = static_cast<uint32_t>(bpf_map__fd(i));
  int err = bpf_map__update_elem(o, key.data(), key.size(), &fd, sizeof(fd), 0);
  return err ? Fail(err, "putting map " + inner + " into " + outer + " failed: " + ErrnoText(err)) : Failure{};
}

Failure Object::MapLookup(const std::string& map, const std::vector<uint8_t>& key, std::vector<uint8_t>& value, bool& found) {
  CHECK_MAP(m, map);
  if (key.size() != bpf_map__key_size(m))
    return Fail(EINVAL, "key for map " + map + " must be " + std::to_string(bpf_map__key_size(m)) + " bytes, got " + std::to_string(key.size()));
  value.assign(ValueSizeFor(m), 0);
  int err = bpf_map__lookup_elem(m, key.data(), key.size(), value.data(), value.size(), 0);
  if (err == -ENOENT) {
    found = false;
    value.clear();
    return {};
  }
  if (err) return Fail(err, "lookup in map " + map + " failed: " + ErrnoText(err));
  found = true;
  return {};
}

Failure Object::MapUpdate(const std::string& map, const std::vector<uint8_t>& key, const std::vector<uint8_t>& value, uint64_t flags) {
  CHECK_MAP(m, map);
  if (key.size() != bpf_map__key_size(m))
    return Fail(EINVAL, "key for map " + map + " must be " + std::to_string(bpf_map__key_size(m)) + " bytes, got " + std::to_string(key.size()));
  if (value.size() != ValueSizeFor(m))
    return Fail(EINVAL, "value for map " + map + " must be " + std::to_string(ValueSizeFor(m)) + " bytes, got " + std::to_string(value.size()));
  int err = bpf_map__update_elem(m, key.data(), key.size(), value.data(), value.size(), flags);
  if (err) return Fail(err, "update of map " + map + " failed: " + ErrnoText(err));
  return {};
}

Failure Object::MapDelete(const std::string& map, const std::vector<uint8_t>& key, bool& found) {
  CHECK_MAP(m, map);
  if (key.size() != bpf_map__key_size(m))
    return Fail(EINVAL, "key for map " + map + " must be " + std::to_string(bpf_map__key_size(m)) + " bytes, got " + std::to_string(key.size()));
  int err = bpf_map__delete_elem(m, key.data(), key.size(), 0);
  found = err == 0;
  if (err == -ENOENT) return {};
  if (err) return Fail(err, "delete from map " + map + " failed: " + ErrnoText(err));
  return {};
}

Failure Object::MapEntries(const std::string& map, const std::vector<uint8_t>& start, uint32_t limit,
                           std::vector<uint8_t>& keys, std::vector<uint8_t>& values, uint32_t& count, bool& more) {
  CHECK_MAP(m, map);
  size_t ks = bpf_map__key_size(m), vs = ValueSizeFor(m);
  if (!start.empty() && start.size() != ks)
    return Fail(EINVAL, "start key for map " + map + " must be " + std::to_string(ks) + " bytes");
  std::vector<uint8_t> cur(start), next(ks), value(vs);
  count = 0;
  more = false;
  while (true) {
    int err = bpf_map__get_next_key(m, cur.empty() ? nullptr : cur.data(), next.data(), ks);
    if (err == -ENOENT) break;
    if (err) return Fail(err, "iterating map " + map + " failed: " + ErrnoText(err));
    if (count == limit) {
      more = true;
      break;
    }
    cur = next;
    // An entry deleted between get_next_key and lookup is simply not reported.
    if (bpf_map__lookup_elem(m, cur.data(), ks, value.data(), vs, 0) != 0) continue;
    keys.insert(keys.end(), cur.begin(), cur.end());
    values.insert(values.end(), value.begin(), value.end());
    count++;
  }
  return {};
}

void Object::Close() {
  if (!obj_) return;
  for (auto& [name, l] : links_) {
    if (!l.link) {
      // A bare link descriptor: closing it detaches the link unless a pin holds it.
      close(l.fd);
      continue;
    }
    if (pinned_.count(name)) {
      // A pinned link belongs to its pin now: drop our reference without detaching it. libbpf (1.1) frees a
      // disconnected link without closing its descriptor, so close it here: a process that outlives its
      // objects (the VM's helper daemon) would otherwise keep every pinned link attached after its unpin.
      int fd = bpf_link__fd(l.link);
      bpf_link__disconnect(l.link);
      bpf_link__destroy(l.link);
      if (fd >= 0) close(fd);
      continue;
    }
    bpf_link__destroy(l.link);
  }
  links_.clear();
  pinned_.clear();
  bpf_object__close(obj_);
  obj_ = nullptr;
}

}  // namespace bpflsm
