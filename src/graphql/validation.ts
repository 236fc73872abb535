import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { BadInputError } from '../messaging/domain-errors';
import { PROTOTYPE_NAMES } from '../read-store/read-store.port';

function flatten(errors: ValidationError[], prefix = ''): Array<{ field: string; message: string }> {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** The path of the first key of a JSON value that is a prototype name, or null. Only plain objects and arrays are walked. */
function prototypeKeyIn(value: unknown, path: string): string | null {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = prototypeKeyIn(value[i], `${path}.${i}`);
      if (found) return found;
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== null && proto !== Object.prototype) return null;
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    if (PROTOTYPE_NAMES.has(k)) return at;
    const found = prototypeKeyIn(v, at);
    if (found) return found;
  }
  return null;
}

/**
 * class-validator on every input DTO; a failure is BAD_USER_INPUT naming the field. Before that,
 * any argument whose JSON carries a key named `__proto__`, `constructor` or `prototype` (a label
 * map, a filter) is refused, naming the key: class-transformer would drop the first two without a
 * word (or fail on an own `constructor`), and nothing downstream should meet them. Fields of an
 * `input` argument are named as class-validator names them, without `input.`; other arguments by
 * their own name (`filter.labels.constructor`).
 */
class InputValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // A resolver's arguments reach pipes as 'body', as an HTTP body would (the export controller reads its query string itself).
    if (metadata.type === 'body') {
      const at = prototypeKeyIn(value, metadata.data && metadata.data !== 'input' ? metadata.data : '');
      if (at) throw new BadInputError(at, 'a key may not be __proto__, constructor or prototype');
    }
    return super.transform(value, metadata);
  }
}

export function inputValidationPipe(): ValidationPipe {
  return new InputValidationPipe({
    transform: true,
    exceptionFactory: (errors) => {
      const all = flatten(errors);
      const first = all[0] ?? { field: 'input', message: 'is invalid' };
      const err = new BadInputError(first.field, first.message);
      Object.assign(err.details, { problems: all });
      return err;
    },
  });
}
