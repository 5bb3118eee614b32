// The BPF-LSM language server: `node dist/server.js --stdio`. Completion, hover, diagnostics and
// quick fixes for LSM hooks, all answered from the hook catalog of the configured kernel BTF.
// Settings (initializationOptions, then the `bpfLsm` configuration section): btfPath, kernelSourcePath.
import {
  CodeActionKind,
  createConnection,
  DidChangeConfigurationNotification,
  MessageType,
  ShowMessageNotification,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { SLEEPABLE_ONLY_HELPERS } from '../shared/hooks/rules';
import { complete } from './completion';
import { codeActions, diagnose } from './diagnostics';
import { HookSession, ServerSettings } from './hookSession';
import { hover } from './hover';
import { parseProbeDocument, ProbeDocument } from './probeDocument';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const session = new HookSession((m) => connection.console.info(m));
const helpers = Object.keys(SLEEPABLE_ONLY_HELPERS);
let canPullConfiguration = false;
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

function validate(doc: TextDocument): void {
  const c = catalog();
  if (!c || !isProbeFile(doc)) {
    void connection.sendDiagnostics({ uri: doc.uri, diagnostics: [] });
    return;
  }
  void connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics: diagnose(c, doc, probeOf(doc)) });
}

connection.onInitialize((params) => {
  initial = (params.initializationOptions ?? {}) as ServerSettings;
  session.configure(initial);
  canPullConfiguration = !!params.capabilities.workspace?.configuration;
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      completionProvider: { triggerCharacters: ['/', '(', '"'], resolveProvider: false },
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
  const merged: ServerSettings = {
    btfPath: settings.btfPath || initial.btfPath,
    kernelSourcePath: settings.kernelSourcePath || initial.kernelSourcePath,
    kernelVersion: settings.kernelVersion || initial.kernelVersion,
  };
  if (session.configure(merged)) {
    reportedLoadError = false;
    for (const d of documents.all()) validate(d);
  }
});

connection.onCompletion((params) => {
  const doc = documents.get(params.textDocument.uri);
  const c = doc && catalog();
  if (!doc || !c) return null;
  return complete(c, doc, probeOf(doc), params.position, { snippets: isProbeFile(doc) });
});

connection.onHover((params) => {
  const doc = documents.get(params.textDocument.uri);
  const c = doc && catalog();
  if (!doc || !c) return null;
  return hover(c, doc, probeOf(doc), doc.offsetAt(params.position));
});

connection.onCodeAction((params) => {
  const doc = documents.get(params.textDocument.uri);
  if (!doc) return [];
  return codeActions(doc, params.context.diagnostics);
});

documents.onDidChangeContent((e) => validate(e.document));
documents.onDidClose((e) => {
  parsed.delete(e.document.uri);
  void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
});

documents.listen(connection);
connection.listen();
