import { Inject, Injectable } from '@nestjs/common';
import {
  DocumentNode,
  getOperationAST,
  GraphQLError,
  GraphQLSchema,
  getEnterLeaveForKind,
  getVariableValues,
  Kind,
  Lexer,
  OperationDefinitionNode,
  parse,
  SingleFieldSubscriptionsRule,
  Source,
  specifiedRules,
  TokenKind,
  validate,
  type ValidationRule,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../../config/config';
import { operationCost } from './cost';
import { documentRules } from './document-rules';
import { limitError } from './limit-error';

/** How deep a variable's value may nest: deeper than any input type of the schema, shallow enough for every recursive step after it. */
export const MAX_VARIABLE_DEPTH = 32;
/** How deep brackets may nest in a document's text: far past `max_depth`, far short of what would exhaust the parser's stack. */
export const MAX_NESTING = 128;

/** What `prepare` says of an operation: run it, or every reason it may not run. */
export type Prepared = { ok: true; operation: OperationDefinitionNode } | { ok: false; errors: readonly GraphQLError[] };

/** Is introspection served? Never in production, on any transport. */
export const introspectionAllowed = () => process.env.NODE_ENV !== 'production';

const OPENING = new Set<string>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING = new Set<string>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

/**
 * The limits every GraphQL operation passes, whatever its transport. The HTTP door screens the
 * text in a middleware, lets Apollo parse it (with `parseOptions`) and calls `prepare` from a
 * plugin before anything executes; the WebSocket door calls `parse` and `prepare` itself.
 *
 * - the text: at most `max_tokens` tokens and MAX_NESTING levels of brackets, checked by the
 *   lexer before the recursive parser runs;
 * - the document: first the limits on its shape (root fields, fields per selection, depth,
 *   aliases, directives; each fragment visited once), then GraphQL's validation; no
 *   introspection in production;
 * - the operation, once its variables are known: it exists, variables nested at most
 *   MAX_VARIABLE_DEPTH deep and of the types declared, and a cost (cost.ts) at most `max_cost`.
 *   A cost that cannot be computed refuses the operation.
 * Parses and validations are kept per text and per document, as Apollo keeps its parses.
 */
@Injectable()
export class OperationLimits {
  readonly parseOptions;
  private readonly graphql: AppConfig['graphql'];
  /** The document limits: cheap, each fragment counted once; they run first, so GraphQL's own rules only see documents within them. */
  private readonly shapeRules: readonly ValidationRule[];
  /** GraphQL's own rules. */
  private readonly rules: readonly ValidationRule[];
  private readonly production = !introspectionAllowed();
  private readonly screened = new LRUCache<string, { refusal: GraphQLError | null }>({ max: 1000 });
  private readonly parsed = new LRUCache<string, DocumentNode | GraphQLError>({ max: 1000 });
  private readonly validated = new WeakMap<DocumentNode, readonly GraphQLError[]>();
  /** The verdicts on an operation: they depend only on its document, its name and the variables the cost reads (numbers, booleans, nulls). */
  private readonly verdicts = new WeakMap<DocumentNode, Map<string, readonly GraphQLError[] | null>>();

  constructor(
    @Inject(AppConfig) config: AppConfig,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('graphql-limits');
    this.graphql = config.graphql;
    this.parseOptions = { maxTokens: config.graphql.max_tokens };
    this.shapeRules = documentRules(config.graphql, !this.production);
    this.rules = specifiedRules.map((rule) => (rule === SingleFieldSubscriptionsRule ? singleFieldSubscriptions : rule));
  }

  /** The text's limits, read by the lexer alone: null when the parser may take it (a syntax error is left for the parser to place). */
  screen(source: string): GraphQLError | null {
    const known = this.screened.get(source);
    if (known) return known.refusal;
    const refusal = this.lex(source);
    this.screened.set(source, { refusal });
    return refusal;
  }

  private lex(source: string): GraphQLError | null {
    const lexer = new Lexer(new Source(source));
    const max = this.graphql.max_tokens;
    let tokens = 0;
    let nesting = 0;
    try {
      for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
        if (++tokens > max) return limitError('tokens', max, `the document has more than ${max} tokens`);
        if (OPENING.has(token.kind) && ++nesting > MAX_NESTING) return limitError('nesting', MAX_NESTING, `the document nests brackets more than ${MAX_NESTING} deep`);
        if (CLOSING.has(token.kind)) nesting--;
      }
    } catch {
      return null;
    }
    return null;
  }

  /** Screens and parses a document; a refusal is GRAPHQL_PARSE_FAILED. */
  parse(source: string): DocumentNode | GraphQLError {
    const known = this.parsed.get(source);
    if (known) return known;
    let result: DocumentNode | GraphQLError;
    try {
      result = this.screen(source) ?? parse(source, this.parseOptions);
    } catch (err) {
      result = new GraphQLError(err instanceof GraphQLError ? err.message : 'the document could not be parsed', { extensions: { code: 'GRAPHQL_PARSE_FAILED', http: { status: 400 } } });
    }
    this.parsed.set(source, result);
    return result;
  }

  /**
   * Everything between a parsed document and its execution: validation, the operation the
   * request names, and the operation's limits given its variables. The operation to run, or
   * every reason it may not.
   */
  prepare(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Readonly<Record<string, unknown>> | null | undefined): Prepared {
    const invalid = this.validate(schema, document);
    if (invalid.length) return { ok: false, errors: invalid };
    const operation = getOperationAST(document, operationName);
    if (!operation) {
      const message = operationName ? `the document has no operation named "${operationName}"` : 'the document has several operations: name the one to run in operationName';
      return { ok: false, errors: [new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE', field: 'operationName', http: { status: 400 } } })] };
    }
    const refusals = this.check(schema, document, operation, variables ?? {});
    return refusals ? { ok: false, errors: refusals } : { ok: true, operation };
  }

  /** GraphQL's validation with the document limits, kept per document; each error is GRAPHQL_VALIDATION_FAILED. */
  private validate(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] {
    const known = this.validated.get(document);
    if (known) return known;
    let errors: readonly GraphQLError[];
    try {
      const over = validate(schema, document, this.shapeRules);
      errors = (over.length ? over : validate(schema, document, this.rules)).map((e) => this.validationError(e));
    } catch (err) {
      // A rule that throws instead of reporting: the document is refused, and the bug is logged.
      this.logger.warn({ err }, 'a validation rule threw; the document is refused');
      errors = [new GraphQLError('the document could not be validated', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } })];
    }
    this.validated.set(document, errors);
    return errors;
  }

  private validationError(e: GraphQLError): GraphQLError {
    return new GraphQLError(e.message, { nodes: e.nodes, source: e.source, positions: e.positions, extensions: { ...e.extensions, code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } });
  }

  /** The checks on an operation of a valid document, given its variables: null when it may run, else the refusals. */
  private check(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Readonly<Record<string, unknown>>): readonly GraphQLError[] | null {
    const tooDeep = deepestPath(variables, MAX_VARIABLE_DEPTH);
    if (tooDeep) return [badInput(`variable "$${tooDeep}" nests deeper than ${MAX_VARIABLE_DEPTH} levels`, tooDeep)];
    // The variables as execution will coerce them: a value of the wrong type is refused here,
    // naming the variable, the same on both doors; the cost reads the coerced values.
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 10 });
    if (coerced.errors) return coerced.errors.map((e) => badInput(e.message, fieldOf(e)));
    const values = coerced.coerced;
    const key = `${operation.name?.value ?? ''}\u0000${JSON.stringify(costVariables(values))}`;
    const known = this.verdicts.get(document);
    const hit = known?.get(key);
    if (hit !== undefined) return hit;
    const result = operationCost(schema, document, operation, values);
    if (!result.ok) return [badInput(`the cost of this operation cannot be computed: ${result.message}`, result.variable)];
    const max = this.graphql.max_cost;
    const verdict = result.cost <= max ? null : [limitError('cost', max, `query cost ${Number.isFinite(result.cost) ? Math.round(result.cost) : 'beyond measure'} exceeds the limit ${max}`, result.cost)];
    const verdicts = known ?? new Map<string, readonly GraphQLError[] | null>();
    if (!known) this.verdicts.set(document, verdicts);
    if (verdicts.size >= 64) verdicts.clear();
    verdicts.set(key, verdict);
    return verdict;
  }
}

function badInput(message: string, field: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', field, http: { status: 400 } } });
}

/** The field a coercion error is about: the path it names (`at "input.ids[0]"`), else its variable. */
function fieldOf(e: GraphQLError): string {
  const at = /at "([^"]+)"/.exec(e.message);
  if (at) return at[1];
  const node = e.nodes?.[0];
  return node?.kind === Kind.VARIABLE_DEFINITION ? node.variable.name.value : 'variables';
}

/**
 * GraphQL's rule that a subscription has one root field, which in graphql-js 16 evaluates
 * @skip/@include with no variables and throws when their condition is a variable. A root field
 * of a subscription cannot be conditional (the spec's later editions say so); that is reported
 * as a validation error instead.
 */
const singleFieldSubscriptions: ValidationRule = (context) => {
  const { enter } = getEnterLeaveForKind(SingleFieldSubscriptionsRule(context), Kind.OPERATION_DEFINITION);
  return {
    OperationDefinition: {
      enter(node, key, parent, path, ancestors) {
        try {
          enter?.call(undefined, node, key, parent, path, ancestors);
        } catch (err) {
          if (!(err instanceof GraphQLError)) throw err;
          context.reportError(new GraphQLError('a subscription’s root field cannot be conditional: @skip and @include may not decide it', { nodes: node }));
        }
      },
    },
  };
};

/** The variables a cost can depend on: numbers (page sizes), booleans (@skip/@include) and nulls. */
function costVariables(variables: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (value === null || typeof value === 'number' || typeof value === 'boolean') kept[name] = value;
  }
  return kept;
}

/** The path of the first value nested deeper than `max` (walked without recursion), or null. */
export function deepestPath(variables: Readonly<Record<string, unknown>>, max: number): string | null {
  const stack: Array<{ value: unknown; depth: number; path: string }> = Object.entries(variables).map(([name, value]) => ({ value, depth: 1, path: name }));
  while (stack.length) {
    const { value, depth, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth > max) return path.length > 200 ? `${path.slice(0, 200)}…` : path;
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (const [k, v] of entries) if (v !== null && typeof v === 'object') stack.push({ value: v, depth: depth + 1, path: `${path}.${k}` });
  }
  return null;
}
