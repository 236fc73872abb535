import { ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { BadInputError } from '../messaging/domain-errors';

function flatten(errors: ValidationError[], prefix = ''): Array<{ field: string; message: string }> {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** class-validator on every input DTO; a failure is BAD_USER_INPUT naming the field. */
export function inputValidationPipe(): ValidationPipe {
  return new ValidationPipe({
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
