// Tiny DOM helpers for the tracing panel's webview: elements are built from text only, never from markup.

export type Child = Node | string | undefined | false;
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== undefined && c !== false) e.append(c);
  return e;
}

export function icon(name: string, label?: string): HTMLSpanElement {
  const s = h('span', { class: `codicon codicon-${name}` });
  if (label) {
    s.setAttribute('role', 'img');
    s.setAttribute('aria-label', label);
  } else s.setAttribute('aria-hidden', 'true');
  return s;
}

export function button(iconName: string, label: string, onClick: (ev: MouseEvent) => void, extra: Record<string, string> = {}): HTMLButtonElement {
  const b = h('button', { class: 'tool', type: 'button', title: label, 'aria-label': label, ...extra }, icon(iconName));
  b.addEventListener('click', onClick);
  return b;
}

export const fmt = (n: number): string => n.toLocaleString('en-US');
