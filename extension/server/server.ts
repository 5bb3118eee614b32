// The BPF-LSM language server: `node dist/server.js --stdio`. Completion, hover, diagnostics and
// quick fixes for LSM hooks, all answered from the hook catalog of the configured kernel BTF.
// Settings (initializationOptions, then the `bpfLsm` configuration section): btfPath, kernelSourcePath; the
// kernel matrix comes resolved in initializationOptions (the client restarts the server when it changes).
import {
  CodeActionKind,
  createConnection,
  DidChangeConfigurationNotification,
  MarkupKind,
  MessageType,
  ShowMessageNotification,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { hookMarkdown, hookReferenceHeader } from '../shared/hooks/reference';
import { SLEEPABLE_ONLY_HELPERS } from '../shared/hooks/rules';
import { HookReferenceParams, HookReferenceRequest, HookReferenceResult } from '../shared/lspExt';
import { complete } from './completion';
import { codeActions, DocumentCheck } from './diagnostics';
import { HookSession, ServerSettings } from './hookSession';
import { hover } from './hover';
import { parseProbeDocument, ProbeDocument } from './probeDocument';
import { MatrixSession, matrixDiagnostics } from './matrix';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const session = new HookSession((m) => connection.console.info(m));
const matrix = new MatrixSession((m) => connection.console.info(m));
const helpers = Object.keys(SLEEPABLE_ONLY_HELPERS);
let canPullConfiguration = false;
/** The client takes list-wide completion defaults (LSP 3.17 itemDefaults: editRange, insertTextFormat). */
let completionItemDefaults = false;
/** What the client computed at start (its btfPath already follows the target); empty settings fall back to it. */
let initial: ServerSettings = {};
let reportedLoadError = false;

/** Parsed documents, keyed by uri and reused while the version is unchanged (completion and hover run per keystroke). */
const parsed = new Map<string, { version: number; probe: ProbeDocument }>();

function probeOf(doc: TextDocument): ProbeDocument {
  const hit = parsed.get(doc.uri);
  if (hit && hit.version === doc.version) return hit.probe;
  const probe = parseProbeDocument(doc.getText(), helpers);
  parsed.set(doc.uri, { version: doc.version, probe });
  return probe;
}

/** Only `*.bpf.c` and C files that declare an LSM program are ours; other C files stay clangd's. */
function isProbeFile(doc: TextDocument): boolean {
  return doc.uri.endsWith('.bpf.c') || /\bSEC\s*\(\s*"lsm/.test(probeOf(doc).text);
}

function catalog() {
  const c = session.get();
  if (!c && session.loadError && !reportedLoadError) {
    reportedLoadError = true;
    // A notification, not showMessageRequest: nothing to answer, and clients without the request still show it.
    void connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Error, message: session.loadError });
  }
  return c;
}

/** Quiet time after an edit before diagnostics run: a burst of edits costs one check, for its last version. */
const DEBOUNCE_MS = 120;
/** SECs and programs checked between two yields, so that completion and hover never wait for a whole check. */
const SLICE = 400;

/** Per document: the pending timer and a token that a newer edit bumps, which cancels a check in progress. */
const checks = new Map<string, { timer?: NodeJS.Timeout; token: number }>();

function schedule(doc: TextDocument): void {
  let entry = checks.get(doc.uri);
  if (!entry) checks.set(doc.uri, (entry = { token: 0 }));
  clearTimeout(entry.timer);
  const token = ++entry.token;
  entry.timer = setTimeout(() => void validate(doc.uri, token), DEBOUNCE_MS);
}

const yieldToMessages = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function validate(uri: string, token: number): Promise<void> {
  const stale = (): boolean => checks.get(uri)?.token !== token;
  const doc = documents.get(uri);
  if (!doc || stale()) return;
  const c = catalog();
  if (!c || !isProbeFile(doc)) {
    void connection.sendDiagnostics({ uri, diagnostics: [] });
    return;
  }
  const probe = probeOf(doc);
  const check = new DocumentCheck(c, doc, probe);
  for (let at = 0; at < check.size; at += SLICE) {
    check.run(at, at + SLICE);
    if (at + SLICE < check.size) {
      await yieldToMessages();
      // A newer edit has its own check scheduled; this one's results would be out of date.
      if (stale()) return;
    }
  }
  void connection.sendDiagnostics({ uri, version: doc.version, diagnostics: [...check.out, ...matrixDiagnostics(matrix.kernels(), c, doc, probe)] });
}

connection.onInitialize((params) => {
  initial = (params.initializationOptions ?? {}) as ServerSettings;
  session.configure(initial);
  matrix.configure(initial.matrix);
  canPullConfiguration = !!params.capabilities.workspace?.configuration;
  const defaults = params.capabilities.textDocument?.completion?.completionList?.itemDefaults ?? [];
  completionItemDefaults = defaults.includes('editRange') && defaults.includes('insertTextFormat');
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      completionProvider: { triggerCharacters: ['/', '(', '"'], resolveProvider: true },
      hoverProvider: true,
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
    },
    serverInfo: { name: 'bpf-lsm-language-server' },
  };
});

connection.onInitialized(() => {
  if (canPullConfiguration) void connection.client.register(DidChangeConfigurationNotification.type, { section: 'bpfLsm' });
});

connection.onDidChangeConfiguration(async (change) => {
  let settings = (change.settings?.bpfLsm ?? undefined) as ServerSettings | undefined;
  if (!settings && canPullConfiguration) settings = (await connection.workspace.getConfiguration('bpfLsm')) as ServerSettings;
  if (!settings) return;
  if (initial.restricted) return;
  const merged: ServerSettings = {
    btfPath: settings.btfPath || initial.btfPath,
    kernelSourcePath: settings.kernelSourcePath || initial.kernelSourcePath,
    kernelVersion: settings.kernelVersion || initial.kernelVersion,
  };
  if (session.configure(merged)) {
    reportedLoadError = false;
    for (const d of documents.all()) schedule(d);
  }
});

connection.onCompletion((params) => {
  const doc = documents.get(params.textDocument.uri);
  const c = doc && catalog();
  if (!doc || !c) return null;
  return complete(c, doc, probeOf(doc), params.position, { snippets: isProbeFile(doc), itemDefaults: completionItemDefaults });
});

// The hook reference (with the kernel's docs) as the completion item's documentation, only for the item
// the editor shows: putting it on all 271 items would make every completion list heavy.
connection.onCompletionResolve((item) => {
  // Hook items are labelled with the hook's name (the other items' labels name no hook).
  const hook = (item.data as { hook?: string } | undefined)?.hook ?? item.label;
  const c = hook ? catalog() : undefined;
  const h = hook ? c?.get(hook) : undefined;
  if (c && h) item.documentation = { kind: MarkupKind.Markdown, value: hookMarkdown(c, h) };
  return item;
});

connection.onHover((params) => {
  const doc = documents.get(params.textDocument.uri);
  const c = doc && catalog();
  if (!doc || !c) return null;
  return hover(c, doc, probeOf(doc), doc.offsetAt(params.position));
});

connection.onRequest(HookReferenceRequest.method, ({ hook }: HookReferenceParams): HookReferenceResult => {
  const c = catalog();
  const h = c?.get(hook);
  return { found: !!h, kernel: c?.kernelLabel ?? 'unknown kernel', markdown: c && h ? hookMarkdown(c, h) : '', header: hookReferenceHeader(c, hook, session.loadError) };
});

connection.onCodeAction((params) => {
  const doc = documents.get(params.textDocument.uri);
  if (!doc) return [];
  return codeActions(doc, params.context.diagnostics);
});

documents.onDidChangeContent((e) => schedule(e.document));
documents.onDidClose((e) => {
  parsed.delete(e.document.uri);
  const entry = checks.get(e.document.uri);
  clearTimeout(entry?.timer);
  checks.delete(e.document.uri);
  void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
});

documents.listen(connection);
connection.listen();
