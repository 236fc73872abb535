import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { BREAK, GraphQLError, Kind, NoSchemaIntrospectionCustomRule, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';
import { limitError, type LimitName } from './limit-error';

export interface DocumentLimits {
  max_depth: number;
  max_aliases: number;
  max_directives: number;
  max_root_fields: number;
  max_fields_per_selection: number;
}

/**
 * The limits on a document's shape, as validation rules that run before GraphQL's own (whose
 * cost grows with the square of a selection's width): depth, aliases and directives, each counted with every fragment visited
 * once (graphql-armor's rules keep each fragment's figure; a spread is no level of depth), so no fan-out of spreads or cycle can
 * make them expand the document. Without introspection (production), introspection is refused.
 */
export function documentRules(limits: DocumentLimits, introspection: boolean): ValidationRule[] {
  const rules: ValidationRule[] = [
    widthRule(limits.max_root_fields, limits.max_fields_per_selection),
    armored('depth', limits.max_depth, (onReject) => maxDepthRule({ n: limits.max_depth, ignoreIntrospection: true, flattenFragments: true, exposeLimits: true, propagateOnRejection: false, onReject: [onReject] })),
    armored('aliases', limits.max_aliases, (onReject) => maxAliasesRule({ n: limits.max_aliases, exposeLimits: true, propagateOnRejection: false, onReject: [onReject] })),
    armored('directives', limits.max_directives, (onReject) => maxDirectivesRule({ n: limits.max_directives, exposeLimits: true, propagateOnRejection: false, onReject: [onReject] })),
  ];
  if (!introspection) rules.push(NoSchemaIntrospectionCustomRule);
  return rules;
}

type Reject = (context: ValidationContext | null, error: GraphQLError) => void;

/** One of armor's rules, its refusal reported as Drydock's limit error (armor words them as syntax errors). */
function armored(limit: LimitName, max: number, make: (onReject: Reject) => ValidationRule): ValidationRule {
  return (context) =>
    make((_ctx, error) => {
      const found = /found (\d+)/.exec(error.message);
      const message = error.message.replace(/^Syntax Error: /, '');
      context.reportError(limitError(limit, max, message, found ? Number(found[1]) : undefined));
    })(context);
}

/**
 * The fields a selection asks for, counted through its inline fragments and fragment spreads
 * (each fragment counted once and remembered; a cycle counts nothing here, validation refuses it):
 * a root selection's are the operation's root fields, however they are spread. One refusal a
 * document is enough.
 */
function widthRule(maxRoot: number, maxWidth: number): ValidationRule {
  return (context) => {
    const known = new Map<string, number>();
    const counting = new Set<string>();
    const width = (set: SelectionSetNode): number => {
      let n = 0;
      for (const s of set.selections) {
        if (s.kind === Kind.FIELD) n += 1;
        else if (s.kind === Kind.INLINE_FRAGMENT) n += width(s.selectionSet);
        else n += fragmentWidth(s.name.value);
      }
      return n;
    };
    const fragmentWidth = (name: string): number => {
      const memo = known.get(name);
      if (memo !== undefined) return memo;
      const fragment = context.getFragment(name);
      if (!fragment || counting.has(name)) return 0;
      counting.add(name);
      const n = width(fragment.selectionSet);
      counting.delete(name);
      known.set(name, n);
      return n;
    };
    return {
      OperationDefinition(node) {
        const roots = width(node.selectionSet);
        if (roots <= maxRoot) return undefined;
        context.reportError(limitError('rootFields', maxRoot, `too many root fields: ${Number.isFinite(roots) ? roots : 'beyond measure'} (limit ${maxRoot})`, roots, node));
        return BREAK;
      },
      SelectionSet(node) {
        const n = width(node);
        if (n <= maxWidth) return undefined;
        context.reportError(limitError('fieldsPerSelection', maxWidth, `a selection asks for ${Number.isFinite(n) ? n : 'beyond measure'} fields, counted through its fragments (limit ${maxWidth})`, n, node));
        return BREAK;
      },
    };
  };
}
