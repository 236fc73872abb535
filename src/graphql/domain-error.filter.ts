import { Catch } from '@nestjs/common';
import { GqlExceptionFilter } from '@nestjs/graphql';
import { DomainError } from '../messaging/domain-errors';

/** Domain errors are answers, not faults: hand them to formatError without an error-level log. */
@Catch(DomainError)
export class DomainErrorFilter implements GqlExceptionFilter {
  catch(exception: DomainError): DomainError {
    return exception;
  }
}
