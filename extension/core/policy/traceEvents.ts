// exec_block events as tracing panel rows: a bprm_check_security hook call whose return value says what
// the policy did (-EPERM denied, 0 audited).
import type { HookEvent } from '../../shared/traceEvent';
import type { ExecPolicyEvent } from './events';

const EPERM = 1;

export function policyHookEvent(e: ExecPolicyEvent): HookEvent {
  return {
    kind: 'hook',
    hook: 'bprm_check_security',
    category: 'bprm',
    time: Number(e.timeNs),
    pid: e.pid,
    tgid: e.pid,
    comm: e.comm,
    args: { path: e.path, ino: e.ino.toString(), dev: e.dev.toString(), policy: e.mode, matched: e.matchedBy, uid: e.uid },
    ret: e.mode === 'enforce' ? -EPERM : 0,
  };
}
