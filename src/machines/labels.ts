import type { Role } from '../access/principal';
import { BadInputError } from '../messaging/domain-errors';
import { Filter, PROTOTYPE_NAMES } from '../read-store/read-store.port';

/**
 * Labels on machines and instances: string keys to string values. Every rule about them is here:
 * what a key and a value may be, how big a map may grow, which labels a repair tenant may set,
 * and how a client's label selector becomes a read-store filter.
 */

const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,63}$/;

/** The most labels one machine or instance carries. */
export const MAX_LABELS = 64;
/** The most bytes (UTF-8) of keys and values one label map holds. */
export const MAX_LABEL_BYTES = 16 * 1024;
/** The longest value of a machine label, and of an instance label (repair details run longer). */
export const MACHINE_LABEL_VALUE_MAX = 256;
export const INSTANCE_LABEL_VALUE_MAX = 1024;

/** The labels a repair system reports a repair's outcome with (the release-instance repair workflow). */
export const REPAIR_LABELS = ['repair_status', 'repair_details', 'repair_eta'] as const;

function keyProblem(key: string): string | null {
  if (!LABEL_KEY.test(key)) return 'a label key is 1-63 letters, digits, _ . / -';
  if (PROTOTYPE_NAMES.has(key)) return 'a label key may not be __proto__, constructor or prototype';
  return null;
}

/** The rule for labels on machines and instances: keys of 1-63 safe characters, string values of bounded length, a bounded map. */
export function checkLabels(labels: Record<string, unknown>, maxValueLength: number): void {
  checkLabelMapSize(labels);
  for (const [k, v] of Object.entries(labels)) {
    const problem = keyProblem(k);
    if (problem) throw new BadInputError(`labels.${k}`, problem);
    if (typeof v !== 'string' || v.length > maxValueLength) {
      throw new BadInputError(`labels.${k}`, `a label value is a string of at most ${maxValueLength} characters`);
    }
  }
}

/** A label map holds at most MAX_LABELS labels and MAX_LABEL_BYTES bytes of keys and values. */
export function checkLabelMapSize(labels: Record<string, unknown>): void {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw new BadInputError('labels', `a label map holds at most ${MAX_LABELS} labels; this one would hold ${entries.length}`);
  let bytes = 0;
  for (const [k, v] of entries) bytes += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
  if (bytes > MAX_LABEL_BYTES) {
    throw new BadInputError('labels', `a label map holds at most ${MAX_LABEL_BYTES} bytes of keys and values (UTF-8); this one would hold ${bytes}`);
  }
}

/**
 * Which labels a caller may set on an instance: a repair tenant only the repair labels (it reports
 * a repair's outcome, nothing else); operators and admins any. Naming another label is bad input
 * (the role may call the mutation; this input is not one it may send).
 */
export function checkLabelsSettableBy(role: Role, labels: Record<string, unknown>): void {
  if (role !== 'REPAIR_TENANT') return;
  const allowed: readonly string[] = REPAIR_LABELS;
  for (const k of Object.keys(labels)) {
    if (!allowed.includes(k)) throw new BadInputError(`labels.${k}`, `a repair tenant sets only the repair labels ${REPAIR_LABELS.join(', ')}`);
  }
}

/**
 * A client's label selector ("machines carrying all these labels") as a read-store filter, for
 * either read store. Its keys become document paths and its values equality operands, so both
 * must be plain: a key is a label key that is not an operator (`$...`), not a prototype name, and
 * has no dot (a dot is read as a path, which no stored key could match); a value is a string. No
 * operator a client sends ($regex, $where, $expr, ...) ever reaches a query.
 */
export function labelSelector(selector: unknown, field: string): Filter {
  if (selector === null || selector === undefined) return {};
  if (typeof selector !== 'object' || Array.isArray(selector)) throw new BadInputError(field, 'is an object of label keys to string values');
  const entries = Object.entries(selector);
  if (entries.length > MAX_LABELS) throw new BadInputError(field, `names at most ${MAX_LABELS} labels`);
  const filter: Filter = {};
  for (const [k, v] of entries) {
    const at = `${field}.${k}`;
    if (k.startsWith('$')) throw new BadInputError(at, 'is not a label key: query operators are not accepted');
    const problem = keyProblem(k);
    if (problem) throw new BadInputError(at, problem);
    if (k.includes('.')) throw new BadInputError(at, 'a label key with a dot cannot be selected on (it would be read as a path)');
    if (typeof v !== 'string' || v.length > MACHINE_LABEL_VALUE_MAX) {
      throw new BadInputError(at, `a label value to select on is a string of at most ${MACHINE_LABEL_VALUE_MAX} characters (no operators, objects or lists)`);
    }
    filter[`labels.${k}`] = v;
  }
  return filter;
}
