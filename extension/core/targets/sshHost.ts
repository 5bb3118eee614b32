// Which `ssh:<host>` names are accepted: the one check shared by the target id parser and sshTarget.

/**
 * Host names for `ssh:<host>`: an ssh config alias or a DNS name, with an optional `user@`. The setting can
 * come from a workspace, and ssh expands `%` tokens and hands names to ProxyCommand shells, so anything
 * beyond this set (`;`, backquotes, `%`, spaces, `$`, a leading `-`) is refused before ssh sees it.
 */
const SSH_HOST = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}@)?[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/;

export function isSafeSshHost(host: string): boolean {
  return SSH_HOST.test(host);
}
