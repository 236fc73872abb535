import {
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLField,
  GraphQLNamedType,
  GraphQLSchema,
  Kind,
  OperationDefinitionNode,
  SchemaMetaFieldDef,
  SelectionSetNode,
  TypeMetaFieldDef,
  ValueNode,
  getNamedType,
  isInterfaceType,
  isObjectType,
  type DirectiveNode,
} from 'graphql';

/** The page size a paged field costs when the request does not say (`first` defaults to 50 in every resolver). */
export const DEFAULT_PAGE_SIZE = 50;

export type CostResult = { ok: true; cost: number } | { ok: false; variable: string; message: string };

/** A variable the cost reads (a page size, a @skip/@include condition) whose value it cannot use. */
class Uncomputable extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * What an operation costs, before it runs:
 * - a field that takes `first` (a page) costs its page size times what one item costs (at least 1);
 * - any other field costs 1 plus what its selections cost;
 * - a fragment costs the same wherever it is spread, so each is costed once and every spread of
 *   it adds that figure. A fragment spread twice in a row of fragments doubles at every step, as
 *   the work it asks for would if fields did not merge, so a fan-out of spreads is priced (and
 *   refused) in time linear in the document, never by expanding it.
 * Fields skipped by @skip/@include cost nothing. A page size or condition taken from a variable
 * uses the variable's value (or its default); a value that is not an integer (a page) or a boolean
 * (a condition) makes the cost uncomputable, and the caller refuses the operation.
 * Runs on a validated document: every field exists on its parent type.
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Readonly<Record<string, unknown>>): CostResult {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const defaults = new Map<string, ValueNode>();
  for (const v of operation.variableDefinitions ?? []) if (v.defaultValue) defaults.set(v.variable.name.value, v.defaultValue);
  const fragmentCosts = new Map<string, number>();
  const costing = new Set<string>();

  /** The value of an argument's AST: a literal, or a variable's value (its default when the request leaves it out). */
  const valueOf = (node: ValueNode): { variable: string | null; value: unknown } => {
    if (node.kind !== Kind.VARIABLE) return { variable: null, value: literal(node) };
    const name = node.name.value;
    if (Object.prototype.hasOwnProperty.call(variables, name) && variables[name] !== undefined) return { variable: name, value: variables[name] };
    const fallback = defaults.get(name);
    return { variable: name, value: fallback ? literal(fallback) : undefined };
  };

  const included = (directives: readonly DirectiveNode[] | undefined): boolean => {
    for (const d of directives ?? []) {
      if (d.name.value !== 'skip' && d.name.value !== 'include') continue;
      const arg = d.arguments?.find((a) => a.name.value === 'if');
      if (!arg) continue;
      const { variable, value } = valueOf(arg.value);
      if (typeof value !== 'boolean') throw new Uncomputable(variable ?? 'if', `@${d.name.value}(if:) needs a Boolean${variable ? `: variable "$${variable}"` : ''}`);
      if ((d.name.value === 'skip') === value) return false;
    }
    return true;
  };

  const pageSize = (field: GraphQLField<unknown, unknown>, node: FieldNode): number => {
    const arg = node.arguments?.find((a) => a.name.value === 'first');
    if (!arg) return defaultPage(field);
    const { variable, value } = valueOf(arg.value);
    if (value === null || value === undefined) return defaultPage(field);
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new Uncomputable(variable ?? 'first', `the page size of ${node.name.value} must be an Int${variable ? `: variable "$${variable}" got ${describe(value)}` : ''}`);
    }
    return Math.max(value, 0);
  };

  const selectionsCost = (set: SelectionSetNode, parent: GraphQLNamedType): number => {
    let sum = 0;
    for (const s of set.selections) {
      if (!included(s.directives)) continue;
      if (s.kind === Kind.FIELD) sum += fieldCost(s, parent);
      else if (s.kind === Kind.INLINE_FRAGMENT) sum += selectionsCost(s.selectionSet, s.typeCondition ? typeNamed(schema, s.typeCondition.name.value) : parent);
      else sum += fragmentCost(s.name.value);
    }
    return sum;
  };

  const fieldCost = (node: FieldNode, parent: GraphQLNamedType): number => {
    if (node.name.value === '__typename') return 1;
    const field = fieldOf(schema, parent, node.name.value);
    const children = node.selectionSet ? selectionsCost(node.selectionSet, getNamedType(field.type)) : 0;
    if (field.args.some((a) => a.name === 'first')) return pageSize(field, node) * Math.max(children, 1);
    return 1 + children;
  };

  const fragmentCost = (name: string): number => {
    const known = fragmentCosts.get(name);
    if (known !== undefined) return known;
    const fragment = fragments.get(name);
    // A cycle or an unknown fragment: validation refuses both; a cost is never guessed for them.
    if (!fragment || costing.has(name)) return Infinity;
    costing.add(name);
    const cost = selectionsCost(fragment.selectionSet, typeNamed(schema, fragment.typeCondition.name.value));
    costing.delete(name);
    fragmentCosts.set(name, cost);
    return cost;
  };

  try {
    const root = schema.getRootType(operation.operation);
    if (!root) return { ok: true, cost: Infinity };
    return { ok: true, cost: selectionsCost(operation.selectionSet, root) };
  } catch (err) {
    if (err instanceof Uncomputable) return { ok: false, variable: err.variable, message: err.message };
    throw err;
  }
}

function defaultPage(field: GraphQLField<unknown, unknown>): number {
  const declared = field.args.find((a) => a.name === 'first')?.defaultValue;
  return typeof declared === 'number' ? declared : DEFAULT_PAGE_SIZE;
}

function literal(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.INT:
      return Number(node.value);
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    default:
      return node.kind; // neither a page size nor a condition: refused by the caller
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
}

function typeNamed(schema: GraphQLSchema, name: string): GraphQLNamedType {
  const type = schema.getType(name);
  if (!type) throw new Error(`cost of a validated document: no type ${name}`);
  return type;
}

function fieldOf(schema: GraphQLSchema, parent: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> {
  if (name === SchemaMetaFieldDef.name && parent === schema.getQueryType()) return SchemaMetaFieldDef;
  if (name === TypeMetaFieldDef.name && parent === schema.getQueryType()) return TypeMetaFieldDef;
  const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
  if (!field) throw new Error(`cost of a validated document: no field ${parent.name}.${name}`);
  return field;
}
