// What the VS Code client tells the BPF-LSM language server, declared once for both sides. The client
// sends it as initializationOptions when it starts the server; afterwards vscode-languageclient pushes
// the `bpfLsm` configuration section (same field names) on every change. The server's own requests are
// declared in shared/lspExt.ts.
export interface ServerSettings {
  /** BTF of the kernel programs are written for (raw BTF or a vmlinux with .BTF). Empty: the running kernel's. */
  btfPath?: string;
  /** Kernel source or headers tree for hook documentation. Empty: the running kernel's build tree, then /usr/src. */
  kernelSourcePath?: string;
  /**
   * Kernel version or banner (`/proc/version` text) for the sleepable/disabled rules, when the BTF does
   * not carry it: raw BTF fetched from a target. Not a user setting; the target layer supplies it.
   */
  kernelVersion?: string;
  /**
   * The workspace is untrusted: the server answers from this machine's kernel and ignores btfPath,
   * kernelSourcePath and matrix pushed later (only the client's start-up values count; the client restarts the
   * server when trust is granted). Not a user setting.
   */
  restricted?: boolean;
  /**
   * The kernels the workspace targets besides the one above (bpfLsm.kernelMatrix, resolved by the client to
   * BTF files): every hook is also checked against each of them. Not a user setting in this form.
   */
  matrix?: MatrixKernel[];
}

/** One kernel of the workspace's matrix: how diagnostics name it, and its BTF. */
export interface MatrixKernel {
  readonly label: string;
  readonly btfPath: string;
  readonly kernelVersion?: string;
}
