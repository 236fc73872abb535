import { BadInputError } from '../messaging/domain-errors';
import { Filter, PROTOTYPE_NAMES } from '../read-store/read-store.port';

/**
 * Labels on machines and instances: string keys to string values. Every rule about them is here:
 * what a key and a value may be, and how a client's label selector becomes a read-store filter.
 */

const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,63}$/;

/** The longest value of a machine label, and of an instance label (repair details run longer). */
export const MACHINE_LABEL_VALUE_MAX = 256;
export const INSTANCE_LABEL_VALUE_MAX = 1024;

function keyProblem(key: string): string | null {
  if (!LABEL_KEY.test(key)) return 'a label key is 1-63 letters, digits, _ . / -';
  if (PROTOTYPE_NAMES.has(key)) return 'a label key may not be __proto__, constructor or prototype';
  return null;
}

/** The rule for labels on machines and instances: keys of 1-63 safe characters, string values of bounded length. */
export function checkLabels(labels: Record<string, unknown>, maxValueLength: number): void {
  for (const [k, v] of Object.entries(labels)) {
    const problem = keyProblem(k);
    if (problem) throw new BadInputError(`labels.${k}`, problem);
    if (typeof v !== 'string' || v.length > maxValueLength) {
      throw new BadInputError(`labels.${k}`, `a label value is a string of at most ${maxValueLength} characters`);
    }
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
  const filter: Filter = {};
  for (const [k, v] of Object.entries(selector)) {
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
