// The CPUs each thread of the built-in VM's helper daemon may use (Cpus_allowed_list of every thread).
import type { Target } from '../../extension/core/target';
import { DAEMON_DIR } from '../../extension/shared/helperDaemon';

/**
 * Of the daemon with `pid`, or else of the one serving: its ready file is written once it has pinned
 * itself. None when no daemon serves.
 */
export async function daemonThreadCpus(vm: Target, pid?: number): Promise<string[]> {
  const script = 'p=$1; [ -n "$p" ] || read -r v p < "$2/ready" || exit 0; for t in /proc/$p/task/*; do grep Cpus_allowed_list "$t/status"; done';
  const r = await vm.exec('sh', ['-c', script, 'threads', pid === undefined ? '' : String(pid), DAEMON_DIR]);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[1].trim());
}
