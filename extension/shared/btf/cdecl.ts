// Spells BTF types the way a C programmer writes them: `struct file *file`, `const struct cred *`,
// `unsigned long`, `char *const argv[]`, `int (*cb)(void *)`. Declarators are built inside-out, the
// same way C's grammar nests them, so pointers to arrays and functions get their parentheses.
import { Btf, BtfError, BtfKind } from './btf';

/**
 * BTF stores integer names as the compiler emitted them (GCC: `long unsigned int`). Users and the
 * kernel's own headers write the short forms, and so do we.
 */
const INT_SPELLING: Record<string, string> = {
  'long unsigned int': 'unsigned long',
  'long int': 'long',
  'long long unsigned int': 'unsigned long long',
  'long long int': 'long long',
  'short unsigned int': 'unsigned short',
  'short int': 'short',
  '__int128 unsigned': 'unsigned __int128',
};

export function intSpelling(name: string): string {
  return INT_SPELLING[name] ?? name;
}

/** The C spelling of type `id`, declaring `name` when given (`struct file *file`), else abstract (`struct file *`). */
export function cDecl(btf: Btf, id: number, name = ''): string {
  return declarator(btf, id, name, 0);
}

/** The C spelling of type `id` alone: `const struct cred *`. */
export function cType(btf: Btf, id: number): string {
  return declarator(btf, id, '', 0);
}

/** Like cType, with every typedef replaced by what it names (`umode_t` -> `unsigned short`), for comparing spellings. */
export function cTypeExpanded(btf: Btf, id: number): string {
  return declarator(btf, id, '', 0, true);
}

function join(base: string, inner: string): string {
  if (!inner) return base;
  // `char *p` and `char **p`, not `char * p`; qualifiers after a star keep their space (`char *const p`).
  return `${base} ${inner}`;
}

function declarator(btf: Btf, id: number, inner: string, depth: number, expand = false): string {
  if (depth > 64) throw new BtfError(`BTF type ${id} nests too deeply to spell (a reference loop?)`);
  const kind = btf.kind(id);
  switch (kind) {
    case BtfKind.Unknown:
      return join('void', inner);
    case BtfKind.Int:
      return join(intSpelling(btf.name(id)), inner);
    case BtfKind.Typedef:
      if (expand) return declarator(btf, btf.ref(id), inner, depth + 1, expand);
      return join(btf.name(id), inner);
    case BtfKind.Float:
      return join(btf.name(id), inner);
    case BtfKind.Struct:
    case BtfKind.Union:
    case BtfKind.Enum:
    case BtfKind.Enum64: {
      const tag = kind === BtfKind.Struct ? 'struct' : kind === BtfKind.Union ? 'union' : 'enum';
      const n = btf.name(id);
      return join(n ? `${tag} ${n}` : `${tag} { /* anonymous */ }`, inner);
    }
    case BtfKind.Fwd:
      return join(`${btf.kindFlag(id) ? 'union' : 'struct'} ${btf.name(id)}`, inner);
    case BtfKind.Ptr: {
      const target = btf.ref(id);
      const tk = skipTags(btf, target);
      const star = `*${inner}`;
      const wrapped = btf.kind(tk) === BtfKind.Array || btf.kind(tk) === BtfKind.FuncProto ? `(${star})` : star;
      return declarator(btf, target, wrapped, depth + 1, expand);
    }
    case BtfKind.Const:
    case BtfKind.Volatile:
    case BtfKind.Restrict: {
      const q = kind === BtfKind.Const ? 'const' : kind === BtfKind.Volatile ? 'volatile' : 'restrict';
      const target = btf.ref(id);
      // A qualified pointer puts the qualifier after its star (`char *const p`); anything else before the base.
      if (btf.kind(skipTags(btf, target)) === BtfKind.Ptr) return declarator(btf, target, inner ? `${q} ${inner}` : q, depth + 1, expand);
      return `${q} ${declarator(btf, target, inner, depth + 1, expand)}`;
    }
    case BtfKind.TypeTag:
      // __user/__rcu style tags are compiler attributes, not part of the C spelling users write.
      return declarator(btf, btf.ref(id), inner, depth + 1, expand);
    case BtfKind.Array: {
      const a = btf.arrayInfo(id);
      return declarator(btf, a.type, `${inner}[${a.count}]`, depth + 1, expand);
    }
    case BtfKind.FuncProto: {
      const params = btf.members(id);
      const list = params.length === 0 ? 'void' : params.map((p) => (p.type === 0 && !p.name ? '...' : declarator(btf, p.type, p.name, depth + 1, expand))).join(', ');
      return declarator(btf, btf.ref(id), `${inner}(${list})`, depth + 1, expand);
    }
    case BtfKind.Func:
      return declarator(btf, btf.ref(id), inner || btf.name(id), depth + 1, expand);
    default:
      throw new BtfError(`BTF type ${id} (kind ${kind}) is not a C type`);
  }
}

function skipTags(btf: Btf, id: number): number {
  let cur = id;
  while (btf.kind(cur) === BtfKind.TypeTag) cur = btf.ref(cur);
  return cur;
}
