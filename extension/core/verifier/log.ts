// Reads a kernel verifier log (the text libbpf hands back when a program is rejected) into what a user
// needs to fix it: the failing instruction, the source line the kernel printed for it (BTF line info), the
// register state at that point, the verifier's own message, and a short explanation of the usual causes.
//
// Formats handled: 5.x/6.x logs, where a source line is printed as "; <text>" before the instructions it
// produced, and 6.4+ logs, which append " @ <file>:<line>" to that comment (then no BTF lookup is needed).

export type VerifierProblem =
  | 'null-check'
  | 'scalar-deref'
  | 'out-of-bounds'
  | 'unbounded-loop'
  | 'ctx-arithmetic'
  | 'misaligned-stack'
  | 'uninitialized'
  | 'helper-unavailable'
  | 'wrong-argument'
  | 'return-value'
  | 'too-complex'
  | 'other';

export interface VerifierFailure {
  /** The verifier's own words, e.g. "R0 invalid mem access 'map_value_or_null'". */
  readonly message: string;
  readonly problem: VerifierProblem;
  /** Why this usually happens and what to change, one or two sentences. */
  readonly explanation: string;
  /** Index of the instruction the verifier stopped at (in the loaded program), when the log names one. */
  readonly insn?: number;
  /** That instruction as the log prints it, e.g. "(79) r1 = *(u64 *)(r0 +0)". */
  readonly insnText?: string;
  /** The source text of the line being verified (BTF line info), trimmed. */
  readonly sourceText?: string;
  /** File and line when the kernel printed them (6.4+ "@ file:line"). */
  readonly sourceFile?: string;
  readonly sourceLine?: number;
  /** Register and stack state last printed before the failure, e.g. "R0_w=map_value_or_null(id=1,...) R10=fp0". */
  readonly registers?: string;
}

const INSN = /^(\d+): \((?:[0-9a-f]{2})\) (.*?)(?:\s+;\s+(.*))?$/;
const STATE = /^(?:\d+: |from \d+ to \d+: )(R\d.*)$/;
const SOURCE = /^; (.*?)(?: @ (.+):(\d+))?$/;
const NOISE = [
  /^processed \d+ insns/,
  /^verification time/,
  /^stack depth/,
  /^func#\d+ @\d+/,
  /^Validating .* func#/,
  /^-- (BEGIN|END) PROG LOAD LOG --/,
  /^libbpf: /,
  /^last_idx \d+ first_idx/,
  /^(regs|parent|stack)=/,
  /^\s*$/,
  /^\d+: safe$/,
  /^propagating /,
  /^mark_precise/,
  /^caller:$/,
  /^callee:$/,
  /^returning from callee:$/,
  /^to caller at \d+:$/,
  /^frame\d+: /,
  /^Func#\d+ is /,
];

interface Explained {
  readonly problem: VerifierProblem;
  readonly test: RegExp;
  readonly explanation: string;
}

// Ordered: the first match wins, so the specific patterns come before the general ones.
const EXPLANATIONS: readonly Explained[] = [
  {
    problem: 'null-check',
    test: /invalid mem access '[a-z_]*_or_null'|Possibly NULL pointer passed|R\d+ type=[a-z_]*_or_null expected/,
    explanation:
      'A pointer that may be NULL is used without a check. bpf_map_lookup_elem() and similar helpers return NULL when there is nothing there: test the result (if (!value) return 0;) before reading or writing through it.',
  },
  {
    problem: 'unbounded-loop',
    test: /back-edge from insn|infinite loop detected|loop is not bounded|unbounded loop/,
    explanation:
      'The verifier cannot prove the loop ends. Give it a constant upper bound (for (i = 0; i < MAX && i < n; i++)), use bpf_loop() for long loops, or unroll a short one with #pragma unroll.',
  },
  {
    problem: 'too-complex',
    test: /BPF program is too large|too many states|The sequence of \d+ jumps is too complex|combined stack size/,
    explanation:
      'The verifier gave up exploring every path (1M instructions or too many branch states). Reduce nested loops and branches, bound loops tighter, or move repeated work into bpf_loop() or a global (non-static) function that is verified once.',
  },
  {
    problem: 'ctx-arithmetic',
    test: /dereference of modified ctx ptr|pointer arithmetic on ctx|invalid bpf_context access|variable ctx access|ctx access/,
    explanation:
      "The program context (the hook's arguments) may only be read at fixed offsets through the original pointer. Read arguments through BPF_PROG(...) parameters instead of indexing ctx, and do not add variable offsets to it.",
  },
  {
    problem: 'misaligned-stack',
    test: /misaligned (stack|access|value|context) access|misaligned/,
    explanation:
      'A stack (or map value) access is not aligned to its size: an 8-byte load must start on an 8-byte boundary. Copy unaligned bytes with __builtin_memcpy into an aligned variable, or reorder/pad the struct.',
  },
  {
    problem: 'uninitialized',
    test: /invalid (indirect )?read from stack|!read_ok|invalid indirect access to stack|uninitialized/,
    explanation:
      'Stack memory or a register is read before anything was written to it. Initialise the variable (= {} or __builtin_memset) before passing its address to a helper or reading it; padding inside structs counts too.',
  },
  {
    problem: 'scalar-deref',
    test: /invalid mem access '(scalar|inv)'|R\d+ invalid mem access/,
    explanation:
      'A plain number is dereferenced as if it were a pointer the verifier knows. Kernel memory reached through a pointer field must be read with BPF_CORE_READ()/bpf_probe_read_kernel() (or a BTF-typed pointer in a tp_btf/lsm program), not through an integer cast.',
  },
  {
    problem: 'out-of-bounds',
    test: /invalid access to (map value|memory|packet)|value_size=\d+ off=|outside of the allowed memory range|min value is negative|unbounded memory access|invalid (variable-offset )?(read|write|access) to stack|max value is outside/,
    explanation:
      'An access can fall outside the object (map value, buffer or stack slot). Check the index against the size before using it (if (i >= MAX) return 0;) so the verifier sees both bounds, and keep index types unsigned.',
  },
  {
    problem: 'helper-unavailable',
    test: /unknown func|program of this type cannot use helper|helper call is not allowed|not allowed in non-sleepable|sleepable/,
    explanation:
      'This helper is not available to this program type or context. Check the helper list for LSM programs on this kernel; some helpers (bpf_d_path, bpf_copy_from_user, bpf_ima_file_hash) need a sleepable hook: SEC("lsm.s/<hook>").',
  },
  {
    problem: 'wrong-argument',
    test: /R\d+ type=\S+ expected=|arg#\d+ |R\d+ is not a|expected pointer|must be a known constant/,
    explanation:
      'A helper or kfunc got an argument of the wrong kind (e.g. a scalar where a pointer to the stack or a map is expected). Pass the address of a stack variable or map, with a size the verifier can bound.',
  },
  {
    problem: 'return-value',
    test: /At program exit the register R0|should have been in/,
    explanation: 'LSM programs must return 0 (allow) or a negative errno such as -EPERM (deny); the returned value is outside what this hook accepts.',
  },
];

const FALLBACK = 'See the full verifier log in the output channel: the last instructions and register states before the message show which value the verifier could not prove safe.';

export function explain(message: string): { problem: VerifierProblem; explanation: string } {
  const hit = EXPLANATIONS.find((e) => e.test.test(message));
  return hit ? { problem: hit.problem, explanation: hit.explanation } : { problem: 'other', explanation: FALLBACK };
}

function isNoise(line: string): boolean {
  return NOISE.some((re) => re.test(line));
}

/** Parses a verifier log. Returns undefined when the text holds no failure message (e.g. an empty log). */
export function parseVerifierLog(log: string): VerifierFailure | undefined {
  const lines = log.split('\n').map((l) => l.replace(/\s+$/, ''));
  let source: { text: string; file?: string; line?: number } | undefined;
  let insn: { index: number; text: string; state?: string } | undefined;
  let registers: string | undefined;
  const message: string[] = [];
  // The failure is the text after the last instruction/state lines; anything printed before a later
  // instruction was the verifier's commentary on a path that went on.
  for (const line of lines) {
    const src = SOURCE.exec(line);
    if (src && !line.startsWith('; R')) {
      // clang emits line info with empty text for compiler-made instructions; the line before still applies.
      if (src[1].trim() || src[2]) source = { text: src[1].trim(), ...(src[2] ? { file: src[2], line: Number(src[3]) } : {}) };
      message.length = 0;
      continue;
    }
    const st = STATE.exec(line);
    if (st && !INSN.test(line)) {
      registers = st[1];
      message.length = 0;
      continue;
    }
    const ins = INSN.exec(line);
    if (ins) {
      insn = { index: Number(ins[1]), text: ins[2].trim() };
      // After " ; " comes either the state the instruction produced or (on a revisited path) the source
      // comment of the next line.
      const after = ins[3]?.trim();
      if (after && /^(R\d|fp-?\d)/.test(after)) registers = after;
      else if (after) source = { text: after };
      message.length = 0;
      continue;
    }
    if (isNoise(line)) continue;
    message.push(line.trim());
  }
  const text = message.join('\n').trim();
  if (!text) return undefined;
  const { problem, explanation } = explain(text);
  return {
    message: text,
    problem,
    explanation,
    ...(insn ? { insn: insn.index, insnText: insn.text } : {}),
    ...(source ? { sourceText: source.text } : {}),
    ...(source?.file ? { sourceFile: source.file, sourceLine: source.line } : {}),
    ...(registers ? { registers } : {}),
  };
}
