// SPDX-License-Identifier: GPL-2.0-only
// Pinned programs and links outside any loaded object: the resident tracer's keeper attaches pinned programs
// again, and a policy's pinned links are removed with their detach waited for.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core.h"

namespace bpflsm {

Failure AttachPinnedProgram(const std::string& progPath, const std::string& linkPath) {
  int prog = bpf_obj_get(progPath.c_str());
  if (prog < 0) {
    int err = errno;
    return Fail(err, "cannot open the program pinned at " + progPath + ": " + ErrnoText(err));
  }
  int link = bpf_raw_tracepoint_open(nullptr, prog);
  int err = link < 0 ? errno : 0;
  close(prog);
  if (err) return Fail(err, "attaching the program pinned at " + progPath + " failed: " + ErrnoText(err));
  if (bpf_obj_pin(link, linkPath.c_str())) {
    err = errno;
    close(link);
    return Fail(err, "pinning the link of " + progPath + " at " + linkPath + " failed: " + ErrnoText(err));
  }
  close(link);
  return {};
}

Failure DetachPinnedLink(const std::string& path, bool* found) {
  *found = false;
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return {};
    return Fail(err, "cannot open the link pinned at " + path + ": " + ErrnoText(err));
  }
  // A pinned program or map opens just as well; only a link's fdinfo has a link_type line.
  char info[1024] = {};
  int infoFd = open(("/proc/self/fdinfo/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t n = infoFd < 0 ? -1 : read(infoFd, info, sizeof(info) - 1);
  if (infoFd >= 0) close(infoFd);
  if (n <= 0 || !std::strstr(info, "link_type:")) {
    close(fd);
    return Fail(EINVAL, path + " is not a pinned link");
  }
  if (unlink(path.c_str())) {
    int err = errno;
    close(fd);
    return Fail(err, "removing the pin " + path + " failed: " + ErrnoText(err));
  }
  *found = true;
  close(fd);
  return {};
}

}  // namespace bpflsm
