// SPDX-License-Identifier: GPL-2.0-only
// The libbpf side of the addon, free of N-API so that binding.cc stays a thin argument converter.
// Every method here may run on a libuv worker thread; an Object serialises its own operations with a
// mutex, and the binding refuses (rather than waits) when a synchronous call finds it busy.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;
struct ring_buffer;

namespace bpflsm {

/** An error from libbpf or the kernel: errno plus what libbpf printed while it happened. */
struct Failure {
  int err = 0;  // positive errno, 0 when there was no error
  std::string message;
  explicit operator bool() const { return err != 0; }
};

/** A Failure for errno `err` (either sign; 0 becomes EINVAL). */
Failure Fail(int err, const std::string& message);
/** strerror_r's text for an errno of either sign (safe on pool threads). */
std::string ErrnoText(int err);
/** libbpf output minus its "libbpf: " prefixes and trailing newline, for one readable message. */
std::string Tidy(const std::string& raw);

/** Adds a line to the diagnostics of the operation running on this thread, as if libbpf had printed it. */
void NoteLibbpfMessage(const std::string& line);
/**
 * Indexes the kernel's LSM hooks (bpf_lsm_* functions in its BTF) for SEC("lsm/...") loads, once per
 * process (lsmattach.cc); later calls return at once. The number of hooks, or -errno.
 */
int IndexLsmHooks();

/**
 * Before a load: every autoloaded SEC("fentry/<function>") program whose function is not a bpf_lsm_ hook
 * of the index gets libbpf's own target lookup, which also searches modules (lsmattach.cc).
 */
void ResolveTracingTargets(bpf_object* obj);

/**
 * Attaches the program pinned at `progPath` (an LSM, fentry, tp_btf or raw_tp program: it names its own
 * hook) and pins the new link at `linkPath`; no fd stays open. Unpinning the link detaches it.
 */
Failure AttachPinnedProgram(const std::string& progPath, const std::string& linkPath);

/**
 * Removes the link pinned at `path` and detaches it before returning: it holds the link open across the
 * unlink, so its own close drops the last reference. An unlink alone leaves that to a kernel worker on
 * newer kernels (6.12's bpf_link_put), and the program may run on for a moment after `rm` returned.
 * `*found` is false, and nothing fails, when nothing is pinned there; a pin that is not a link fails.
 */
Failure DetachPinnedLink(const std::string& path, bool* found);

/** Collects libbpf's printed diagnostics for the operation running on this thread. */
class LibbpfMessages {
 public:
  LibbpfMessages();
  ~LibbpfMessages();
  std::string text() const { return text_; }
  void append(const char* s) { text_ += s; }

 private:
  std::string text_;
  LibbpfMessages* previous_;
};

struct ProgramInfo {
  std::string name, section, type, attachType, attachTarget;
  bool autoload = true;
  bool loaded = false;
  bool attached = false;
  bool pinned = false;
  uint32_t insnCount = 0;
};

struct MapInfo {
  std::string name, type;
  uint32_t keySize = 0, valueSize = 0, maxEntries = 0, flags = 0;
  uint32_t btfKeyTypeId = 0, btfValueTypeId = 0;
  bool internal = false;  // .rodata/.bss/.data/.kconfig: backs global variables
};

struct AttachResult {
  std::string program;
  int err = 0;
  std::string message;
};

struct LoadResult {
  Failure failure;
  /** Of the programs Load was asked to attach: each one's outcome (attached as it loaded, or after). */
  std::vector<AttachResult> attached;
  std::string failedProgram;
  // Program name -> verifier log. On failure holds the failing program's log; on success only when
  // a log level was requested.
  std::map<std::string, std::string> logs;
  bool truncated = false;
};

/** An attachment: a libbpf link, or a bare link descriptor made by the load pipeline. */
struct Link {
  bpf_link* link = nullptr;
  int fd = -1;
};

class Object : public std::enable_shared_from_this<Object> {
 public:
  static std::shared_ptr<Object> OpenFile(const std::string& path, Failure& failure);
  static std::shared_ptr<Object> OpenMemory(const void* data, size_t size, const std::string& name, Failure& failure);
  ~Object();

  std::mutex& lock() { return mutex_; }
  bool closed() const { return obj_ == nullptr; }
  bool loaded() const { return loaded_; }
  const std::string& name() const { return name_; }

  std::vector<ProgramInfo> Programs();
  std::vector<MapInfo> Maps();
  /** Raw BTF of the object (the .BTF section as libbpf finalised it). */
  std::vector<uint8_t> RawBtf(Failure& failure);

  Failure SetAutoload(const std::string& program, bool autoload);
  /** Writes bytes into a global's storage: before load for any section, after load only for .bss/.data. */
  Failure SetGlobal(const std::string& name, const void* data, size_t size);
  Failure GetGlobal(const std::string& name, std::vector<uint8_t>& out);

  /**
   * Loads every autoload program. Programs named in `attach` are attached too, LSM ones on a second thread
   * while later programs load (attachpipeline.cc), the rest after the load; see LoadResult::attached.
   */
  LoadResult Load(uint32_t logLevel, size_t logSize, const std::vector<std::string>& attach = {});
  std::vector<AttachResult> Attach(const std::vector<std::string>& programs);
  std::vector<AttachResult> Detach(const std::vector<std::string>& programs);
  Failure PinLink(const std::string& program, const std::string& path);
  /** Drops this object's reference to a pinned link: its pin alone holds it, and unpinning it detaches it. */
  Failure ForgetLink(const std::string& program);
  /** Pins a loaded program itself (not a link): it stays loaded, attached or not, until unpinned. */
  Failure PinProgram(const std::string& program, const std::string& path);
  /** Before load: the map is reused from `path` when pinned there (same shape), else created and pinned there. */
  Failure SetMapPinPath(const std::string& map, const std::string& path);
  /** Whether the load creates `map` (libbpf's autocreate): a map nobody will use can be left out. */
  Failure SetMapAutocreate(const std::string& map, bool autocreate);
  /** Puts map `inner` of this object into the map-of-maps `outer` under `key`. */
  Failure SetInnerMap(const std::string& outer, const std::vector<uint8_t>& key, const std::string& inner);

  Failure MapLookup(const std::string& map, const std::vector<uint8_t>& key, std::vector<uint8_t>& value, bool& found);
  Failure MapUpdate(const std::string& map, const std::vector<uint8_t>& key, const std::vector<uint8_t>& value, uint64_t flags);
  Failure MapDelete(const std::string& map, const std::vector<uint8_t>& key, bool& found);
  /** Up to `limit` entries after `start` (empty: from the beginning); keys and values packed back to back. */
  Failure MapEntries(const std::string& map, const std::vector<uint8_t>& start, uint32_t limit,
                     std::vector<uint8_t>& keys, std::vector<uint8_t>& values, uint32_t& count, bool& more);
  Failure MapValueSize(const std::string& map, size_t& keySize, size_t& valueSize, int& fd);

  /** Destroys every link (detaching it) and closes the object. Safe to call twice. */
  void Close();

 private:
  Object(bpf_object* obj, std::string name) : obj_(obj), name_(std::move(name)) {}
  bpf_program* FindProgram(const std::string& name);
  bpf_map* FindMap(const std::string& name);
  size_t ValueSizeFor(bpf_map* map);
  void MapGlobalsLive();

  bpf_object* obj_;
  std::string name_;
  bool loaded_ = false;
  std::map<std::string, Link> links_;
  std::map<std::string, std::string> pinned_;  // program -> pin path
  std::mutex mutex_;
};

/**
 * Attaches LSM and fentry programs on a second thread as libbpf loads the programs after them (attachpipeline.cc).
 * Made by Object::Load around bpf_object__load; the loading thread reports each program it is about
 * to load through BeforeProgramLoad.
 */
class AttachPipeline {
 public:
  struct Made {
    AttachResult result;
    int linkFd = -1;
  };
  /** A loaded program handed to the attaching thread: its name, a duplicate of its fd, its attach type. */
  struct Item {
    std::string program;
    int progFd = -1;
    int type = 0;
  };
  /** Makes this pipeline the loading thread's active one for its lifetime. */
  class Scope {
   public:
    explicit Scope(AttachPipeline* p);
    ~Scope();

   private:
    AttachPipeline* previous_;
  };

  AttachPipeline(bpf_object* obj, const std::vector<std::string>& programs);
  /** Closes (detaches) every link not taken by Finish. */
  ~AttachPipeline();
  static AttachPipeline* Active();
  /** Loading thread: `next` is about to load, so every program before it is loaded. */
  void BeforeLoad(const bpf_program* next);
  /** Loading thread, after a successful load: hands the rest, waits, returns the links made. */
  std::vector<Made> Finish();
  /** Whether this pipeline attaches `p` (an LSM or fentry program it was asked for). */
  bool Handles(const bpf_program* p) const;

 private:
  void Hand(const bpf_program* p);
  void Run();
  void Stop();

  bpf_object* obj_;
  std::set<std::string> wanted_;
  bpf_program* cursor_ = nullptr;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::vector<Made> made_;
  bool done_ = false;
};

/** Called by the LSM and fentry section handlers right before libbpf loads `next` (lsmattach.cc). */
void BeforeProgramLoad(const bpf_program* next);

/** A set of BPF ring buffers drained into batches of framed records. */
class RingBatcher {
 public:
  /** Record frame inside a batch: u32 length, u16 ring index, u16 zero, payload, zero padding to 8 bytes. */
  static constexpr size_t kHeader = 8;

  static std::unique_ptr<RingBatcher> Create(std::shared_ptr<Object> owner, const std::vector<std::string>& maps, Failure& failure);
  ~RingBatcher();

  /**
   * Waits up to timeoutMs for records and drains what is there into the batcher's own buffer (data(),
   * size()), stopping once it holds at least maxBytes (one record may overshoot). Returns the number of
   * records. The buffer is kept from poll to poll: a fresh one per poll cost the helper a page fault per
   * 4 KiB of every batch (~0.4 us a record in the 6.1 VM under TCG).
   */
  int64_t Poll(int timeoutMs, size_t maxBytes, Failure& failure);
  const uint8_t* data() const { return buf_.data(); }
  size_t size() const { return used_; }
  void Free();

 private:
  struct Ring {
    RingBatcher* batcher;
    uint16_t index;
  };
  static int OnRecord(void* ctx, void* data, size_t size);
  std::shared_ptr<Object> owner_;
  std::vector<std::unique_ptr<Ring>> rings_;
  ring_buffer* rb_ = nullptr;
  std::vector<uint8_t> buf_;
  size_t used_ = 0;
  size_t maxBytes_ = 0;
  int64_t count_ = 0;
  uint16_t currentRing_ = 0;
};

std::string LibbpfVersion();

}  // namespace bpflsm
