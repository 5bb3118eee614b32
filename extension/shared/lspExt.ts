// The BPF-LSM extensions to the Language Server Protocol, declared once for the language server and its
// clients (the VS Code extension, tests, benchmarks). One typed constant per method; each says who sends it.
// Completion, hover, diagnostics and code actions are standard LSP and need nothing here.
//
// Settings travel as standard LSP too: the client sends ServerSettings as initializationOptions when it
// starts the server, and vscode-languageclient pushes the `bpfLsm` configuration section (the same field
// names) with workspace/didChangeConfiguration afterwards.
//
// The constants carry their parameter and result types without depending on one vscode-jsonrpc copy (the
// server and the client libraries each bundle their own): send with `sendRequest(X.method, params)` and
// answer with `onRequest(X.method, handler)`, typed by ParamsOf<typeof X> / ResultOf<typeof X>.

/** A request method with its parameter and result types. */
export interface LspRequest<P, R> {
  readonly method: string;
  /** Type carriers only; never set. */
  readonly params?: P;
  readonly result?: R;
}

export type ParamsOf<T> = T extends LspRequest<infer P, unknown> ? P : never;
export type ResultOf<T> = T extends LspRequest<unknown, infer R> ? R : never;

function request<P, R>(method: string): LspRequest<P, R> {
  return { method };
}

export type { ServerSettings } from './hooks/serverSettings';

export interface HookReferenceParams {
  /** The hook's name, as in `SEC("lsm/<hook>")`. */
  readonly hook: string;
}

export interface HookReferenceResult {
  /** False when the server's kernel has no such hook (or no catalog): `header` then says why. */
  readonly found: boolean;
  /** The kernel the answer is for: `6.1.192`, `unknown kernel`. */
  readonly kernel: string;
  /** Exactly what hover shows on the hook name (empty when not found). */
  readonly markdown: string;
  /** The same text without markup, as a C header with the hook's signature and a program stub. */
  readonly header: string;
}

/**
 * client → server: the hook reference for one hook on the server's kernel (its BTF, its documentation).
 * Sent by the tracing panel's hook reference (`bpf-lsm-hook:/<hook>.h`), so that it says what hover says.
 */
export const HookReferenceRequest = request<HookReferenceParams, HookReferenceResult>('bpfLsm/hookReference');
