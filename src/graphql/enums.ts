import { registerEnumType } from '@nestjs/graphql';

/** A GraphQL enum made from the domain's own list of values, so the list lives in one place. */
export function gqlEnum<T extends string>(name: string, values: readonly T[]): { [K in T]: K } {
  const e = Object.fromEntries(values.map((v) => [v, v])) as { [K in T]: K };
  registerEnumType(e, { name });
  return e;
}
