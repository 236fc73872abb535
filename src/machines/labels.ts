import { BadInputError } from '../messaging/domain-errors';

const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,63}$/;

/** The rule for labels on machines and instances: keys of 1-63 safe characters, string values of bounded length. */
export function checkLabels(labels: Record<string, unknown>, maxValueLength: number): void {
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_KEY.test(k)) throw new BadInputError(`labels.${k}`, 'a label key is 1-63 letters, digits, _ . / -');
    if (typeof v !== 'string' || v.length > maxValueLength) {
      throw new BadInputError(`labels.${k}`, `a label value is a string of at most ${maxValueLength} characters`);
    }
  }
}
