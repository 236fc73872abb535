import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext, type ValidationRule } from 'graphql';
import { limitError, type LimitName } from './limit-error';

export interface DocumentLimits {
  max_depth: number;
  max_aliases: number;
  max_directives: number;
}

/**
 * The limits on a document's shape, as validation rules that run with GraphQL's own: depth, aliases and directives, each counted with every fragment visited
 * once (graphql-armor's rules keep each fragment's figure; a spread is no level of depth), so no fan-out of spreads or cycle can
 * make them expand the document. Without introspection (production), introspection is refused.
 */
export function documentRules(limits: DocumentLimits, introspection: boolean): ValidationRule[] {
  const rules: ValidationRule[] = [
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
