import { CustomScalar, Scalar } from '@nestjs/graphql';
import { GraphQLError, Kind, ValueNode } from 'graphql';

/** A global log position, as a string (positions can outgrow a GraphQL Int). */
@Scalar('Position', () => PositionScalar)
export class PositionScalar implements CustomScalar<string, number> {
  description = 'A global position in the event log, as a decimal string';

  parseValue(value: unknown): number {
    return parsePosition(value);
  }

  serialize(value: unknown): string {
    return String(value);
  }

  parseLiteral(ast: ValueNode): number {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT) return parsePosition(ast.value);
    throw new GraphQLError('a Position is a decimal string');
  }
}

function parsePosition(value: unknown): number {
  if (typeof value === 'string' && /^\d{1,16}$/.test(value)) return Number(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new GraphQLError('a Position is a decimal string');
}
