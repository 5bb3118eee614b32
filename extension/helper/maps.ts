// Map entries and globals of an owned object, coded between the wire's JSON values and the kernel's bytes
// by the object's BTF types (mapLookup, mapUpdate, mapDelete, mapEntries, getGlobal, setGlobal).
import { mapTypes } from '../shared/btf/describe';
import type { BtfTypeDesc, GlobalInfo } from '../shared/helperProtocol';
import { decodeValue, encodeValue } from '../shared/helperValues';
import { serial, type ObjectTable, type OwnedObject } from './objects';
import { HelperError, type Handlers } from './request';

interface MapCoding {
  key: BtfTypeDesc | null;
  value: BtfTypeDesc | null;
  keySize: number;
  valueSize: number;
}

function mapCoding(o: OwnedObject, map: string): MapCoding {
  const info = o.bpf.maps().find((m) => m.name === map || (m.internal && m.name.endsWith(map)));
  if (!info) throw new HelperError('not-found', `object ${o.name} has no map "${map}" (maps: ${o.bpf.maps().map((m) => m.name).join(', ')})`);
  let types = o.mapTypes.get(map);
  if (!types) {
    types = o.btf ? mapTypes(o.btf, info) : { key: null, value: null };
    o.mapTypes.set(map, types);
  }
  const perCpu = /percpu/.test(info.type);
  if (perCpu) {
    // Per-CPU values come back as one slot per possible CPU; they are exposed raw, one { hex } per map value.
    return { key: types.key, value: null, keySize: info.keySize, valueSize: 0 };
  }
  return { ...types, keySize: info.keySize, valueSize: info.valueSize };
}

export function globalOf(o: OwnedObject, name: string): GlobalInfo {
  const g = o.globals.find((x) => x.name === name);
  if (!g) throw new HelperError('not-found', `object ${o.name} has no global "${name}" (globals: ${o.globals.map((x) => x.name).join(', ') || 'none'})`);
  return g;
}

export function mapHandlers(objects: ObjectTable): Handlers<'mapLookup' | 'mapUpdate' | 'mapDelete' | 'mapEntries' | 'getGlobal' | 'setGlobal'> {
  return {
    mapLookup: async (params) => {
      const o = objects.get(params.objectId);
      const t = mapCoding(o, params.map);
      const value = await serial(o, () => o.bpf.mapLookup(params.map, encodeValue(t.key, params.key, 'key', t.keySize)));
      return { result: value ? { found: true, value: decodeValue(t.value, value) } : { found: false } };
    },

    mapUpdate: async (params) => {
      const o = objects.get(params.objectId);
      const t = mapCoding(o, params.map);
      const flags = { any: 0, noexist: 1, exist: 2 }[params.flags ?? 'any'];
      const key = encodeValue(t.key, params.key, 'key', t.keySize);
      const value = encodeValue(t.value, params.value, 'value', t.valueSize);
      const write = (): void => o.bpf.mapUpdate(params.map, key, value, flags);
      await serial(o, () => (o.update ? o.update(params.map, write) : write()));
      return { result: {} };
    },

    mapDelete: async (params) => {
      const o = objects.get(params.objectId);
      const t = mapCoding(o, params.map);
      const found = await serial(o, () => o.bpf.mapDelete(params.map, encodeValue(t.key, params.key, 'key', t.keySize)));
      return { result: { found } };
    },

    mapEntries: async (params) => {
      const o = objects.get(params.objectId);
      const t = mapCoding(o, params.map);
      const limit = params.limit ?? 1000;
      const after = params.after === undefined ? null : encodeValue(t.key, params.after, 'after', t.keySize);
      const page = await serial(o, () => o.bpf.mapEntries(params.map, after, limit));
      const vs = page.count ? page.values.length / page.count : 0;
      const entries = [];
      for (let i = 0; i < page.count; i++) {
        entries.push({
          key: decodeValue(t.key, page.keys.subarray(i * t.keySize, (i + 1) * t.keySize)),
          value: decodeValue(t.value, page.values.subarray(i * vs, (i + 1) * vs)),
        });
      }
      return { result: { entries, more: page.more } };
    },

    getGlobal: async (params) => {
      const o = objects.get(params.objectId);
      const g = globalOf(o, params.name);
      const bytes = await serial(o, () => o.bpf.getGlobal(params.name));
      return { result: { value: decodeValue(g.type, bytes) } };
    },

    setGlobal: async (params) => {
      const o = objects.get(params.objectId);
      const g = globalOf(o, params.name);
      if (g.section.startsWith('.rodata')) {
        throw new HelperError('invalid-params', `${params.name} is const volatile (.rodata) and frozen after load`, {
          remedy: 'pass it in loadObject\'s "globals" instead, or make it a plain global (.bss/.data) to change it live',
        });
      }
      const bytes = encodeValue(g.type, params.value, params.name);
      await serial(o, () => o.bpf.setGlobal(params.name, bytes));
      return { result: {} };
    },
  };
}
